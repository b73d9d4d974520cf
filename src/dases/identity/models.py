"""Tables of the identity building block."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dases.db import Base, JSONDocument, UTCDateTime, utcnow


class Participant(Base):
    """An organisation or service hosted on this node, with its own DID and keys."""

    __tablename__ = "participant"

    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    did: Mapped[str] = mapped_column(String(512), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    keys: Mapped[list[ParticipantKey]] = relationship(
        back_populates="participant", order_by="ParticipantKey.created_at", lazy="selectin"
    )


class ParticipantKey(Base):
    """An Ed25519 key of a participant; the private half is sealed under the node secret."""

    __tablename__ = "participant_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_slug: Mapped[str] = mapped_column(ForeignKey("participant.slug", ondelete="CASCADE"), index=True)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONDocument)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    participant: Mapped[Participant] = relationship(back_populates="keys")

    @property
    def active(self) -> bool:
        return self.retired_at is None


class UsedToken(Base):
    """A call token already accepted, kept until it expires so it cannot be replayed."""

    __tablename__ = "used_token"

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_used_token_expires_at", "expires_at"),)
