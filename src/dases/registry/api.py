"""HTTP routes of the registry: applications, decisions, credentials and the status list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from dases.errors import problem_responses
from dases.identity.auth import Caller
from dases.identity.vcjose import VC_MEDIA_TYPE
from dases.node import AdminDep, NodeDep, SessionDep
from dases.registry import service
from dases.registry.models import Member, MemberStatus, Role
from dases.types import Text

router = APIRouter(prefix="/registry", tags=["registry"])

MemberId = Annotated[str, Path(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$", description="Member id (UUID)")]
_VC_RESPONSE = {200: {"content": {VC_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "A credential secured as vc+jwt"}}


class MemberApplicationIn(BaseModel):
    legal_name: Text = Field(min_length=1, max_length=300, pattern=r"\S", examples=["Lycée Jean Moulin"])
    registration_number: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 ./-]+$", examples=["19690001200018"])
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code", examples=["FR"])
    roles: list[Role] = Field(min_length=1, max_length=len(Role))


class MemberOut(BaseModel):
    id: str
    did: str
    legal_name: str
    registration_number: str
    country: str
    roles: list[str]
    status: MemberStatus
    applied_at: datetime
    decided_at: datetime | None


class IssuedCredentialOut(BaseModel):
    member: MemberOut
    credential_id: str
    credential: str = Field(description="The membership credential, secured as application/vc+jwt.")


def _member_out(member: Member) -> MemberOut:
    return MemberOut.model_validate(member, from_attributes=True)


@router.post("/applications", response_model=MemberOut, status_code=201, responses=problem_responses(401, 403, 409, 422))
def apply(body: MemberApplicationIn, caller: Caller, node: NodeDep, session: SessionDep) -> MemberOut:
    """Apply for membership; the signed call proves the applicant controls its DID."""
    application = service.Application(body.legal_name.strip(), body.registration_number.strip(), body.country, body.roles)
    return _member_out(service.apply(session, node.settings, caller.did, caller.audience, application))


@router.get("/members", response_model=list[MemberOut], responses=problem_responses(422))
def list_members(session: SessionDep, status: Annotated[MemberStatus | None, Query()] = None) -> list[MemberOut]:
    """The member directory (public, as membership of a data space is)."""
    return [_member_out(member) for member in service.list_members(session, status)]


@router.get("/members/{member_id}", response_model=MemberOut, responses=problem_responses(404, 422))
def show_member(member_id: MemberId, session: SessionDep) -> MemberOut:
    return _member_out(service.get_member(session, member_id))


@router.post(
    "/members/{member_id}/approve",
    response_model=IssuedCredentialOut,
    dependencies=[AdminDep],
    responses=problem_responses(401, 403, 404, 409, 422),
)
def approve(member_id: MemberId, node: NodeDep, session: SessionDep) -> IssuedCredentialOut:
    """Admit the applicant and issue its membership credential (governance authority, admin)."""
    issued = service.approve(session, node.settings, node.sealer, member_id)
    return IssuedCredentialOut(member=_member_out(issued.member), credential_id=issued.credential_id, credential=issued.token)


@router.post("/members/{member_id}/reject", response_model=MemberOut, dependencies=[AdminDep], responses=problem_responses(401, 403, 404, 409, 422))
def reject(member_id: MemberId, session: SessionDep) -> MemberOut:
    return _member_out(service.reject(session, member_id))


@router.post("/members/{member_id}/revoke", response_model=MemberOut, dependencies=[AdminDep], responses=problem_responses(401, 403, 404, 409, 422))
def revoke(member_id: MemberId, session: SessionDep) -> MemberOut:
    """End the membership; its credentials show as revoked in the status list from now on."""
    return _member_out(service.revoke(session, member_id))


@router.get("/members/{member_id}/credential", response_class=Response, responses={**_VC_RESPONSE, **problem_responses(401, 403, 404, 422)})
def credential(member_id: MemberId, caller: Caller, session: SessionDep) -> Response:
    """The member's current membership credential, handed to the member itself only."""
    return Response(service.current_credential(session, caller.did, member_id), media_type=VC_MEDIA_TYPE)


@router.get("/status/{list_number}", response_class=Response, responses={**_VC_RESPONSE, **problem_responses(404, 409, 422)})
def status_list(list_number: Annotated[int, Path(ge=1, le=1_000_000)], node: NodeDep, session: SessionDep) -> Response:
    """The revocation status list of membership credentials (Bitstring Status List, vc+jwt)."""
    token = service.status_list_credential(session, node.settings, node.sealer, list_number)
    return Response(token, media_type=VC_MEDIA_TYPE, headers={"Cache-Control": "max-age=30"})
