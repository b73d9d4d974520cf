"""`dases governance ...` on the operator node's storage: working groups, proposals from a JSON
file, votes recorded by the operator, results and rules in force; bad input ends with exit status
2 and a message naming the problem, never a traceback."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dases.cli import app as dases_app
from dases.db import Database
from dases.governance import service as governance
from dases.governance.models import Choice, RuleProposalIn
from dases.identity.keys import KeySealer
from dases.registry import service as registry
from dases.registry.models import Role
from dases.settings import Settings

from .conftest import backend_name

SECRET = "governance-cli-secret-0123456789"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def node(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, str], Database, list[str]]]:
    """An operator node with the governance authority and three active members."""
    for name in list(os.environ):
        if name.startswith("DASES_") and name != "DASES_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    env = {"DASES_DATA_DIR": str(tmp_path / "node"), "DASES_NODE_SECRET": SECRET, "DASES_GOVERNANCE_AUTHORITY": "operator"}
    if backend_name() == "postgresql":
        env["DASES_DATABASE_URL"] = database_url
    created = CliRunner().invoke(dases_app, ["participant", "create", "operator", "--name", "Operator"], env=env)
    assert created.exit_code == 0, created.output
    settings = Settings(data_dir=tmp_path / "node", database_url=env.get("DASES_DATABASE_URL"), node_secret=SECRET, governance_authority="operator")
    db = Database(settings.resolved_database_url)
    members = []
    with db.transaction() as session:
        authority = registry.authority_did(session, settings)
        for index in range(3):
            application = registry.Application(f"Member {index}", f"REG-{index}", "FR", [Role.DATA_CONSUMER])
            applied = registry.apply(session, settings, f"did:web:m{index}.example", authority, application)
            members.append(registry.approve(session, settings, KeySealer(settings.resolved_node_secret()), applied.id).member.id)
    yield env, db, members
    db.dispose()


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(dases_app, ["governance", *args], env=env)


def proposal_file(tmp_path: Path, **fields: Any) -> str:
    now = datetime.now(UTC)
    body = {
        "kind": "rule", "title": "Open formats", "text": "Exchanges use open formats.", "rule_key": "open-formats",
        "rule_text": "Data is exchanged as xAPI or CSV.", "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(hours=1)).isoformat(), **fields,
    }
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps(body))
    return str(path)


def test_working_groups_proposals_and_votes(node: tuple[dict[str, str], Database, list[str]], tmp_path: Path) -> None:
    env, _db, members = node
    assert run(env, "assembly", "create", "wg", "--title", "Formats", "--member", members[0], "--member", members[1]).exit_code == 0
    listed = run(env, "assembly", "list", "--json")
    assert [(a["key"], len(a["members"])) for a in json.loads(listed.output)] == [("general", 3), ("wg", 2)]

    created = run(env, "proposal", "create", proposal_file(tmp_path, assembly="wg"))
    assert created.exit_code == 0, created.output
    proposal_id = UUID.search(created.output).group(0)  # type: ignore[union-attr]
    assert json.loads(run(env, "proposal", "show", proposal_id).output)["electorate"] == sorted(members[:2])

    voted = run(env, "vote", proposal_id, "--member", members[0], "--choice", "yes")
    assert voted.exit_code == 0, voted.output
    outsider = run(env, "vote", proposal_id, "--member", members[2], "--choice", "yes")
    assert outsider.exit_code == 2
    assert "electorate" in outsider.output
    still_open = run(env, "results", proposal_id)
    assert still_open.exit_code == 2
    assert "still open" in still_open.output


def test_bad_proposal_files_name_the_field(node: tuple[dict[str, str], Database, list[str]], tmp_path: Path) -> None:
    env, _db, _members = node
    refused = run(env, "proposal", "create", proposal_file(tmp_path, quorum=2))
    assert refused.exit_code == 2
    assert "quorum" in refused.output
    backwards = run(env, "proposal", "create", proposal_file(tmp_path, closes_at="2020-01-01T00:00:00Z"))
    assert backwards.exit_code == 2
    assert "closes_at" in backwards.output


def test_results_and_rules_after_the_close(node: tuple[dict[str, str], Database, list[str]]) -> None:
    env, db, members = node
    now = datetime.now(UTC)
    opens, closes = now - timedelta(days=2), now - timedelta(days=1)
    draft = RuleProposalIn.model_validate({
        "kind": "rule", "title": "Open formats", "text": "Motion.", "rule_key": "open-formats", "rule_text": "xAPI or CSV.",
        "opens_at": opens, "closes_at": closes,
    })
    authority = governance.Authority("operator", KeySealer(SECRET.encode()))
    with db.transaction() as session:
        proposal_id = governance.create_proposal(session, draft, opens - timedelta(hours=1)).id
        for member in members[:2]:
            governance.vote_for_member(session, authority, proposal_id, member, Choice.YES, opens + timedelta(hours=1))
    due = run(env, "results", "--due")
    assert due.exit_code == 0, due.output
    assert [(r["proposal_id"], r["outcome"], r["yes"], r["eligible"]) for r in json.loads(due.output)] == [(proposal_id, "adopted", 2, 3)]
    again = json.loads(run(env, "results", proposal_id).output)
    assert again["adopted"] and again["effect"] == {"rule_key": "open-formats", "version": 1}
    rules = json.loads(run(env, "rules", "--json").output)
    assert [(r["key"], r["version"], r["text"]) for r in rules] == [("open-formats", 1, "xAPI or CSV.")]
    assert run(env, "rules", "no-such-rule").exit_code == 2
