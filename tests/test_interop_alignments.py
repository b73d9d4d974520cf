"""Alignments of activities with ESCO skills: a provider declares them in batches, checked against
the real ESCO release (a skill ESCO lacks is refused with a 422 naming the entry, and nothing of
the batch is stored), lists them, confirms a mapped suggestion; only the provider itself or the
node admin may touch them."""

from __future__ import annotations

from collections.abc import Callable

from dases.identity.client import signed_client

from .conftest import RunningNode
from .skills_support import (
    COMPUTER_PROGRAMMING,
    HOME,
    WEB_PROGRAMMING,
    start_provider,
)

UNKNOWN_SKILL = "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000000"


def test_declared_alignments_are_listed_by_activity_and_filtered(start_node: Callable[..., RunningNode]) -> None:
    provider = start_provider(start_node)
    response = provider.align([("web-201", WEB_PROGRAMMING), ("prog-101", COMPUTER_PROGRAMMING), ("web-201", COMPUTER_PROGRAMMING)])
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 3
    with provider.as_itself() as client:
        listed = client.get("/participants/edtech-a/skills/alignments").json()
        only_web = client.get("/participants/edtech-a/skills/alignments", params={"activity": HOME + "web-201"}).json()
        by_skill = client.get("/participants/edtech-a/skills/alignments", params={"skill": COMPUTER_PROGRAMMING}).json()
    assert [(a["activity_id"], a["skill_uri"]) for a in listed["items"]] == [
        (HOME + "prog-101", COMPUTER_PROGRAMMING),
        (HOME + "web-201", COMPUTER_PROGRAMMING),
        (HOME + "web-201", WEB_PROGRAMMING),
    ]
    assert {a["source"] for a in listed["items"]} == {"declared"} and {a["confidence"] for a in listed["items"]} == {1.0}
    assert only_web["total"] == 2
    assert [a["activity_id"] for a in by_skill["items"]] == [HOME + "prog-101", HOME + "web-201"]


def test_a_skill_esco_lacks_refuses_the_whole_batch_naming_the_entry(start_node: Callable[..., RunningNode]) -> None:
    provider = start_provider(start_node)
    response = provider.align([("web-201", WEB_PROGRAMMING), ("web-201", UNKNOWN_SKILL)])
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [
        {"field": "alignments.1.skill_uri", "rule": "esco_skill", "message": f"{UNKNOWN_SKILL} is not a skill of ESCO"}
    ]
    with provider.admin() as client:
        assert client.get("/participants/edtech-a/skills/alignments").json()["total"] == 0


def test_malformed_and_repeated_entries_are_refused_with_their_field(start_node: Callable[..., RunningNode]) -> None:
    provider = start_provider(start_node)
    not_esco = provider.align([("web-201", "https://example.org/skills/python")])
    assert not_esco.status_code == 422
    assert any(e["field"].endswith("alignments.0.skill_uri") for e in not_esco.json()["errors"])
    twice = provider.align([("web-201", WEB_PROGRAMMING), ("web-201", WEB_PROGRAMMING)])
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"] == "alignments.1" and twice.json()["errors"][0]["rule"] == "unique_in_batch"
    bad_confidence = provider.align([("web-201", WEB_PROGRAMMING)], source="mapped", confidence=1.5)
    assert bad_confidence.status_code == 422
    assert any("confidence" in e["field"] for e in bad_confidence.json()["errors"])


def test_declaring_a_mapped_alignment_again_confirms_it(start_node: Callable[..., RunningNode]) -> None:
    provider = start_provider(start_node)
    assert provider.align([("web-201", WEB_PROGRAMMING)], source="mapped", confidence=0.62).status_code == 200
    with provider.admin() as client:
        first = client.get("/participants/edtech-a/skills/alignments").json()["items"]
    assert [(a["source"], a["confidence"]) for a in first] == [("mapped", 0.62)]
    assert provider.align([("web-201", WEB_PROGRAMMING)]).status_code == 200
    with provider.admin() as client:
        after = client.get("/participants/edtech-a/skills/alignments").json()
    assert after["total"] == 1 and [(a["source"], a["confidence"]) for a in after["items"]] == [("declared", 1.0)]


def test_only_the_participant_or_the_admin_may_touch_alignments(start_node: Callable[..., RunningNode]) -> None:
    provider = start_provider(start_node)
    provider.node.add_participant("school-b", "School B")
    with provider.node.client() as anonymous:
        missing = anonymous.get("/participants/edtech-a/skills/alignments")
        wrong_token = anonymous.get("/participants/edtech-a/skills/alignments", headers={"Authorization": "Bearer not-a-token"})
    assert missing.status_code == 401 and missing.headers["content-type"].startswith("application/problem+json")
    assert wrong_token.status_code == 401
    other = signed_client(provider.node.signer("school-b"), provider.node.did("edtech-a"), base_url=provider.node.url)
    with other:
        refused = other.post(
            "/participants/edtech-a/skills/alignments",
            json={"alignments": [{"activity_id": HOME + "web-201", "skill_uri": WEB_PROGRAMMING}]},
        )
    assert refused.status_code == 403
    with provider.admin() as client:
        assert client.get("/participants/edtech-a/skills/alignments").json()["total"] == 0
        assert client.get("/participants/nobody/skills/alignments").status_code == 404
