"""Each call token is accepted once: in memory (default, restart-safe by refusing tokens
issued before the process started) or in the database (shared by a node's processes)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from dases.db import Database
from dases.identity.replay import DatabaseReplayGuard, MemoryReplayGuard
from dases.identity.tokens import sign_call_token

from .conftest import RunningNode


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_memory_store_accepts_a_token_once() -> None:
    clock = Clock(1_000.0)
    guard = MemoryReplayGuard(clock=clock)
    assert guard.claim("did:web:a", "j1", 1_000, 1_100) is None
    assert "already used" in (guard.claim("did:web:a", "j1", 1_000, 1_100) or "")
    assert guard.claim("did:web:b", "j1", 1_000, 1_100) is None  # another issuer's jti is another token


def test_memory_store_forgets_tokens_once_expired() -> None:
    clock = Clock(1_000.0)
    guard = MemoryReplayGuard(clock=clock)
    for index in range(100):
        assert guard.claim("did:web:a", f"j{index}", 1_000, 1_010 + index) is None
    clock.now = 1_060.5
    guard.claim("did:web:a", "fresh", 1_060, 1_200)
    assert len(guard) == 100 - 51 + 1


def test_memory_store_refuses_tokens_issued_before_the_process_started() -> None:
    guard = MemoryReplayGuard(clock=Clock(5_000.7))
    refusal = guard.claim("did:web:a", "old", 4_990, 5_100)
    assert refusal is not None and "before this node started" in refusal
    assert guard.claim("did:web:a", "same-second", 5_000, 5_100) is None


def test_memory_store_fails_closed_when_full() -> None:
    guard = MemoryReplayGuard(max_entries=3, clock=Clock(10.0))
    for index in range(3):
        assert guard.claim("did:web:a", f"j{index}", 10, 100) is None
    assert "full" in (guard.claim("did:web:a", "j3", 10, 100) or "")


def test_database_store_survives_a_restart(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    expires = time.time() + 60
    assert DatabaseReplayGuard(db).claim("did:web:a", "j1", time.time(), expires) is None
    restarted = DatabaseReplayGuard(db)
    assert "already used" in (restarted.claim("did:web:a", "j1", time.time(), expires) or "")
    db.dispose()


def test_database_store_prunes_expired_tokens(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    guard = DatabaseReplayGuard(db, prune_every=0)
    assert guard.claim("did:web:a", "gone", 0, time.time() - 1) is None
    assert guard.claim("did:web:a", "other", time.time(), time.time() + 60) is None  # prunes "gone"
    assert guard.claim("did:web:a", "gone", 0, time.time() + 60) is None
    db.dispose()


@pytest.mark.parametrize("store", ["memory", "database"])
def test_node_refuses_a_replayed_token_with_either_store(start_node: Callable[..., RunningNode], store: str) -> None:
    node = start_node(replay_store=store)
    node.add_participant("caller")
    node.add_participant("callee")
    token = sign_call_token(node.signer("caller"), node.did("callee"))
    with node.client(headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/identity/whoami").status_code == 200
        second = client.get("/identity/whoami")
    assert second.status_code == 401 and second.json()["reason"] == "token_replayed"
