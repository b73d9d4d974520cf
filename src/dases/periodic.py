"""Background rounds of a node: the same small loop for every building block that needs one
(terminating stale negotiations, crawling members' catalogs, expiring consents)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def start_periodic(
    name: str, interval: float, round_: Callable[[], None], *, first_delay: float | None = None, join_timeout: float = 10.0
) -> Callable[[], None]:
    """Run `round_` in a daemon thread every `interval` seconds (the first after `first_delay`,
    default `interval`) until the returned function is called. A round that raises is logged and
    the next one runs on schedule: one bad round must never end the loop."""
    stopping = threading.Event()

    def loop() -> None:
        delay = interval if first_delay is None else first_delay
        while not stopping.wait(delay):
            try:
                round_()
            except Exception:
                log.exception("%s: a round failed", name)
            delay = interval

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=join_timeout)

    return stop
