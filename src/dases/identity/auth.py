"""The FastAPI dependency that gives a protected route its verified caller."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from dases.errors import Unauthorized
from dases.identity.tokens import VerifiedCaller, parse_call_token, verify_call_token
from dases.node import Node


class SignedCall(HTTPBearer):
    """`Authorization: Bearer <call token>`, verified; declared in OpenAPI as a bearer scheme.

    One dependency reading the header itself, because every protected request pays for it.
    When the caller's DID document is cached with the named key, verification is about a
    hundred microseconds of CPU and no I/O, so it runs on the event loop, cheaper than a hop to
    the thread pool. Otherwise (first call from a peer, rotated key) it runs in the thread pool,
    because resolving the DID blocks on the network, possibly on this very node.
    """

    def __init__(self) -> None:
        super().__init__(
            scheme_name="SignedCall",
            bearerFormat="JWS (typ dases-call+jwt)",
            description="A call token signed by the calling participant's DID key, addressed to a participant of this node.",
            auto_error=False,
        )

    async def __call__(self, request: Request) -> VerifiedCaller:  # type: ignore[override]
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "this route needs a signed call token: 'Authorization: Bearer <JWS>'", reason="missing_credentials"
            )
        node: Node = request.app.state.node
        parsed = parse_call_token(token.strip())
        verify = partial(
            verify_call_token,
            parsed,
            audiences=node.hosted_dids,
            resolver=node.resolver,
            replay_guard=node.replay_guard,
            clock_skew=node.settings.clock_skew_seconds,
        )
        issuer, kid = parsed.payload.get("iss"), parsed.header.get("kid")
        if isinstance(issuer, str) and isinstance(kid, str) and node.resolver.has_cached_key(issuer, kid, "authentication"):
            return verify()
        return await run_in_threadpool(verify)


Caller = Annotated[VerifiedCaller, Depends(SignedCall())]
