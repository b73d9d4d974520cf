"""Tables of the registry: member organisations and the credentials issued to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, JSONDocument, UTCDateTime, utcnow


class Role(StrEnum):
    """What a member does in the data space: business roles, then technical ones."""

    STRATEGIC_ACTOR = "strategic_actor"
    SERVICE_PROVIDER = "service_provider"
    DATA_PROVIDER = "data_provider"
    DATA_CONSUMER = "data_consumer"
    GOVERNANCE_AUTHORITY = "governance_authority"
    PERSONAL_DATA_INTERMEDIARY = "personal_data_intermediary"
    INFRASTRUCTURE_SERVICE_PROVIDER = "infrastructure_service_provider"


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Member(Base):
    """A legal person that applied to, or belongs to, the data space."""

    __tablename__ = "member"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    did: Mapped[str] = mapped_column(String(512), unique=True)
    legal_name: Mapped[str] = mapped_column(String(300))
    registration_number: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    roles: Mapped[list[str]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.PENDING.value, index=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class MembershipCredential(Base):
    """A membership credential issued to a member, with its slot in a revocation status list."""

    __tablename__ = "membership_credential"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    status_list: Mapped[int] = mapped_column(Integer)
    status_index: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (UniqueConstraint("status_list", "status_index", name="uq_membership_credential_status_slot"),)
