"""Tables of the negotiation building block."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, JSONDocument, UTCDateTime, utcnow


class Negotiation(Base):
    """One contract negotiation, seen from one side (a hosted participant as provider or consumer)."""

    __tablename__ = "negotiation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    participant_slug: Mapped[str] = mapped_column(ForeignKey("participant.slug", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8))
    provider_pid: Mapped[str | None] = mapped_column(String(200), default=None)
    consumer_pid: Mapped[str | None] = mapped_column(String(200), default=None)
    state: Mapped[str] = mapped_column(String(16), index=True)
    counterparty_did: Mapped[str] = mapped_column(String(512))
    counterparty_address: Mapped[str | None] = mapped_column(String(2048), default=None)
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    agreement: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    provider_signature: Mapped[str | None] = mapped_column(Text, default=None)
    consumer_signature: Mapped[str | None] = mapped_column(Text, default=None)
    last_received: Mapped[str | None] = mapped_column(String(64), default=None)
    termination_code: Mapped[str | None] = mapped_column(String(64), default=None)
    termination_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("participant_slug", "role", "provider_pid", name="uq_negotiation_provider_pid"),
        UniqueConstraint("participant_slug", "role", "consumer_pid", name="uq_negotiation_consumer_pid"),
        Index("ix_negotiation_participant_state", "participant_slug", "state"),
    )


class NegotiationEvent(Base):
    """Append-only history of a negotiation: every message sent or received, and local actions."""

    __tablename__ = "negotiation_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    negotiation_id: Mapped[str] = mapped_column(ForeignKey("negotiation.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
