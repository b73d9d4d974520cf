"""A participant of node A calls a protected route of node B: accepted when the token is right,
refused with 401 and the reason for each fault."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from joserfc import jws

from dases.identity.client import SignedCallAuth, signed_client
from dases.identity.keys import Signer, generate_key, key_id
from dases.identity.tokens import TOKEN_TYPE, sign_call_token

from .conftest import RunningNode


@pytest.fixture
def two_nodes(start_node: Callable[..., RunningNode]) -> tuple[RunningNode, RunningNode]:
    node_a, node_b = start_node(), start_node()
    node_a.add_participant("edtech-a")
    node_b.add_participant("school-b")
    return node_a, node_b


def call_whoami(node_b: RunningNode, token: str) -> httpx.Response:
    with node_b.client() as client:
        return client.get("/identity/whoami", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["reason"] == reason, problem
    assert problem["status"] == 401 and problem["detail"]


def test_participant_of_node_a_is_accepted_by_node_b(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    signer = node_a.signer("edtech-a")
    with signed_client(signer, node_b.did("school-b"), base_url=node_b.url) as client:
        response = client.get("/identity/whoami")
    assert response.status_code == 200, response.text
    assert response.json() == {"did": node_a.did("edtech-a"), "kid": signer.kid, "audience": node_b.did("school-b")}
    assert node_a.url.split("//")[1].replace(":", "%3A") in signer.did  # did:web names node A's host and port


def test_signed_client_signs_every_request_afresh(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    with signed_client(node_a.signer("edtech-a"), node_b.did("school-b"), base_url=node_b.url) as client:
        assert [client.get("/identity/whoami").status_code for _ in range(3)] == [200, 200, 200]


def test_token_signed_by_another_key_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    genuine = node_a.signer("edtech-a")
    impostor = Signer(did=genuine.did, kid=genuine.kid, key=generate_key())
    assert_refused(call_whoami(node_b, sign_call_token(impostor, node_b.did("school-b"))), "bad_signature")


def test_token_naming_a_key_absent_from_the_did_document_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    key = generate_key()
    stranger = Signer(did=node_a.did("edtech-a"), kid=f"{node_a.did('edtech-a')}#{key_id(key)}", key=key)
    assert_refused(call_whoami(node_b, sign_call_token(stranger, node_b.did("school-b"))), "bad_signature")


def test_expired_token_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    token = sign_call_token(node_a.signer("edtech-a"), node_b.did("school-b"), lifetime=60, now=time.time() - 600)
    assert_refused(call_whoami(node_b, token), "token_expired")


def test_token_issued_in_the_future_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    token = sign_call_token(node_a.signer("edtech-a"), node_b.did("school-b"), lifetime=60, now=time.time() + 600)
    assert_refused(call_whoami(node_b, token), "iat_in_future")


def test_token_for_another_audience_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    token = sign_call_token(node_a.signer("edtech-a"), node_a.did("edtech-a"))  # addressed to A, sent to B
    assert_refused(call_whoami(node_b, token), "wrong_audience")


def test_replayed_token_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    token = sign_call_token(node_a.signer("edtech-a"), node_b.did("school-b"))
    assert call_whoami(node_b, token).status_code == 200
    assert_refused(call_whoami(node_b, token), "token_replayed")


def test_unresolvable_did_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    genuine = node_a.signer("edtech-a")
    ghost_did = genuine.did.replace("edtech-a", "nobody-here")  # right host, no such participant: 404
    ghost = Signer(did=ghost_did, kid=f"{ghost_did}#{key_id(genuine.key)}", key=genuine.key)
    assert_refused(call_whoami(node_b, sign_call_token(ghost, node_b.did("school-b"))), "unresolvable_did")


def test_did_of_an_unreachable_host_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    _node_a, node_b = two_nodes
    key = generate_key()
    did = "did:web:127.0.0.1%3A9:participants:x"  # port 9 (discard): nothing listens
    ghost = Signer(did=did, kid=f"{did}#{key_id(key)}", key=key)
    assert_refused(call_whoami(node_b, sign_call_token(ghost, node_b.did("school-b"))), "unresolvable_did")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "a.b.c",
        "e30.e30.",
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
    ],
)
def test_malformed_token_is_refused(two_nodes: tuple[RunningNode, RunningNode], token: str) -> None:
    _node_a, node_b = two_nodes
    assert_refused(call_whoami(node_b, token), "malformed_token")


def _sign_raw(signer: Signer, header: dict[str, object], claims: dict[str, object]) -> str:
    return jws.serialize_compact(header, json.dumps(claims).encode(), signer.key, algorithms=["Ed25519"])


@pytest.mark.parametrize("missing", ["iss", "aud", "iat", "exp", "jti"])
def test_token_missing_a_claim_is_malformed(two_nodes: tuple[RunningNode, RunningNode], missing: str) -> None:
    node_a, node_b = two_nodes
    signer = node_a.signer("edtech-a")
    now = int(time.time())
    claims = {"iss": signer.did, "aud": node_b.did("school-b"), "iat": now, "exp": now + 60, "jti": "j-" + missing}
    del claims[missing]
    token = _sign_raw(signer, {"alg": "Ed25519", "typ": TOKEN_TYPE, "kid": signer.kid}, claims)
    response = call_whoami(node_b, token)
    assert_refused(response, "malformed_token")
    assert missing in response.json()["detail"]


def test_credential_jws_is_not_accepted_as_a_call_token(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    signer = node_a.signer("edtech-a")
    now = int(time.time())
    claims = {"iss": signer.did, "aud": node_b.did("school-b"), "iat": now, "exp": now + 60, "jti": "vc"}
    token = _sign_raw(signer, {"alg": "Ed25519", "typ": "vc+jwt", "kid": signer.kid}, claims)
    assert_refused(call_whoami(node_b, token), "malformed_token")


def test_token_living_longer_than_five_minutes_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    node_a, node_b = two_nodes
    token = sign_call_token(node_a.signer("edtech-a"), node_b.did("school-b"), lifetime=3600)
    assert_refused(call_whoami(node_b, token), "lifetime_too_long")


def test_missing_token_is_refused(two_nodes: tuple[RunningNode, RunningNode]) -> None:
    _node_a, node_b = two_nodes
    with node_b.client() as client:
        response = client.get("/identity/whoami")
    assert_refused(response, "missing_credentials")


def test_after_key_rotation_new_key_is_accepted_and_old_key_no_longer_authenticates(
    start_node: Callable[..., RunningNode],
) -> None:
    node_a, node_b = start_node(), start_node(did_refresh_seconds=0)
    node_a.add_participant("edtech-a")
    node_b.add_participant("school-b")
    old_signer = node_a.signer("edtech-a")
    audience = node_b.did("school-b")
    assert call_whoami(node_b, sign_call_token(old_signer, audience)).status_code == 200  # B caches A's document
    with node_a.client(headers={"Authorization": "Bearer test-admin-token-0123456789"}) as admin:
        assert admin.post("/participants/edtech-a/keys/rotate").status_code == 200
    new_signer = node_a.signer("edtech-a")
    assert new_signer.kid != old_signer.kid
    with httpx.Client(base_url=node_b.url, auth=SignedCallAuth(new_signer, audience)) as client:
        assert client.get("/identity/whoami").status_code == 200  # B refetches on the unknown key id
    assert_refused(call_whoami(node_b, sign_call_token(old_signer, audience)), "bad_signature")
