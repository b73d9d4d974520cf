"""Onboarding: members apply with a signed call, the governance authority approves and issues a
membership credential (VC 2.0, `vc+jwt`) with a revocation slot in a Bitstring Status List."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import Conflict, Forbidden, NotFound
from dases.identity import service as identity
from dases.identity import statuslist
from dases.identity.keys import KeySealer
from dases.identity.vcjose import sign_credential
from dases.registry.models import Member, MembershipCredential, MemberStatus, Role
from dases.settings import Settings

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
DASES_VOCAB = "urn:dases:vocab:"
MEMBERSHIP_CONTEXT = {
    "DataSpaceMembershipCredential": DASES_VOCAB + "DataSpaceMembershipCredential",
    "legalName": DASES_VOCAB + "legalName",
    "registrationNumber": DASES_VOCAB + "registrationNumber",
    "country": DASES_VOCAB + "country",
    "roles": {"@id": DASES_VOCAB + "roles", "@container": "@set"},
    "dataSpace": DASES_VOCAB + "dataSpace",
}
STATUS_LIST_LENGTH = statuslist.MIN_LIST_LENGTH


@dataclass(frozen=True)
class Application:
    legal_name: str
    registration_number: str
    country: str
    roles: list[Role]


@dataclass(frozen=True)
class IssuedCredential:
    member: Member
    credential_id: str
    token: str


def authority_signer(session: Session, settings: Settings, sealer: KeySealer) -> identity.Signer:
    if not settings.governance_authority:
        raise Conflict("this node hosts no governance authority: set DASES_GOVERNANCE_AUTHORITY to a participant slug")
    return identity.signer_for(session, sealer, settings.governance_authority)


def authority_did(session: Session, settings: Settings) -> str:
    if not settings.governance_authority:
        raise Conflict("this node hosts no governance authority: set DASES_GOVERNANCE_AUTHORITY to a participant slug")
    return identity.get_participant(session, settings.governance_authority).did


def apply(session: Session, settings: Settings, applicant_did: str, addressed_to: str, application: Application) -> Member:
    """Record an application; the applicant proved its DID by signing the call."""
    authority = authority_did(session, settings)
    if addressed_to != authority:
        raise Forbidden(f"membership applications are addressed to the governance authority {authority}")
    member = session.scalar(select(Member).where(Member.did == applicant_did))
    if member is not None and member.status in (MemberStatus.PENDING, MemberStatus.ACTIVE):
        raise Conflict(f"{applicant_did} already has a {member.status} membership (member {member.id})")
    if member is None:
        member = Member(id=str(uuid.uuid4()), did=applicant_did)
        session.add(member)
    member.legal_name = application.legal_name
    member.registration_number = application.registration_number
    member.country = application.country
    member.roles = sorted({role.value for role in application.roles})
    member.status = MemberStatus.PENDING.value
    member.applied_at = utcnow()
    member.decided_at = None
    session.flush()
    return member


def get_member(session: Session, member_id: str) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"no member {member_id!r} in this registry")
    return member


def active_member(session: Session, did: str) -> Member | None:
    """The member whose DID this is, if its membership is active (neither pending nor revoked)."""
    return session.scalar(select(Member).where(Member.did == did, Member.status == MemberStatus.ACTIVE.value))


_members = Member.__table__
_IS_ACTIVE = select(_members.c.id).where(_members.c.did == bindparam("did"), _members.c.status == MemberStatus.ACTIVE.value)


def is_active_member(session: Session, did: str) -> bool:
    """Whether `did` is an active member; built once, for the hot path of signed service calls."""
    return session.connection().execute(_IS_ACTIVE, {"did": did}).first() is not None


def list_members(session: Session, status: MemberStatus | None = None) -> list[Member]:
    query = select(Member).order_by(Member.legal_name, Member.id)
    if status is not None:
        query = query.where(Member.status == status.value)
    return list(session.scalars(query))


def _allocate_status_slot(session: Session) -> tuple[int, int]:
    """A random free index, so a credential's position says nothing about when it was issued."""
    current = session.scalar(select(func.max(MembershipCredential.status_list))) or 1
    used = set(session.scalars(select(MembershipCredential.status_index).where(MembershipCredential.status_list == current)))
    if len(used) >= STATUS_LIST_LENGTH:
        current, used = current + 1, set()
    while True:
        index = secrets.randbelow(STATUS_LIST_LENGTH)
        if index not in used:
            return current, index


