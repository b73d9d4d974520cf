"""Shared set-up of the governance tests: an operator node's storage with four admitted members,
and helpers that propose, vote and read results with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dases.db import Database
from dases.governance import service as governance
from dases.governance.models import Choice, Majority, RuleProposalIn
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.registry import service as registry
from dases.registry.models import Role
from dases.settings import Settings

SEALER = KeySealer(b"governance-test-secret-0123456789")
OPENS = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=7)
DURING = OPENS + timedelta(days=1)
AFTER = CLOSES + timedelta(minutes=1)
BEFORE = OPENS - timedelta(days=1)


@dataclass
class Space:
    db: Database
    settings: Settings
    authority: governance.Authority
    members: list[str]  # member ids, in admission order

    def did(self, index: int) -> str:
        return f"did:web:member-{index}.example"


def admit(db: Database, settings: Settings, index: int) -> str:
    with db.transaction() as session:
        application = registry.Application(f"Member {index}", f"REG-{index}", "FR", [Role.DATA_PROVIDER])
        applied = registry.apply(session, settings, f"did:web:member-{index}.example", registry.authority_did(session, settings), application)
        return registry.approve(session, settings, SEALER, applied.id).member.id


@pytest.fixture
def space(database_url: str, tmp_path: Path) -> Iterator[Space]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, governance_authority="operator", node_secret="governance-test-secret-0123456789")
    db = Database(database_url)
    db.migrate()
    with db.transaction() as session:
        identity.create_participant(session, SEALER, settings.base_url, "operator", "Data space operator")
    members = [admit(db, settings, index) for index in range(4)]
    yield Space(db, settings, governance.Authority("operator", SEALER), members)
    db.dispose()


def rule_draft(**fields: Any) -> RuleProposalIn:
    values: dict[str, Any] = {
        "kind": "rule", "title": "Data retention", "text": "Keep learning traces no longer than needed.",
        "rule_key": "data-retention", "rule_text": "Learning traces are kept at most 3 years.",
        "opens_at": OPENS, "closes_at": CLOSES, "quorum": Decimal("0.5"), "majority": Majority.SIMPLE,
    }
    values.update(fields)
    return RuleProposalIn.model_validate(values)


def propose(space: Space, **fields: Any) -> str:
    with space.db.transaction() as session:
        return governance.create_proposal(session, rule_draft(**fields), BEFORE).id


def vote(space: Space, proposal_id: str, member: int, choice: str, now: datetime = DURING) -> None:
    with space.db.transaction() as session:
        governance.vote_by_did(session, space.authority, proposal_id, space.did(member), Choice(choice), now)


def result(space: Space, proposal_id: str, now: datetime = AFTER) -> governance.Result:
    with space.db.transaction() as session:
        return governance.result(session, space.authority, proposal_id, now)
