"""Agreements are signed over their RFC 8785 canonical form: the signature survives any
re-serialisation, breaks on any change of content, and binds the signer's DID."""

from __future__ import annotations

import json

import httpx
import pytest

from dases.identity.did import build_did_document
from dases.identity.keys import Signer, generate_key, key_id, public_jwk
from dases.identity.resolver import DidResolver
from dases.negotiation.agreements import canonical, sign_agreement, verify_agreement_signature

PROVIDER = "did:web:provider.example:participants:p"
CONSUMER = "did:web:consumer.example:participants:c"


def _party(did: str) -> tuple[Signer, dict[str, object]]:
    key = generate_key()
    kid = key_id(key)
    return Signer(did=did, kid=f"{did}#{kid}", key=key), build_did_document(did, [(kid, public_jwk(key))], {kid})


@pytest.fixture
def parties() -> tuple[Signer, Signer, DidResolver]:
    provider, provider_doc = _party(PROVIDER)
    consumer, consumer_doc = _party(CONSUMER)
    documents = {
        "https://provider.example/participants/p/did.json": provider_doc,
        "https://consumer.example/participants/c/did.json": consumer_doc,
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=documents[str(request.url)]))
    return provider, consumer, DidResolver(httpx.Client(transport=transport))


AGREEMENT = {
    "@id": "urn:uuid:7d1a3c8e-0000-4000-8000-000000000001",
    "@type": "Agreement",
    "target": "urn:uuid:dataset-1",
    "assigner": PROVIDER,
    "assignee": CONSUMER,
    "timestamp": "2026-11-21T10:00:00Z",
    "permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "isA", "rightOperand": "dpv:ResearchAndDevelopment"}]}],
}


def test_both_signatures_verify_and_survive_reserialisation(parties: tuple[Signer, Signer, DidResolver]) -> None:
    provider, consumer, resolver = parties
    provider_sig, consumer_sig = sign_agreement(AGREEMENT, provider), sign_agreement(AGREEMENT, consumer)
    reordered = json.loads(json.dumps(dict(reversed(list(AGREEMENT.items()))), indent=4))
    assert canonical(reordered) == canonical(AGREEMENT)
    assert verify_agreement_signature(reordered, provider_sig, PROVIDER, resolver).valid
    assert verify_agreement_signature(reordered, consumer_sig, CONSUMER, resolver).valid
    assert provider_sig.split(".")[1] == ""  # detached: the agreement travels beside it


def test_any_change_breaks_the_signature(parties: tuple[Signer, Signer, DidResolver]) -> None:
    provider, _consumer, resolver = parties
    signature = sign_agreement(AGREEMENT, provider)
    changed = {**AGREEMENT, "permission": [{"action": "use"}]}
    check = verify_agreement_signature(changed, signature, PROVIDER, resolver)
    assert not check.valid and "does not verify" in check.detail


def test_a_signature_is_bound_to_its_signer(parties: tuple[Signer, Signer, DidResolver]) -> None:
    provider, _consumer, resolver = parties
    signature = sign_agreement(AGREEMENT, provider)
    assert not verify_agreement_signature(AGREEMENT, signature, CONSUMER, resolver).valid


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "..", "e30..AAAA"])
def test_malformed_signatures_are_reported(parties: tuple[Signer, Signer, DidResolver], junk: str) -> None:
    _provider, _consumer, resolver = parties
    check = verify_agreement_signature(AGREEMENT, junk, PROVIDER, resolver)
    assert not check.valid and check.detail
