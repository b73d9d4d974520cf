"""Tables of the transfer building block."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, JSONDocument, UTCDateTime, utcnow


class Transfer(Base):
    """One DSP transfer process, seen from one side (a hosted participant as provider or consumer).

    The payload columns say what was (provider) or is to be (consumer) delivered: the file, its
    SHA-256 and size. On the provider they are fixed once, when the payload is released, so every
    resumed download reads the same bytes."""

    __tablename__ = "transfer"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    participant_slug: Mapped[str] = mapped_column(ForeignKey("participant.slug", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8))
    provider_pid: Mapped[str | None] = mapped_column(String(200), default=None)
    consumer_pid: Mapped[str | None] = mapped_column(String(200), default=None)
    agreement_id: Mapped[str] = mapped_column(String(200), index=True)
    offering_id: Mapped[str | None] = mapped_column(String(200), default=None)
    format: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    counterparty_did: Mapped[str] = mapped_column(String(512))
    counterparty_address: Mapped[str | None] = mapped_column(String(2048), default=None)
    data_address: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    purpose: Mapped[str | None] = mapped_column(String(300), default=None)
    payload_path: Mapped[str | None] = mapped_column(Text, default=None)
    payload_staged: Mapped[bool] = mapped_column(Boolean, default=False)
    payload_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    payload_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    payload_mtime_ns: Mapped[int | None] = mapped_column(BigInteger, default=None)
    media_type: Mapped[str | None] = mapped_column(String(128), default=None)
    record_count: Mapped[int | None] = mapped_column(Integer, default=None)
    consent_record_ids: Mapped[list[str] | None] = mapped_column(JSONDocument, default=None)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    last_received: Mapped[str | None] = mapped_column(String(64), default=None)
    termination_code: Mapped[str | None] = mapped_column(String(64), default=None)
    termination_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        UniqueConstraint("participant_slug", "role", "provider_pid", name="uq_transfer_provider_pid"),
        UniqueConstraint("participant_slug", "role", "consumer_pid", name="uq_transfer_consumer_pid"),
        Index("ix_transfer_participant_state", "participant_slug", "state"),
    )


class TransferEvent(Base):
    """Append-only history of a transfer: every message sent or received, and local actions."""

    __tablename__ = "transfer_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfer.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DataSource(Base):
    """Where the data of an offering comes from (a file, a SQL query, the LRS), and how to find
    the learner in each record; the digest columns cache the SHA-256 of a file served as is."""

    __tablename__ = "transfer_source"

    offering_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_slug: Mapped[str] = mapped_column(ForeignKey("participant.slug", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    digest_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    digest_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    digest_mtime_ns: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DataToken(Base):
    """A data plane access token (stored as its SHA-256), bound to one transfer of one agreement
    and to the counterparty that may use it (the consumer pulling, or the provider pushing);
    short-lived, and revoked as soon as the transfer leaves STARTED."""

    __tablename__ = "transfer_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfer.id", ondelete="CASCADE"), index=True)
    agreement_id: Mapped[str] = mapped_column(String(200))
    holder_did: Mapped[str] = mapped_column(String(512))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AgreementRevocation(Base):
    """An agreement a participant revoked: no transfer under it starts or goes on afterwards."""

    __tablename__ = "transfer_agreement_revocation"

    participant_slug: Mapped[str] = mapped_column(ForeignKey("participant.slug", ondelete="CASCADE"), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
