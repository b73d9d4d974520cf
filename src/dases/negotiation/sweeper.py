"""The background thread that terminates negotiations whose peer stopped answering."""

from __future__ import annotations

from collections.abc import Callable

from dases.negotiation.service import Negotiator, expire_stale
from dases.periodic import start_periodic


def start_sweeper(negotiator: Negotiator, interval: float) -> Callable[[], None]:
    """Run `expire_stale` every `interval` seconds until the returned callable is called."""
    return start_periodic("negotiation-sweeper", interval, lambda: expire_stale(negotiator), join_timeout=5)