def status_list_url(settings: Settings, list_number: int) -> str:
    return f"{settings.base_url}/registry/status/{list_number}"


def approve(session: Session, settings: Settings, sealer: KeySealer, member_id: str) -> IssuedCredential:
    """Admit a pending member and issue its membership credential."""
    member = get_member(session, member_id)
    if member.status != MemberStatus.PENDING:
        raise Conflict(f"member {member_id} is {member.status}; only pending applications can be approved")
    signer = authority_signer(session, settings, sealer)
    list_number, index = _allocate_status_slot(session)
    now = utcnow().replace(microsecond=0)
    valid_until = now + timedelta(days=settings.membership_validity_days)
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    list_url = status_list_url(settings, list_number)
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2, MEMBERSHIP_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "DataSpaceMembershipCredential"],
        "issuer": signer.did,
        "validFrom": now.isoformat().replace("+00:00", "Z"),
        "validUntil": valid_until.isoformat().replace("+00:00", "Z"),
        "credentialSubject": {
            "id": member.did,
            "legalName": member.legal_name,
            "registrationNumber": member.registration_number,
            "country": member.country,
            "roles": member.roles,
            "dataSpace": signer.did,
        },
        "credentialStatus": {
            "id": f"{list_url}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": list_url,
        },
    }
    token = sign_credential(credential, signer)
    session.add(
        MembershipCredential(
            id=credential_id, member_id=member.id, status_list=list_number, status_index=index,
            token=token, issued_at=now, valid_until=valid_until,
        )
    )
    member.status = MemberStatus.ACTIVE.value
    member.decided_at = now
    session.flush()
    return IssuedCredential(member, credential_id, token)


def reject(session: Session, member_id: str) -> Member:
    member = get_member(session, member_id)
    if member.status != MemberStatus.PENDING:
        raise Conflict(f"member {member_id} is {member.status}; only pending applications can be rejected")
    member.status = MemberStatus.REJECTED.value
    member.decided_at = utcnow()
    return member


def revoke(session: Session, member_id: str) -> Member:
    """End a membership: every credential it holds is marked revoked in the status list."""
    member = get_member(session, member_id)
    if member.status != MemberStatus.ACTIVE:
        raise Conflict(f"member {member_id} is {member.status}; only active members can be revoked")
    now = utcnow()
    for credential in session.scalars(select(MembershipCredential).where(MembershipCredential.member_id == member.id)):
        if credential.revoked_at is None:
            credential.revoked_at = now
    member.status = MemberStatus.REVOKED.value
    member.decided_at = now
    return member


def current_credential(session: Session, member_did: str, member_id: str) -> str:
    """The newest unrevoked credential of a member, for that member only."""
    member = get_member(session, member_id)
    if member.did != member_did:
        raise Forbidden("a membership credential is handed only to the member it was issued to")
    token = session.scalar(
        select(MembershipCredential.token)
        .where(MembershipCredential.member_id == member.id, MembershipCredential.revoked_at.is_(None))
        .order_by(MembershipCredential.issued_at.desc())
        .limit(1)
    )
    if token is None:
        raise NotFound(f"member {member_id} holds no valid membership credential")
    return token


def status_list_credential(session: Session, settings: Settings, sealer: KeySealer, list_number: int) -> str:
    """The signed status list: bit i set when the credential in slot i is revoked."""
    if list_number < 1 or list_number > (session.scalar(select(func.max(MembershipCredential.status_list))) or 1):
        raise NotFound(f"no status list {list_number}")
    revoked = session.scalars(
        select(MembershipCredential.status_index).where(
            MembershipCredential.status_list == list_number, MembershipCredential.revoked_at.is_not(None)
        )
    )
    signer = authority_signer(session, settings, sealer)
    url = status_list_url(settings, list_number)
    credential = {
        "@context": [CREDENTIALS_V2],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": signer.did,
        "validFrom": utcnow().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": statuslist.encode(revoked, STATUS_LIST_LENGTH),
        },
    }
    return sign_credential(credential, signer)
