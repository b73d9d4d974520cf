"""The FastAPI dependency that gives a protected route its verified caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from dases.errors import Unauthorized
from dases.identity.service import hosted_dids
from dases.identity.tokens import VerifiedCaller, verify_call_token
from dases.node import BearerDep, NodeDep


def verified_caller(node: NodeDep, credentials: BearerDep) -> VerifiedCaller:
    """Verify the request's call token; refuse with 401 and the reason otherwise."""
    if credentials is None:
        raise Unauthorized(
            "this route needs a signed call token: 'Authorization: Bearer <JWS>'", reason="missing_credentials"
        )
    with node.db.transaction() as session:
        audiences = hosted_dids(session)
    return verify_call_token(
        credentials.credentials,
        audiences=audiences,
        resolver=node.resolver,
        replay_guard=node.replay_guard,
        clock_skew=node.settings.clock_skew_seconds,
    )


Caller = Annotated[VerifiedCaller, Depends(verified_caller)]
