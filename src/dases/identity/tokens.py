"""Signed service-to-service call tokens.

Every cross-node request carries a compact JWS (header `typ: dases-call+jwt`) with
`iss` = caller DID, `aud` = callee DID, `iat`, `exp` (at most five minutes later) and a unique
`jti`. The callee checks the cheap things first (shape, audience, time), then resolves the
caller's DID document, verifies the signature with a key the document lists for
`authentication`, and only then records the `jti`, so forged tokens cannot fill the replay store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Container
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dases.errors import Unauthorized
from dases.identity import jws
from dases.identity.keys import Signer
from dases.identity.replay import ReplayGuard
from dases.identity.resolver import DidResolver, ResolutionError
from dases.settings import MAX_TOKEN_LIFETIME_SECONDS

TOKEN_TYPE = "dases-call+jwt"
MAX_TOKEN_BYTES = 8 * 1024
MAX_JTI_LENGTH = 128


class TokenFault(StrEnum):
    """Why a call token was refused; sent as `reason` in the 401 problem body."""

    MALFORMED = "malformed_token"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "token_expired"
    IAT_IN_FUTURE = "iat_in_future"
    LIFETIME_TOO_LONG = "lifetime_too_long"
    WRONG_AUDIENCE = "wrong_audience"
    REPLAYED = "token_replayed"
    UNRESOLVABLE_DID = "unresolvable_did"


@dataclass(frozen=True)
class VerifiedCaller:
    """The proven identity behind a request."""

    did: str
    kid: str
    audience: str
    jti: str
    expires_at: float


def sign_call_token(
    signer: Signer,
    audience: str,
    *,
    lifetime: int = 120,
    now: float | None = None,
    jti: str | None = None,
) -> str:
    issued_at = int(time.time() if now is None else now)
    claims = {
        "iss": signer.did,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti or uuid.uuid4().hex,
    }
    return jws.sign({"typ": TOKEN_TYPE}, claims, signer)


def _refuse(fault: TokenFault, detail: str) -> Unauthorized:
    return Unauthorized(detail, reason=fault.value)


def _number(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _refuse(TokenFault.MALFORMED, f"the token claim {name} is missing or not a number")
    return int(value)


def _string(claims: dict[str, Any], name: str, max_length: int = 2048) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _refuse(TokenFault.MALFORMED, f"the token claim {name} is missing or not a non-empty string")
    return value


def parse_call_token(token: str) -> jws.ParsedJws:
    """The decoded parts of a call token, checked for shape only (no signature check yet)."""
    try:
        return jws.parse(token, max_bytes=MAX_TOKEN_BYTES)
    except jws.MalformedJws as error:
        raise _refuse(TokenFault.MALFORMED, str(error)) from error


def verify_call_token(
    token: str | jws.ParsedJws,
    *,
    audiences: Container[str],
    resolver: DidResolver,
    replay_guard: ReplayGuard,
    now: float | None = None,
    clock_skew: int = 30,
) -> VerifiedCaller:
    """Verify a call token, or raise `Unauthorized` whose `reason` is a `TokenFault`."""
    parsed = parse_call_token(token) if isinstance(token, str) else token
    header, claims = parsed.header, parsed.payload
    if header.get("typ") != TOKEN_TYPE:
        raise _refuse(TokenFault.MALFORMED, f"the token type (typ) must be {TOKEN_TYPE}")
    issuer = _string(claims, "iss")
    audience = _string(claims, "aud")
    jti = _string(claims, "jti", MAX_JTI_LENGTH)
    issued_at, expires_at = _number(claims, "iat"), _number(claims, "exp")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith(issuer + "#"):
        raise _refuse(TokenFault.MALFORMED, "the token header kid must name a key of the issuer DID (iss#key-id)")

    if audience not in audiences:
        raise _refuse(TokenFault.WRONG_AUDIENCE, f"the token audience {audience} is not a participant hosted on this node")
    current = time.time() if now is None else now
    if expires_at - issued_at > MAX_TOKEN_LIFETIME_SECONDS:
        raise _refuse(TokenFault.LIFETIME_TOO_LONG, f"the token lives {expires_at - issued_at} s; at most {MAX_TOKEN_LIFETIME_SECONDS} s are allowed")
    if current >= expires_at + clock_skew:
        raise _refuse(TokenFault.EXPIRED, f"the token expired {int(current - expires_at)} s ago")
    if issued_at > current + clock_skew:
        raise _refuse(TokenFault.IAT_IN_FUTURE, f"the token was issued {int(issued_at - current)} s in the future")

    try:
        jwk = resolver.verification_key(issuer, kid, "authentication")
    except ResolutionError as error:
        raise _refuse(TokenFault.UNRESOLVABLE_DID, f"the issuer DID cannot be resolved: {error}") from error
    if jwk is None:
        raise _refuse(TokenFault.BAD_SIGNATURE, f"{kid} is not an authentication key of {issuer}")
    if not jws.signature_is_valid(parsed, jwk):
        raise _refuse(TokenFault.BAD_SIGNATURE, f"the token signature does not verify with {kid}")

    refusal = replay_guard.claim(issuer, jti, float(issued_at), float(expires_at + clock_skew))
    if refusal is not None:
        raise _refuse(TokenFault.REPLAYED, refusal)
    return VerifiedCaller(did=issuer, kid=kid, audience=audience, jti=jti, expires_at=float(expires_at))
