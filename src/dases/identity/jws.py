"""Compact JWS with Ed25519: signed and verified over the exact bytes, parsed once.

Signing builds the compact serialisation itself (RFC 7515 section 7.1: base64url header, payload
and Ed25519 signature) because it runs on every outgoing call: joserfc's general-purpose
`serialize_compact` spent about 90 us per token on registry and header validation, 1.7 times the
signature itself. Keys stay joserfc JWKs, and the tests check that joserfc accepts what this
module signs and that this module accepts what joserfc signs.

Verification splits the token once, decodes header and payload once, and checks the
signature over the exact received bytes with `cryptography`; the parsed parts are then reused
by the caller (call tokens, credentials), so nothing is decoded twice on the request path.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dases.identity.keys import ACCEPTED_ALGORITHMS, SIGNING_ALGORITHM, Signer

MAX_JWS_BYTES = 64 * 1024


class MalformedJws(ValueError):
    """The string is not a compact JWS this node accepts; the message says why."""


@dataclass(frozen=True)
class ParsedJws:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@lru_cache(maxsize=1024)
def _encoded_header(items: tuple[tuple[str, str], ...]) -> str:
    return _b64encode(_compact_json(dict(items)))


def sign(header: dict[str, str], payload: dict[str, Any], signer: Signer) -> str:
    """A compact JWS of `payload`, signed with the signer's Ed25519 key and naming its kid."""
    if "crit" in header:
        raise ValueError("critical header extensions are not produced by this node")
    protected = _encoded_header(tuple({**header, "alg": SIGNING_ALGORITHM, "kid": signer.kid}.items()))
    signing_input = f"{protected}.{_b64encode(_compact_json(payload))}"
    return f"{signing_input}.{_b64encode(signer.private_key.sign(signing_input.encode('ascii')))}"


def _b64decode(segment: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as error:
        raise MalformedJws(f"the {what} is not base64url") from error


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment, what))
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJws(f"the {what} is not base64url-encoded JSON") from error
    if not isinstance(value, dict):
        raise MalformedJws(f"the {what} is not a JSON object")
    return value


def parse(token: str, *, max_bytes: int = MAX_JWS_BYTES) -> ParsedJws:
    """Split and decode a compact JWS; checks shape and algorithm, not the signature."""
    if len(token) > max_bytes:
        raise MalformedJws(f"the JWS is longer than {max_bytes} bytes")
    segments = token.split(".")
    if len(segments) != 3 or not all(segments):
        raise MalformedJws("the value is not a compact JWS (three non-empty dot-separated parts)")
    header = _json_object(segments[0], "JWS header")
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise MalformedJws(f"the JWS algorithm must be one of {', '.join(ACCEPTED_ALGORITHMS)}")
    if "crit" in header:
        raise MalformedJws("the JWS header has critical extensions this node does not understand")
    payload = _json_object(segments[1], "JWS payload")
    signature = _b64decode(segments[2], "JWS signature")
    return ParsedJws(header, payload, f"{segments[0]}.{segments[1]}".encode("ascii", "replace"), signature)


@lru_cache(maxsize=4096)
def _ed25519_key(x: str) -> Ed25519PublicKey | None:
    try:
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None


def signature_is_valid(parsed: ParsedJws, jwk: dict[str, Any]) -> bool:
    """Whether the JWS was signed by the Ed25519 key `jwk` (a public OKP JWK)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        return False
    key = _ed25519_key(jwk["x"])
    if key is None:
        return False
    try:
        key.verify(parsed.signature, parsed.signing_input)
    except InvalidSignature:
        return False
    return True
