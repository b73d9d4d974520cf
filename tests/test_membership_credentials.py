"""Onboarding across nodes: a member applies with a signed call, the operator's governance
authority issues a membership credential, another node verifies it, and after revocation the
other node refuses it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dases.identity.client import signed_client
from dases.identity.vcjose import verify_credential

from .conftest import ADMIN_TOKEN, RunningNode

APPLICATION = {"legal_name": "EdTech A SAS", "registration_number": "123 456 789", "country": "FR", "roles": ["data_provider", "service_provider"]}


class Space:
    def __init__(self, start_node: Callable[..., RunningNode]) -> None:
        self.operator = start_node(governance_authority="operator")
        self.operator.add_participant("operator", "Data space operator")
        self.node_a = start_node()
        self.node_a.add_participant("edtech-a")
        self.node_b = start_node()
        self.node_b.add_participant("school-b")

    def as_member(self, audience_node: RunningNode, audience_slug: str) -> httpx.Client:
        return signed_client(self.node_a.signer("edtech-a"), audience_node.did(audience_slug), base_url=audience_node.url)

    def admin(self) -> httpx.Client:
        return self.operator.client(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def apply(self) -> dict[str, object]:
        with self.as_member(self.operator, "operator") as client:
            response = client.post("/registry/applications", json=APPLICATION)
        assert response.status_code == 201, response.text
        return response.json()

    def approve(self, member_id: str) -> str:
        with self.admin() as admin:
            response = admin.post(f"/registry/members/{member_id}/approve")
        assert response.status_code == 200, response.text
        return response.json()["credential"]

    def verify_at_b(self, credential: str) -> dict[str, object]:
        with self.as_member(self.node_b, "school-b") as client:
            response = client.post("/credentials/verify", json={"credential": credential})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def space(start_node: Callable[..., RunningNode]) -> Space:
    return Space(start_node)


def test_credential_issued_by_operator_is_verified_by_another_node_then_refused_once_revoked(space: Space) -> None:
    member = space.apply()
    assert member["status"] == "pending" and member["did"] == space.node_a.did("edtech-a")
    credential = space.approve(member["id"])

    with space.as_member(space.operator, "operator") as client:
        fetched = client.get(f"/registry/members/{member['id']}/credential")
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("application/vc+jwt")
    assert fetched.text == credential

    result = space.verify_at_b(credential)
    assert result["verified"] is True, result
    assert result["issuer"] == space.operator.did("operator")
    assert result["subject"] == space.node_a.did("edtech-a")
    assert "DataSpaceMembershipCredential" in result["types"]

    with space.admin() as admin:
        revoked = admin.post(f"/registry/members/{member['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"

    result = space.verify_at_b(credential)
    assert result["verified"] is False
    assert result["reason"] == "revoked"
    assert "status list" in result["detail"]


def test_membership_credential_carries_the_member_details_and_a_status_entry(space: Space) -> None:
    credential = space.approve(space.apply()["id"])
    header, payload, _ = credential.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["typ"] == "vc+jwt"
    subject = decoded["credentialSubject"]
    assert subject["legalName"] == "EdTech A SAS" and subject["country"] == "FR"
    assert subject["roles"] == ["data_provider", "service_provider"]
    status = decoded["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    assert status["statusListCredential"].startswith(space.operator.url + "/registry/status/")


def test_tampered_credential_is_refused(space: Space) -> None:
    credential = space.approve(space.apply()["id"])
    header, payload, signature = credential.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["roles"].append("governance_authority")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    result = space.verify_at_b(f"{header}.{forged}.{signature}")
    assert result["verified"] is False and result["reason"] == "bad_signature"


def test_credential_still_verifies_after_the_authority_rotates_its_key(space: Space) -> None:
    credential = space.approve(space.apply()["id"])
    with space.admin() as admin:
        assert admin.post("/participants/operator/keys/rotate").status_code == 200
    space.node_b.node.resolver.forget(space.operator.did("operator"))
    result = space.verify_at_b(credential)
    assert result["verified"] is True, result


def test_expired_and_not_yet_valid_credentials_are_refused(space: Space) -> None:
    credential = space.approve(space.apply()["id"])
    node = space.node_b.node
    later = datetime.now(UTC) + timedelta(days=400)
    earlier = datetime.now(UTC) - timedelta(days=1)
    assert verify_credential(credential, resolver=node.resolver, status_lists=None, now=later).fault == "expired"
    assert verify_credential(credential, resolver=node.resolver, status_lists=None, now=earlier).fault == "not_yet_valid"


def test_garbage_is_reported_not_crashed_on(space: Space) -> None:
    for junk in ["x", "a.b.c", "eyJhbGciOiJFZDI1NTE5IiwidHlwIjoidmMrand0In0.e30.AAAA"]:
        result = space.verify_at_b(junk)
        assert result["verified"] is False
        assert result["reason"] in {"malformed_credential", "invalid_data_model"}


def test_application_must_be_addressed_to_the_governance_authority(space: Space) -> None:
    space.operator.add_participant("catalog")
    with space.as_member(space.operator, "catalog") as client:
        response = client.post("/registry/applications", json=APPLICATION)
    assert response.status_code == 403
    assert space.operator.did("operator") in response.json()["detail"]


def test_second_application_while_pending_is_a_conflict(space: Space) -> None:
    space.apply()
    with space.as_member(space.operator, "operator") as client:
        response = client.post("/registry/applications", json=APPLICATION)
    assert response.status_code == 409


def test_application_without_signed_call_is_refused(space: Space) -> None:
    with space.operator.client() as client:
        response = client.post("/registry/applications", json=APPLICATION)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [("country", "France"), ("roles", []), ("roles", ["pirate"]), ("legal_name", "   "), ("registration_number", "<script>")],
)
def test_bad_application_names_the_field(space: Space, field: str, value: object) -> None:
    with space.as_member(space.operator, "operator") as client:
        response = client.post("/registry/applications", json={**APPLICATION, field: value})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(error["field"].endswith(field) or field in error["field"] for error in response.json()["errors"])


def test_only_the_member_gets_its_credential(space: Space) -> None:
    member = space.apply()
    space.approve(member["id"])
    with signed_client(space.node_b.signer("school-b"), space.operator.did("operator"), base_url=space.operator.url) as other:
        response = other.get(f"/registry/members/{member['id']}/credential")
    assert response.status_code == 403


def test_decisions_need_the_admin_token_and_follow_the_lifecycle(space: Space) -> None:
    member = space.apply()
    with space.operator.client(headers={"Authorization": "Bearer wrong"}) as intruder:
        assert intruder.post(f"/registry/members/{member['id']}/approve").status_code == 401
    space.approve(member["id"])
    with space.admin() as admin:
        again = admin.post(f"/registry/members/{member['id']}/approve")
        assert again.status_code == 409 and "active" in again.json()["detail"]
        assert admin.post(f"/registry/members/{member['id']}/reject").status_code == 409
        directory = admin.get("/registry/members", params={"status": "active"}).json()
    assert [m["did"] for m in directory] == [space.node_a.did("edtech-a")]


def test_status_list_is_a_signed_bitstring_status_list(space: Space) -> None:
    space.approve(space.apply()["id"])
    with space.operator.client() as client:
        response = client.get("/registry/status/1")
        missing = client.get("/registry/status/99")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vc+jwt")
    check = verify_credential(response.text, resolver=space.node_b.node.resolver, status_lists=None)
    assert check.verified, check.detail
    assert check.credential is not None
    assert check.credential["credentialSubject"]["type"] == "BitstringStatusList"
    assert missing.status_code == 404
