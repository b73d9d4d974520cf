"""The background thread that terminates negotiations whose peer stopped answering."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from dases.negotiation.service import Negotiator, expire_stale

log = logging.getLogger(__name__)


def start_sweeper(negotiator: Negotiator, interval: float) -> Callable[[], None]:
    """Run `expire_stale` every `interval` seconds until the returned callable is called."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                expire_stale(negotiator)
            except Exception:  # a failed sweep must not end the sweeping
                log.exception("sweeping stale negotiations failed")

    thread = threading.Thread(target=loop, name="negotiation-sweeper", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=5)

    return halt
