"""The node's compact JWS is plain RFC 7515: joserfc accepts what the node signs, and the node
accepts what joserfc signs; tampering with any part breaks the signature."""

from __future__ import annotations

import json

import pytest
from joserfc import jws as jose
from joserfc.jwk import OKPKey

from dases.identity import jws
from dases.identity.keys import Signer, generate_key, key_id
from dases.identity.tokens import TOKEN_TYPE, sign_call_token


@pytest.fixture
def signer() -> Signer:
    key = generate_key()
    return Signer(did="did:web:example.org", kid=f"did:web:example.org#{key_id(key)}", key=key)


def public(signer: Signer) -> OKPKey:
    return OKPKey.import_key(signer.key.as_dict(private=False))


def test_joserfc_verifies_a_call_token_signed_by_the_node(signer: Signer) -> None:
    token = sign_call_token(signer, "did:web:callee.example", jti="abc")
    decoded = jose.deserialize_compact(token, public(signer), algorithms=["Ed25519"])
    assert decoded.protected == {"typ": TOKEN_TYPE, "alg": "Ed25519", "kid": signer.kid}
    claims = json.loads(decoded.payload)
    assert claims["iss"] == signer.did and claims["aud"] == "did:web:callee.example" and claims["jti"] == "abc"


def test_node_verifies_a_jws_signed_by_joserfc(signer: Signer) -> None:
    token = jose.serialize_compact({"alg": "Ed25519", "kid": signer.kid}, b'{"hello":"world"}', signer.key, algorithms=["Ed25519"])
    parsed = jws.parse(token)
    assert parsed.payload == {"hello": "world"}
    assert jws.signature_is_valid(parsed, signer.key.as_dict(private=False))


def test_non_ascii_payload_round_trips(signer: Signer) -> None:
    token = jws.sign({"typ": "vc+jwt"}, {"name": "Lycée Émile-Zola 学校"}, signer)
    assert json.loads(jose.deserialize_compact(token, public(signer), algorithms=["Ed25519"]).payload)["name"] == "Lycée Émile-Zola 学校"


@pytest.mark.parametrize("part", [0, 1, 2])
def test_changing_any_part_breaks_the_signature(signer: Signer, part: int) -> None:
    token = jws.sign({"typ": "x"}, {"n": 1}, signer)
    other = jws.sign({"typ": "y"}, {"n": 2}, signer).split(".")
    pieces = token.split(".")
    pieces[part] = other[part]
    assert not jws.signature_is_valid(jws.parse(".".join(pieces)), signer.key.as_dict(private=False))


def test_another_key_does_not_verify(signer: Signer) -> None:
    token = jws.sign({"typ": "x"}, {"n": 1}, signer)
    assert not jws.signature_is_valid(jws.parse(token), generate_key().as_dict(private=False))


def test_the_node_never_signs_critical_headers(signer: Signer) -> None:
    with pytest.raises(ValueError, match="critical"):
        jws.sign({"crit": "b64"}, {"n": 1}, signer)
