"""Open Badges 3.0 from a learner's skills profile: one OpenBadgeCredential per evidenced skill,
aligned with its ESCO concept, naming the learner by a salted hash only, signed VC-JOSE by the
provider and verified with its DID; a tampered badge fails, a skill without evidence gets none,
and nobody but the provider (or the admin) may have them issued."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from dases.identity.client import signed_client
from dases.identity.vcdm import validate_credential
from dases.identity.vcjose import verify_credential

from .conftest import RunningNode
from .skills_support import (
    ADA,
    BOB,
    COMPUTER_PROGRAMMING,
    HOME,
    MARKUP_LANGUAGES,
    WEB_PROGRAMMING,
    Provider,
    start_provider,
    statement,
)


def payload(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def fetch_badges(provider: Provider, agent: dict[str, Any], **params: str) -> Any:
    with provider.as_itself() as client:
        return client.get("/participants/edtech-a/skills/badges", params={"agent": json.dumps(agent), **params})


@pytest.fixture
def provider(start_node: Callable[..., RunningNode]) -> Provider:
    provider = start_provider(start_node)
    assert provider.align([("prog-101", COMPUTER_PROGRAMMING), ("web-201", WEB_PROGRAMMING), ("web-201", COMPUTER_PROGRAMMING),
                           ("html-1", MARKUP_LANGUAGES)]).status_code == 200
    provider.post_statements([
        statement(ADA, "completed", "prog-101", name="Programming 101", timestamp="2026-02-01T08:00:00Z"),
        statement(ADA, "passed", "web-201", name="Web programming", result={"score": {"scaled": 0.85}}, timestamp="2026-03-01T10:00:00Z"),
        statement(BOB, "completed", "html-1", name="HTML basics"),
    ])
    return provider


def test_one_signed_open_badge_per_skill_verifies_with_the_provider_did(provider: Provider) -> None:
    response = fetch_badges(provider, ADA)
    assert response.status_code == 200, response.text
    body = response.json()
    issuer = provider.node.did("edtech-a")
    assert body["issuer"] == issuer
    assert [b["skill_uri"] for b in body["badges"]] == [COMPUTER_PROGRAMMING, WEB_PROGRAMMING]
    for badge in body["badges"]:
        check = verify_credential(badge["credential"], resolver=provider.node.node.resolver, status_lists=None)
        assert check.verified, check.detail
        credential = check.credential
        assert credential is not None and validate_credential(credential) == []
        assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
        assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert credential["issuer"] == {"id": issuer, "type": ["Profile"], "name": "EdTech A"}
        assert credential["credentialSubject"]["type"] == ["AchievementSubject"]
        achievement = credential["credentialSubject"]["achievement"]
        assert achievement["type"] == ["Achievement"] and achievement["achievementType"] == "Competency"
        [alignment] = achievement["alignment"]
        assert alignment["type"] == ["Alignment"] and alignment["targetUrl"] == badge["skill_uri"]
        assert alignment["targetFramework"] == "ESCO" and alignment["targetType"] == "ext:ESCOSkill"
        assert alignment["targetCode"] == badge["skill_uri"].rsplit("/", 1)[1]
        assert alignment["targetName"] == achievement["name"] == credential["name"]

    programming = payload(body["badges"][0]["credential"])
    achievement = programming["credentialSubject"]["achievement"]
    assert achievement["name"] == "computer programming"
    assert achievement["description"].startswith("The techniques and principles of software development, such as analysis")
    assert achievement["criteria"]["narrative"] == (
        "Completed or passed, as recorded in the learning record store of the issuer: Programming 101, Web programming."
    )
    assert [e["name"] for e in programming["evidence"]] == ["Programming 101", "Web programming"]
    assert "best scaled score 0.85" in programming["evidence"][1]["narrative"]
    assert HOME + "web-201" in programming["evidence"][1]["narrative"]


def test_the_learner_is_named_by_a_salted_hash_only(provider: Provider) -> None:
    jwt = fetch_badges(provider, ADA).json()["badges"][0]["credential"]
    assert "ada@example.org" not in json.dumps(payload(jwt))
    [identity] = payload(jwt)["credentialSubject"]["identifier"]
    assert identity["type"] == "IdentityObject" and identity["hashed"] is True and identity["identityType"] == "emailAddress"
    assert identity["identityHash"] == "sha256$" + hashlib.sha256(("ada@example.org" + identity["salt"]).encode()).hexdigest()
    bob = payload(fetch_badges(provider, BOB).json()["badges"][0]["credential"])
    [bob_identity] = bob["credentialSubject"]["identifier"]
    assert bob_identity["identityType"] == "accountId"
    expected = hashlib.sha256(("https://lms.edtech-a.example bob-42" + bob_identity["salt"]).encode()).hexdigest()
    assert bob_identity["identityHash"] == "sha256$" + expected


def test_the_same_skill_from_the_same_issuer_is_the_same_achievement(provider: Provider) -> None:
    first = payload(fetch_badges(provider, ADA, skill=WEB_PROGRAMMING).json()["badges"][0]["credential"])
    again = payload(fetch_badges(provider, ADA, skill=WEB_PROGRAMMING).json()["badges"][0]["credential"])
    assert first["id"] != again["id"]
    assert first["credentialSubject"]["achievement"]["id"] == again["credentialSubject"]["achievement"]["id"]


def test_a_tampered_badge_does_not_verify(provider: Provider) -> None:
    jwt = fetch_badges(provider, ADA, skill=WEB_PROGRAMMING).json()["badges"][0]["credential"]
    header, _body, signature = jwt.split(".")
    claims = payload(jwt)
    claims["credentialSubject"]["achievement"]["name"] = "senior web architect"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    check = verify_credential(f"{header}.{forged}.{signature}", resolver=provider.node.node.resolver, status_lists=None)
    assert check.fault == "bad_signature"


def test_no_badge_without_evidence_and_none_for_strangers(provider: Provider) -> None:
    refused = fetch_badges(provider, ADA, skill=MARKUP_LANGUAGES)
    assert refused.status_code == 404 and refused.json()["errors"][0]["field"] == "skill"
    assert fetch_badges(provider, {"mbox": "mailto:nobody@example.org"}).json()["badges"] == []
    provider.node.add_participant("school-b", "School B")
    stranger = signed_client(provider.node.signer("school-b"), provider.node.did("edtech-a"), base_url=provider.node.url)
    with stranger:
        response = stranger.get("/participants/edtech-a/skills/badges", params={"agent": json.dumps(ADA)})
    assert response.status_code == 403
    with provider.node.client() as anonymous:
        assert anonymous.get("/participants/edtech-a/skills/badges", params={"agent": json.dumps(ADA)}).status_code == 401
