"""A learner's skills profile from real statements in a provider's LRS: completed and passed
activities aligned with ESCO skills count, with their statements, dates and best score; failed,
voided, merely attempted statements and other learners' statements do not; learners are named
by mbox or by account, as xAPI names them; a learner signed in at the node's consent service
reads their own profile, and no one else's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from dases.consent import accounts
from dases.web import sessions

from .conftest import RunningNode
from .skills_support import (
    ADA,
    BOB,
    COMPUTER_PROGRAMMING,
    DEBUG_SOFTWARE,
    HOME,
    MARKUP_LANGUAGES,
    STYLE_SHEET_LANGUAGES,
    VERB,
    WEB_PROGRAMMING,
    Provider,
    start_provider,
    statement,
)


def profile(provider: Provider, agent: dict[str, Any]) -> dict[str, Any]:
    with provider.as_itself() as client:
        response = client.get("/participants/edtech-a/skills/profile", params={"agent": json.dumps(agent)})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def provider(start_node: Callable[..., RunningNode]) -> Provider:
    provider = start_provider(start_node)
    assert provider.align([("prog-101", COMPUTER_PROGRAMMING), ("web-201", WEB_PROGRAMMING), ("html-1", MARKUP_LANGUAGES),
                           ("css-1", STYLE_SHEET_LANGUAGES)]).status_code == 200
    assert provider.align([("debug-lab", DEBUG_SOFTWARE)], source="mapped", confidence=0.7).status_code == 200
    return provider


def test_completed_passed_and_successful_statements_make_the_profile(provider: Provider) -> None:
    voided = statement(ADA, "completed", "css-1", timestamp="2026-03-05T09:00:00Z")
    provider.post_statements([
        statement(ADA, "completed", "prog-101", name="Programming 101", timestamp="2026-02-01T08:00:00Z"),
        statement(ADA, "passed", "web-201", name="Web programming", result={"score": {"scaled": 0.8}}, timestamp="2026-03-01T10:00:00Z"),
        statement(ADA, "passed", "web-201", result={"score": {"raw": 45, "min": 0, "max": 50}}, timestamp="2026-04-01T10:00:00Z"),
        statement(ADA, "failed", "html-1", result={"success": False}),
        statement(ADA, "completed", "html-1", result={"completion": True, "success": False}),
        statement(ADA, "attempted", "html-1"),
        statement(ADA, "experienced", "debug-lab", result={"completion": True}, timestamp="2026-05-01T12:00:00Z"),
        statement(ADA, "completed", "unaligned-course"),
        statement(BOB, "completed", "html-1"),
        voided,
    ])
    provider.post_statements([{
        "actor": ADA, "verb": {"id": VERB + "voided"}, "object": {"objectType": "StatementRef", "id": voided["id"]},
    }])
    found = profile(provider, {"mbox": "mailto:ada@example.org"})
    assert [s["skill_uri"] for s in found["skills"]] == [COMPUTER_PROGRAMMING, DEBUG_SOFTWARE, WEB_PROGRAMMING]
    assert [s["label"] for s in found["skills"]] == ["computer programming", "debug software", "web programming"]
    web = found["skills"][2]
    assert web["activity_ids"] == [HOME + "web-201"] and len(web["statement_ids"]) == 2
    assert web["first_achieved"].startswith("2026-03-01T10:00:00") and web["last_achieved"].startswith("2026-04-01T10:00:00")
    assert web["best_score"] == pytest.approx(0.9)
    assert web["source"] == "declared" and web["skill_type"] == "knowledge"
    debug = found["skills"][1]
    assert (debug["source"], debug["confidence"], debug["best_score"]) == ("mapped", 0.7, None)
    assert found["activity_names"] == {
        HOME + "prog-101": "Programming 101", HOME + "web-201": "Web programming", HOME + "debug-lab": HOME + "debug-lab",
    }


def test_a_learner_known_by_account_has_their_own_profile(provider: Provider) -> None:
    provider.post_statements([statement(BOB, "completed", "html-1"), statement(ADA, "completed", "prog-101")])
    bob = profile(provider, {"account": {"homePage": "https://lms.edtech-a.example", "name": "bob-42"}})
    assert [s["skill_uri"] for s in bob["skills"]] == [MARKUP_LANGUAGES]
    stranger = profile(provider, {"mbox": "mailto:nobody@example.org"})
    assert stranger["skills"] == []


def test_a_statement_counts_for_every_skill_of_its_activity(provider: Provider) -> None:
    assert provider.align([("prog-101", DEBUG_SOFTWARE)]).status_code == 200
    provider.post_statements([statement(ADA, "completed", "prog-101")])
    found = profile(provider, ADA)
    assert [s["skill_uri"] for s in found["skills"]] == [COMPUTER_PROGRAMMING, DEBUG_SOFTWARE]
    assert found["skills"][0]["statement_ids"] == found["skills"][1]["statement_ids"]
    # declared for prog-101 outweighs the mapped suggestion of debug-lab, which Ada did not do
    assert found["skills"][1]["source"] == "declared" and found["skills"][1]["confidence"] == 1.0


def test_a_learner_that_is_not_one_agent_is_refused_naming_the_parameter(provider: Provider) -> None:
    with provider.admin() as client:
        for agent in ["not json", json.dumps({"name": "no identifier"}), json.dumps({"objectType": "Group", "mbox": "mailto:team@example.org"})]:
            response = client.get("/participants/edtech-a/skills/profile", params={"agent": agent})
            assert response.status_code == 400, (agent, response.text)
            assert response.json()["errors"][0]["field"] == "agent"
        missing = client.get("/participants/edtech-a/skills/profile")
    assert missing.status_code == 422


def test_a_signed_in_learner_reads_their_own_profile_only(provider: Provider) -> None:
    provider.post_statements([statement(BOB, "completed", "html-1"), statement(ADA, "completed", "prog-101")])
    did = provider.node.did("edtech-a")
    with provider.node.node.db.transaction() as session:
        bob = accounts.register(session, login="bob42", password="correct horse battery", display_name="Bob", birth_date=date(2000, 1, 1))
        code = accounts.issue_link_code(session, provider_did=did, account="bob-42", role="learner", lifetime=timedelta(minutes=5))
        accounts.redeem_link_code(session, bob.id, code.code)
        token = sessions.open_session(session, bob.id).token
    own = json.dumps(BOB)
    with provider.node.client(cookies={sessions.SESSION_COOKIE: token}) as browser:
        mine = browser.get("/participants/edtech-a/skills/profile", params={"agent": own})
        theirs = browser.get("/participants/edtech-a/skills/profile", params={"agent": json.dumps(ADA)})
        badges = browser.get("/participants/edtech-a/skills/badges", params={"agent": own})
        alignments = browser.get("/participants/edtech-a/skills/alignments")
    assert mine.status_code == 200, mine.text
    assert [s["skill_uri"] for s in mine.json()["skills"]] == [MARKUP_LANGUAGES]
    assert theirs.status_code == 403 and theirs.json()["errors"][0]["field"] == "agent"
    assert badges.status_code == 200 and len(badges.json()["badges"]) == 1
    assert alignments.status_code == 401, "alignments are the provider's business, not the learner's"
    with provider.node.client(cookies={sessions.SESSION_COOKIE: "stale-token"}) as browser:
        assert browser.get("/participants/edtech-a/skills/profile", params={"agent": own}).status_code == 401
