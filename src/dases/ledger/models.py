"""Tables of the ledger: its entries, and one head row per participant that serialises appends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, JSONDocument, UTCDateTime

GENESIS_HASH = "0" * 64


class LedgerEntry(Base):
    """One recorded fact; never updated nor deleted (database triggers refuse it), and any
    change made behind the triggers' back breaks the hash chain or a signature."""

    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    participant_slug: Mapped[str] = mapped_column(String(63))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("participant_slug", "seq", name="uq_ledger_entry_participant_seq"),)


class LedgerHead(Base):
    """The last sequence number and hash of a participant's ledger. Appending locks this row
    first, so appends are serialised; verifying compares the chain's end with it, so a deleted
    last entry is noticed too."""

    __tablename__ = "ledger_head"

    participant_slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
