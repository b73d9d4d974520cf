"""did:web identifiers map to the URL of their DID document, and a node serves each hosted
participant's document at exactly that URL, listing retired keys for assertions only."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from dases.identity.did import (
    InvalidDid,
    build_did_document,
    did_web_document_url,
    did_web_for,
    find_verification_key,
)
from dases.identity.keys import generate_key, key_id, public_jwk

from .conftest import ADMIN_TOKEN, RunningNode

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@pytest.mark.parametrize(
    ("base_url", "path", "did"),
    [
        ("http://127.0.0.1:8443", ("participants", "alice"), "did:web:127.0.0.1%3A8443:participants:alice"),
        ("https://node.example.org", ("participants", "alice"), "did:web:node.example.org:participants:alice"),
        ("https://node.example.org/dases/", ("participants", "bob"), "did:web:node.example.org:dases:participants:bob"),
        ("https://node.example.org", (), "did:web:node.example.org"),
        ("http://[::1]:8000", ("participants", "alice"), "did:web:[%3A%3A1]%3A8000:participants:alice"),
    ],
)
def test_did_web_for_encodes_host_port_and_path(base_url: str, path: tuple[str, ...], did: str) -> None:
    assert did_web_for(base_url, *path) == did


def test_did_web_for_refuses_a_url_without_host() -> None:
    with pytest.raises(InvalidDid, match="no host"):
        did_web_for("/participants/alice")


@pytest.mark.parametrize(
    ("did", "url"),
    [
        # Loopback hosts the node allows are fetched over plain HTTP...
        ("did:web:127.0.0.1%3A8443:participants:alice", "http://127.0.0.1:8443/participants/alice/did.json"),
        ("did:web:localhost%3A9000:participants:alice", "http://localhost:9000/participants/alice/did.json"),
        ("did:web:[%3A%3A1]%3A8000:participants:alice", "http://[::1]:8000/participants/alice/did.json"),
        # ...every other host over HTTPS, port kept.
        ("did:web:node.example.org%3A8443:participants:alice", "https://node.example.org:8443/participants/alice/did.json"),
        ("did:web:node.example.org:participants:alice", "https://node.example.org/participants/alice/did.json"),
        ("did:web:10.0.0.5%3A8000:participants:alice", "https://10.0.0.5:8000/participants/alice/did.json"),
        # No path: the well-known location.
        ("did:web:node.example.org", "https://node.example.org/.well-known/did.json"),
        ("did:web:127.0.0.1%3A8000", "http://127.0.0.1:8000/.well-known/did.json"),
    ],
)
def test_document_url_of_a_did(did: str, url: str) -> None:
    assert did_web_document_url(did, LOOPBACK) == url


def test_loopback_is_fetched_over_https_unless_allowed() -> None:
    did = "did:web:127.0.0.1%3A8443:participants:alice"
    assert did_web_document_url(did) == "https://127.0.0.1:8443/participants/alice/did.json"
    assert did_web_document_url(did, ["node.example.org"]).startswith("https://")


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8123", "https://node.example.org:8443", "https://node.example.org"])
def test_did_web_for_and_document_url_round_trip(base_url: str) -> None:
    did = did_web_for(base_url, "participants", "alice")
    assert did_web_document_url(did, LOOPBACK) == f"{base_url}/participants/alice/did.json"


@pytest.mark.parametrize(
    "did",
    [
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  # not did:web
        "web:node.example.org",
        "did:web:",  # empty
        "did:web:node.example.org#key-1",  # fragment
        "did:web:node.example.org:participants:alice#key-1",
        "did:web:node.example.org?versionId=1",  # query
        "did:web:node.example.org/participants/alice",  # '/' is not a did:web separator
        "did:web:node.example.org%2Fevil",  # '/' smuggled into the host
        "did:web:alice%40node.example.org",  # userinfo '@' in the host
        "did:web:alice@node.example.org",
        "did:web:exa mple.org",  # characters did:web does not allow
        "did:web:node.example.org:participants:al ice",
        "did:web:node.example.org:participants:",  # empty path segment
        "did:web:node.example.org::alice",
        "did:web:node.example.org:participants:<script>",
    ],
)
def test_invalid_dids_are_refused(did: str) -> None:
    with pytest.raises(InvalidDid):
        did_web_document_url(did, LOOPBACK)


@pytest.mark.parametrize(
    "did",
    [
        "did:web:%3A8000",  # empty host, port only
        "did:web:node.example.org%3Anotaport",  # a port that is not a number
        "did:web:node.example.org%3A99999",  # a port out of range
        "did:web:exa%20mple.org",  # a space in the host
        "did:web:node.example.org%3F",  # a '?' that turns the rest of the URL into a query
        "did:web:node.example.org%23",  # a '#' that turns the rest of the URL into a fragment
    ],
)
def test_percent_encoded_host_must_still_be_a_valid_host(did: str) -> None:
    """Percent-decoding the host must not let through what the plain form is refused for."""
    with pytest.raises(InvalidDid):
        did_web_document_url(did, LOOPBACK)


DID = "did:web:node.example.org:participants:alice"


@pytest.fixture
def rotated_document() -> tuple[dict[str, object], dict[str, str], dict[str, str], str, str]:
    """A DID document with one retired key and one active key."""
    old, new = generate_key(), generate_key()
    old_kid, new_kid = key_id(old), key_id(new)
    document = build_did_document(DID, [(old_kid, public_jwk(old)), (new_kid, public_jwk(new))], {new_kid})
    return document, public_jwk(old), public_jwk(new), old_kid, new_kid


def test_active_key_authenticates_and_asserts(rotated_document: tuple) -> None:
    document, _old_jwk, new_jwk, _old_kid, new_kid = rotated_document
    assert find_verification_key(document, DID, f"{DID}#{new_kid}", "authentication") == new_jwk
    assert find_verification_key(document, DID, f"{DID}#{new_kid}", "assertionMethod") == new_jwk


def test_retired_key_only_asserts(rotated_document: tuple) -> None:
    document, old_jwk, _new_jwk, old_kid, _new_kid = rotated_document
    assert find_verification_key(document, DID, f"{DID}#{old_kid}", "authentication") is None
    assert find_verification_key(document, DID, f"{DID}#{old_kid}", "assertionMethod") == old_jwk


def test_document_shape(rotated_document: tuple) -> None:
    document, old_jwk, new_jwk, old_kid, new_kid = rotated_document
    assert document["id"] == DID
    assert "https://www.w3.org/ns/did/v1" in document["@context"]
    assert document["verificationMethod"] == [
        {"id": f"{DID}#{old_kid}", "type": "JsonWebKey2020", "controller": DID, "publicKeyJwk": old_jwk},
        {"id": f"{DID}#{new_kid}", "type": "JsonWebKey2020", "controller": DID, "publicKeyJwk": new_jwk},
    ]
    assert document["authentication"] == [f"{DID}#{new_kid}"]
    assert document["assertionMethod"] == [f"{DID}#{old_kid}", f"{DID}#{new_kid}"]
    assert all("d" not in method["publicKeyJwk"] for method in document["verificationMethod"])


def test_unknown_key_is_not_found(rotated_document: tuple) -> None:
    document, *_ = rotated_document
    assert find_verification_key(document, DID, f"{DID}#not-a-key", "assertionMethod") is None


def test_document_of_another_did_is_refused(rotated_document: tuple) -> None:
    document, *_rest, new_kid = rotated_document
    other = "did:web:evil.example:participants:alice"
    assert find_verification_key(document, other, f"{other}#{new_kid}", "authentication") is None
    impostor = dict(document, id=other)
    assert find_verification_key(impostor, DID, f"{DID}#{new_kid}", "authentication") is None


def test_key_controlled_by_another_did_is_refused() -> None:
    key = generate_key()
    kid = key_id(key)
    document = build_did_document(DID, [(kid, public_jwk(key))], {kid})
    document["verificationMethod"][0]["controller"] = "did:web:evil.example"
    assert find_verification_key(document, DID, f"{DID}#{kid}", "authentication") is None


def test_node_serves_did_document_where_did_web_resolution_looks(start_node: Callable[..., RunningNode]) -> None:
    node = start_node()
    did = node.add_participant("acme", "Acme")
    url = did_web_document_url(did, node.node.settings.allow_http_did_hosts)
    assert url == f"{node.url}/participants/acme/did.json"

    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/did+json"
    document = response.json()
    assert document["id"] == did
    assert len(document["verificationMethod"]) == 1
    assert document["authentication"] == document["assertionMethod"] == [document["verificationMethod"][0]["id"]]


def test_rotated_key_stays_listed_for_assertions_only(start_node: Callable[..., RunningNode]) -> None:
    node = start_node()
    did = node.add_participant("acme", "Acme")
    with node.client() as client:
        before = client.get("/participants/acme").json()
        refused = client.post("/participants/acme/keys/rotate")
        assert refused.status_code == 401, refused.text
        rotated = client.post("/participants/acme/keys/rotate", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert rotated.status_code == 200, rotated.text
        document = client.get("/participants/acme/did.json").json()

    assert rotated.json()["key_count"] == 2
    assert rotated.json()["active_kid"] != before["active_kid"]
    assert len(document["verificationMethod"]) == 2
    assert document["authentication"] == [f"{did}#{rotated.json()['active_kid']}"]
    assert sorted(document["assertionMethod"]) == sorted([f"{did}#{before['active_kid']}", f"{did}#{rotated.json()['active_kid']}"])


def test_unknown_participant_has_no_did_document(start_node: Callable[..., RunningNode]) -> None:
    node = start_node()
    with node.client() as client:
        response = client.get("/participants/nobody/did.json")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
