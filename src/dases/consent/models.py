"""Tables of the consent service: learners (pseudonymous subjects), their linked accounts at
providers, consent records with an append-only event history, and outgoing notifications."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, JSONDocument, UTCDateTime, utcnow


class ConsentStatus(StrEnum):
    """The DPV consent statuses (https://w3id.org/dpv#ConsentStatus) a record moves through."""

    REQUESTED = "requested"
    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"

    @property
    def dpv(self) -> str:
        return f"https://w3id.org/dpv#Consent{self.value.capitalize()}"


class Actor(StrEnum):
    """Who made an event happen."""

    SUBJECT = "subject"
    GUARDIAN = "guardian"
    PROVIDER = "provider"
    SYSTEM = "system"


class Subject(Base):
    """A learner at the consent service. The id is a pseudonym: providers know it only through
    the accounts the learner chose to link."""

    __tablename__ = "consent_subject"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    login: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccountLink(Base):
    """`subject` is the learner known as `account` at `provider_did`."""

    __tablename__ = "consent_account_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("consent_subject.id", ondelete="CASCADE"), index=True)
    provider_did: Mapped[str] = mapped_column(String(512))
    account: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("provider_did", "account", name="uq_consent_account_link_provider_account"),)


class Guardianship(Base):
    """`guardian_id` holds parental responsibility for the learner known as `account` at
    `provider_did`, as that provider attested with a guardian link code."""

    __tablename__ = "consent_guardianship"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guardian_id: Mapped[str] = mapped_column(ForeignKey("consent_subject.id", ondelete="CASCADE"), index=True)
    provider_did: Mapped[str] = mapped_column(String(512))
    account: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("guardian_id", "provider_did", "account", name="uq_consent_guardianship_guardian_account"),
        Index("ix_consent_guardianship_account", "provider_did", "account"),
    )


class LinkCode(Base):
    """A one-time code a provider hands a learner (or a guardian) to link an account."""

    __tablename__ = "consent_link_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_did: Mapped[str] = mapped_column(String(512))
    account: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ConsentRecord(Base):
    """One learner x provider x consumer x purpose; `status` mirrors the latest event."""

    __tablename__ = "consent_record"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("consent_subject.id", ondelete="CASCADE"))
    provider_did: Mapped[str] = mapped_column(String(512))
    consumer_did: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(300))
    data_categories: Mapped[list[str]] = mapped_column(JSONDocument)
    legal_basis: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    duration_days: Mapped[int] = mapped_column(Integer)
    notice_version: Mapped[str] = mapped_column(String(40))
    notice_terms: Mapped[dict[str, object]] = mapped_column(JSONDocument)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("subject_id", "consumer_did", "purpose", "provider_did", name="uq_consent_record_subject_consumer_purpose_provider"),
    )


class ConsentEvent(Base):
    """Append-only history of a record: never updated nor deleted (database triggers refuse it)."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("consent_record.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(512))
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    notice_version: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (UniqueConstraint("record_id", "seq", name="uq_consent_event_record_seq"),)


class Webhook(Base):
    """Where a participant (provider or consumer connector) wants consent changes sent."""

    __tablename__ = "consent_webhook"

    participant_did: Mapped[str] = mapped_column(String(512), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Notification(Base):
    """Outbox of signed webhook deliveries, written in the same transaction as the event."""

    __tablename__ = "consent_notification"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    recipient_did: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, object]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_consent_notification_pending", "delivered_at", "next_attempt_at"),)


class ReceivedNotification(Base):
    """A consent change pushed to a participant hosted here (provider or consumer side): the
    connector consults it so a withdrawal stops the next transfer even before a fresh check."""

    __tablename__ = "consent_received_notification"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    participant_did: Mapped[str] = mapped_column(String(512))
    record_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, object]] = mapped_column(JSONDocument)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("participant_did", "record_id", "seq", name="uq_consent_received_notification_event"),
    )


class ConsentExchange(Base):
    """A transfer that released a learner's data under a consent record, as the provider
    reported it after the transfer; what the learner's dashboard lists under "exchanges".

    The consent service keeps no copy of the data, only who sent what to whom, when, under which
    agreement, and whether the consent stood at that moment (it is recomputed here from the
    record's history, not taken from the provider's word)."""

    __tablename__ = "consent_exchange"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("consent_record.id", ondelete="RESTRICT"))
    transfer_id: Mapped[str] = mapped_column(String(200))
    agreement_id: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    consented: Mapped[bool] = mapped_column(Boolean)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("record_id", "transfer_id", name="uq_consent_exchange_record_transfer"),
        Index("ix_consent_exchange_record_at", "record_id", "at"),
    )
