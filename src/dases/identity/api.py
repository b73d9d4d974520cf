"""HTTP routes of the identity building block."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dases.errors import problem_responses
from dases.identity import service, vcjose
from dases.identity.auth import Caller
from dases.node import AdminDep, NodeDep, SessionDep
from dases.types import Text

router = APIRouter(tags=["identity"])

Slug = Annotated[str, Path(pattern=service.SLUG_PATTERN, max_length=63, description="Participant slug")]


class ParticipantOut(BaseModel):
    slug: str
    name: str
    did: str
    active_kid: str = Field(description="Key id (RFC 7638 thumbprint) of the key that signs new calls.")
    key_count: int


class ParticipantIn(BaseModel):
    slug: str = Field(pattern=service.SLUG_PATTERN, max_length=63, examples=["edtech-a"])
    name: Text = Field(min_length=1, max_length=200, pattern=r"\S", examples=["EdTech A"])


class CallerOut(BaseModel):
    did: str = Field(description="The caller's DID, proven by its signature.")
    kid: str
    audience: str


def _out(view: service.ParticipantView) -> ParticipantOut:
    return ParticipantOut(**view.__dict__)


@router.get("/participants", response_model=list[ParticipantOut])
def list_participants(session: SessionDep) -> list[ParticipantOut]:
    """Participants hosted on this node (public: their DIDs are public anyway)."""
    return [_out(view) for view in service.list_participants(session)]


@router.post(
    "/participants",
    response_model=ParticipantOut,
    status_code=201,
    dependencies=[AdminDep],
    responses=problem_responses(401, 403, 409, 422),
)
def create_participant(body: ParticipantIn, node: NodeDep, session: SessionDep) -> ParticipantOut:
    """Host a new participant on this node (admin)."""
    return _out(service.create_participant(session, node.sealer, node.settings.base_url, body.slug, body.name))


@router.get("/participants/{slug}", response_model=ParticipantOut, responses=problem_responses(404, 422))
def show_participant(slug: Slug, session: SessionDep) -> ParticipantOut:
    return _out(service.get_participant(session, slug))


@router.post(
    "/participants/{slug}/keys/rotate",
    response_model=ParticipantOut,
    dependencies=[AdminDep],
    responses=problem_responses(401, 403, 404, 422),
)
def rotate_key(slug: Slug, node: NodeDep, session: SessionDep) -> ParticipantOut:
    """Replace the participant's signing key; the old one still verifies past assertions (admin)."""
    return _out(service.rotate_key(session, node.sealer, slug))


@router.get(
    "/participants/{slug}/did.json",
    responses={200: {"content": {"application/did+json": {}}, "description": "DID document"}, **problem_responses(404, 422)},
)
def did_document(slug: Slug, session: SessionDep) -> JSONResponse:
    """The participant's DID document, where did:web resolution looks for it."""
    document: dict[str, Any] = service.did_document(session, slug)
    return JSONResponse(document, media_type="application/did+json")


@router.get("/identity/whoami", response_model=CallerOut, responses=problem_responses(401))
def whoami(caller: Caller) -> CallerOut:
    """Echo the verified caller: the smallest protected route, for checking a peer's setup."""
    return CallerOut(did=caller.did, kid=caller.kid, audience=caller.audience)


class VerifyCredentialIn(BaseModel):
    credential: str = Field(min_length=1, max_length=65536, description="A credential secured as application/vc+jwt.")


class VerifyCredentialOut(BaseModel):
    verified: bool
    reason: str | None = Field(description="Why it did not verify, e.g. revoked, expired, bad_signature.")
    detail: str
    issuer: str | None = None
    subject: str | None = None
    types: list[str] = []
    violations: list[dict[str, str]] = []


@router.post("/credentials/verify", response_model=VerifyCredentialOut, responses=problem_responses(401, 422))
def verify_credential(body: VerifyCredentialIn, caller: Caller, node: NodeDep) -> VerifyCredentialOut:
    """Verify a vc+jwt: data model, issuer signature, validity period and revocation status.

    Authenticated, because verifying makes this node fetch documents from the issuer's host.
    """
    check = vcjose.verify_credential(body.credential, resolver=node.resolver, status_lists=node.status_lists)
    credential = check.credential or {}
    subject = credential.get("credentialSubject")
    types = credential.get("type", [])
    return VerifyCredentialOut(
        verified=check.verified,
        reason=check.fault.value if check.fault else None,
        detail=check.detail,
        issuer=vcjose.issuer_id(credential),
        subject=subject.get("id") if isinstance(subject, dict) and isinstance(subject.get("id"), str) else None,
        types=[t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)],
        violations=[{"field": v.path, "rule": v.rule, "message": v.message} for v in check.violations],
    )
