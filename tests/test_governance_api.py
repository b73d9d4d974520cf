"""Governance over HTTP on loopback nodes: members vote with signed calls addressed to the
governance authority, strangers and members outside the assembly get 403, votes outside the
window get 409 naming it, the result is published once the window has closed (adopted rule in
force, adopted infrastructure service in the catalog search), and bad input gets a problem
naming the field, never a 500."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from dases.identity.client import signed_client

from .conftest import RunningNode
from .spaces import ADMIN, DataSpace

WINDOW_SECONDS = 6


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def rule_body(**fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "kind": "rule", "title": "Data retention", "text": "Traces are kept no longer than needed.",
        "rule_key": "data-retention", "rule_text": "Learning traces are kept at most three years.",
        "opens_at": stamp(now - timedelta(minutes=1)), "closes_at": stamp(now + timedelta(hours=1)), "quorum": 0.5,
    }
    body.update(fields)
    return body


def member_ids(space: DataSpace) -> dict[str, str]:
    with space.operator.client() as client:
        members = client.get("/registry/members", params={"status": "active"}).json()
    return {member["legal_name"]: member["id"] for member in members}


def admin(space: DataSpace) -> httpx.Client:
    return space.operator.client(headers=ADMIN)


def cast(space: DataSpace, node: RunningNode, slug: str, proposal_id: str, choice: str) -> httpx.Response:
    with space.call(node, slug) as client:
        return client.post(f"/governance/proposals/{proposal_id}/votes", json={"choice": choice})


def test_members_vote_and_the_published_result_takes_effect(start_node: Callable[..., RunningNode]) -> None:
    space = DataSpace(start_node)
    closes = datetime.now(UTC) + timedelta(seconds=WINDOW_SECONDS)
    service = {
        "kind": "data_service", "title": "Skills matching API", "description": "Matches skills profiles to training offers.",
        "contains_pii": False, "policy": {"permission": [{"action": "use"}]}, "endpoint_url": "https://operator.example/match",
    }
    with admin(space) as client:
        rule = client.post("/governance/proposals", json=rule_body(closes_at=stamp(closes)))
        infra_body = {k: v for k, v in rule_body(closes_at=stamp(closes)).items() if not k.startswith("rule_")}
        infra_body |= {"kind": "infrastructure_service", "majority": "qualified", "service": service}
        infra = client.post("/governance/proposals", json=infra_body)
    assert rule.status_code == 201, rule.text
    assert infra.status_code == 201, infra.text
    rule_id, infra_id = rule.json()["id"], infra.json()["id"]
    assert sorted(rule.json()["electorate"]) == sorted(member_ids(space).values())

    assert cast(space, space.school, "school", rule_id, "yes").status_code == 200
    assert cast(space, space.edtech, "edtech", rule_id, "no").status_code == 200
    changed = cast(space, space.edtech, "edtech", rule_id, "yes")
    assert (changed.status_code, changed.json()["choice"], changed.json()["changes"], changed.json()["channel"]) == (200, "yes", 1, "signed_call")
    assert cast(space, space.school, "school", infra_id, "yes").status_code == 200
    assert cast(space, space.edtech, "edtech", infra_id, "yes").status_code == 200

    space.school.add_participant("outsider", "Not a member")
    stranger = cast(space, space.school, "outsider", rule_id, "no")
    assert stranger.status_code == 403, stranger.text
    assert "not an active member" in stranger.json()["detail"]

    with space.operator.client() as public:
        early = public.get(f"/governance/proposals/{rule_id}/result")
    assert early.status_code == 409
    assert early.json()["errors"][0]["field"] == "voting_window"

    time.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds()) + 0.2)
    late = cast(space, space.school, "school", rule_id, "no")
    assert late.status_code == 409
    assert late.json()["reason"] == "voting_window_closed"

    with space.operator.client() as public:
        published = public.get(f"/governance/proposals/{rule_id}/result").json()
        adopted_service = public.get(f"/governance/proposals/{infra_id}/result").json()
        rules = public.get("/governance/rules").json()
        found = public.get("/catalog/search", params={"keyword": "infrastructure-service"}).json()
        listed = public.get("/governance/proposals", params={"status": "adopted"}).json()
    assert {k: published[k] for k in ("outcome", "eligible", "voted", "yes", "no", "abstain", "quorum_reached", "adopted")} == {
        "outcome": "adopted", "eligible": 2, "voted": 2, "yes": 2, "no": 0, "abstain": 0, "quorum_reached": True, "adopted": True,
    }
    assert [(r["key"], r["version"], r["proposal_id"]) for r in rules] == [("data-retention", 1, rule_id)]
    assert adopted_service["adopted"] and adopted_service["majority"] == "qualified"
    assert [(hit["id"], hit["title"], hit["kind"]) for hit in found["items"]] == [
        (adopted_service["effect"]["offering_id"], "Skills matching API", "data_service")
    ]
    assert sorted(p["id"] for p in listed) == sorted([rule_id, infra_id])


def test_votes_outside_the_window_or_the_assembly_are_refused(start_node: Callable[..., RunningNode]) -> None:
    space = DataSpace(start_node)
    ids = member_ids(space)
    later = datetime.now(UTC) + timedelta(hours=1)
    with admin(space) as client:
        group = client.post("/governance/assemblies", json={"key": "interop-wg", "title": "Interoperability", "members": [ids["Lycée Victor Hugo"]]})
        assert group.status_code == 201, group.text
        future = client.post("/governance/proposals", json=rule_body(opens_at=stamp(later), closes_at=stamp(later + timedelta(days=1)))).json()
        grouped = client.post("/governance/proposals", json=rule_body(assembly="interop-wg")).json()
    assert grouped["electorate"] == [ids["Lycée Victor Hugo"]]

    early = cast(space, space.school, "school", future["id"], "yes")
    assert early.status_code == 409
    assert (early.json()["reason"], early.json()["errors"][0]["field"]) == ("voting_window_not_open", "voting_window")

    outside = cast(space, space.edtech, "edtech", grouped["id"], "yes")
    assert outside.status_code == 403
    assert "electorate" in outside.json()["detail"]
    assert cast(space, space.school, "school", grouped["id"], "yes").status_code == 200

    with signed_client(space.school.signer("school"), space.edtech.did("edtech"), base_url=space.operator.url, timeout=10) as misaddressed:
        wrong = misaddressed.post(f"/governance/proposals/{grouped['id']}/votes", json={"choice": "yes"})
    assert wrong.status_code == 401  # addressed to a participant this node does not host

    with admin(space) as client:
        recorded = client.put(f"/governance/proposals/{grouped['id']}/votes/{ids['Lycée Victor Hugo']}", json={"choice": "abstain"})
        votes = client.get(f"/governance/proposals/{grouped['id']}/votes").json()
    assert (recorded.status_code, recorded.json()["channel"]) == (200, "operator")
    assert [(v["choice"], v["changes"]) for v in votes] == [("abstain", 1)]


def test_bad_input_gets_a_problem_naming_the_field(start_node: Callable[..., RunningNode]) -> None:
    node = start_node(governance_authority="operator")
    node.add_participant("operator", "Operator")
    now = datetime.now(UTC)
    unknown = "00000000-0000-0000-0000-000000000000"
    cases: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
        ("POST", "/governance/proposals", rule_body(closes_at=stamp(now - timedelta(days=1))), 422, "closes_at"),
        ("POST", "/governance/proposals", rule_body(quorum=1.5), 422, "quorum"),
        ("POST", "/governance/proposals", rule_body(quorum=0.3333), 422, "quorum"),
        ("POST", "/governance/proposals", rule_body(opens_at="2026-03-01T09:00:00"), 422, "opens_at"),
        ("POST", "/governance/proposals", rule_body(kind="referendum"), 422, "kind"),
        ("POST", "/governance/proposals", rule_body(majority="unanimous"), 422, "majority"),
        ("POST", "/governance/proposals", rule_body(rule_key="Bad Key"), 422, "rule_key"),
        ("POST", "/governance/proposals", rule_body(assembly="nowhere"), 404, ""),
        ("POST", "/governance/proposals", {k: v for k, v in rule_body().items() if k != "rule_text"}, 422, "rule_text"),
        ("POST", "/governance/proposals", rule_body(kind="funding", amount="12.345", currency="EUR", recipient=unknown), 422, "amount"),
        ("POST", "/governance/assemblies", {"key": "general", "title": "Again"}, 422, "key"),
        ("POST", "/governance/assemblies", {"key": "wg", "title": "WG", "members": [unknown]}, 422, "members.0"),
        ("GET", f"/governance/proposals/{unknown}", None, 404, ""),
        ("GET", "/governance/proposals/not-a-uuid", None, 422, "proposal_id"),
        ("PUT", f"/governance/proposals/{unknown}/votes/{unknown}", {"choice": "maybe"}, 422, "choice"),
        ("GET", "/governance/rules/Not%20a%20key", None, 422, "key"),
    ]
    with node.client(headers=ADMIN) as client:
        for method, path, body, status, field in cases:
            response = client.request(method, path, json=body)
            assert response.status_code == status, (path, body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            if field:
                named = [f"{error['field']} {error['message']}" for error in response.json()["errors"]]
                assert any(field in line for line in named), (field, named)
    with node.client() as anonymous:
        assert anonymous.post("/governance/proposals", json=rule_body()).status_code == 401
        assert anonymous.post(f"/governance/proposals/{unknown}/votes", json={"choice": "yes"}).status_code == 401
        assert [a["key"] for a in anonymous.get("/governance/assemblies").json()] == ["general"]
