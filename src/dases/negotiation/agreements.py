"""Agreements signed by both parties: detached JWS over the RFC 8785 canonical JSON.

Canonical JSON (JCS) makes the signed bytes independent of key order and whitespace, so the
agreement can travel inside DSP messages, be stored, pretty-printed and re-serialised, and
anyone holding it with the two signatures can verify it later against the parties' DIDs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import rfc8785

from dases.identity import jws
from dases.identity.keys import Signer
from dases.identity.resolver import DidResolver, ResolutionError

SIGNATURE_TYPE = "dases-agreement+jws"


def canonical(agreement: dict[str, Any]) -> bytes:
    return rfc8785.dumps(agreement)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_agreement(agreement: dict[str, Any], signer: Signer) -> str:
    """A detached compact JWS (`header..signature`) over the canonical agreement."""
    from joserfc import jws as jose

    from dases.identity.keys import SIGNING_ALGORITHM

    header = {"alg": SIGNING_ALGORITHM, "kid": signer.kid, "typ": SIGNATURE_TYPE}
    compact = jose.serialize_compact(header, canonical(agreement), signer.key, algorithms=[SIGNING_ALGORITHM])
    protected, _payload, signature = compact.split(".")
    return f"{protected}..{signature}"


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    detail: str


def verify_agreement_signature(
    agreement: dict[str, Any], detached: str, expected_did: str, resolver: DidResolver
) -> SignatureCheck:
    """Whether `detached` is `expected_did`'s signature over this exact agreement."""
    parts = detached.split(".") if isinstance(detached, str) else []
    if len(parts) != 3 or parts[1] != "":
        return SignatureCheck(False, "the signature is not a detached compact JWS (header..signature)")
    try:
        parsed = jws.parse(f"{parts[0]}.{_b64(canonical(agreement))}.{parts[2]}", max_bytes=1024 * 1024)
    except (jws.MalformedJws, TypeError, ValueError) as error:
        return SignatureCheck(False, f"the signature cannot be read: {error}")
    kid = parsed.header.get("kid")
    if parsed.header.get("typ") != SIGNATURE_TYPE or not isinstance(kid, str) or not kid.startswith(expected_did + "#"):
        return SignatureCheck(False, f"the signature is not an agreement signature by a key of {expected_did}")
    try:
        key = resolver.verification_key(expected_did, kid, "assertionMethod")
    except ResolutionError as error:
        return SignatureCheck(False, f"{expected_did} cannot be resolved: {error}")
    if key is None or not jws.signature_is_valid(parsed, key):
        return SignatureCheck(False, f"the signature does not verify with {kid}")
    return SignatureCheck(True, f"signed by {expected_did}")
