"""Replay protection for call tokens: each (issuer, jti) is accepted once within its lifetime.

Two stores, chosen with `DASES_REPLAY_STORE`:

- `memory` (default): a per-process table, with no I/O on the request path. It stays exact
  across restarts because it refuses every token issued before the process started: a token
  accepted by an earlier process can never be accepted again. Use it when a node is one
  process, as `dases serve` runs it.
- `database`: the node's database, shared by every process of the node (several workers behind
  one URL), at the price of one write per call.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dases.db import Database
from dases.identity.models import UsedToken


class ReplayGuard(Protocol):
    def claim(self, issuer: str, jti: str, issued_at: float, expires_at: float) -> str | None:
        """Record (issuer, jti) until `expires_at`; None if accepted, else why it is refused."""
        ...


class MemoryReplayGuard:
    def __init__(self, *, max_entries: int = 1_000_000, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._started = math.floor(clock())
        self._max_entries = max_entries
        self._seen: dict[tuple[str, str], float] = {}
        self._expiries: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()

    def claim(self, issuer: str, jti: str, issued_at: float, expires_at: float) -> str | None:
        if issued_at < self._started:
            return "the token was issued before this node started, so it may already have been used; sign a new one"
        now = self._clock()
        key = (issuer, jti)
        with self._lock:
            while self._expiries and self._expiries[0][0] < now:
                _, old_issuer, old_jti = heapq.heappop(self._expiries)
                self._seen.pop((old_issuer, old_jti), None)
            if key in self._seen:
                return f"the token {jti} was already used"
            if len(self._seen) >= self._max_entries:
                return "this node accepts no more calls until earlier tokens expire (replay store full)"
            self._seen[key] = expires_at
            heapq.heappush(self._expiries, (expires_at, issuer, jti))
        return None

    def __len__(self) -> int:
        return len(self._seen)


class DatabaseReplayGuard:
    def __init__(self, db: Database, *, prune_every: float = 60.0) -> None:
        self._db = db
        self._prune_every = prune_every
        self._last_prune = 0.0
        insert = pg_insert if db.backend == "postgresql" else sqlite_insert
        self._insert = insert(UsedToken).on_conflict_do_nothing(index_elements=["issuer", "jti"]).returning(UsedToken.jti)

    def claim(self, issuer: str, jti: str, issued_at: float, expires_at: float) -> str | None:
        now = time.time()
        with self._db.engine.begin() as connection:
            if now - self._last_prune >= self._prune_every:
                self._last_prune = now
                connection.execute(delete(UsedToken).where(UsedToken.expires_at < now))
            inserted = connection.execute(self._insert, {"issuer": issuer, "jti": jti, "expires_at": expires_at}).first()
        return None if inserted is not None else f"the token {jti} was already used"


def replay_guard_for(store: str, db: Database) -> ReplayGuard:
    return DatabaseReplayGuard(db) if store == "database" else MemoryReplayGuard()
