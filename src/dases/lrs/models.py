"""Tables of the learning record store.

Every row carries `store`: the hosted participant's slug, or `standalone` for `dases lrs serve`.
Statements keep their JSON as text (returned as stored for `format=exact`) beside the columns the
query filters need, each indexed with `store` first and `seq` last, so a filtered page is an
index range scan in insertion order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, UTCDateTime, utcnow

#: Auto-increment 64-bit key on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class Statement(Base):
    __tablename__ = "lrs_statement"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    store: Mapped[str] = mapped_column(String(64))
    statement_id: Mapped[str] = mapped_column(String(36))
    stored: Mapped[datetime] = mapped_column(UTCDateTime())
    verb_id: Mapped[str] = mapped_column(Text)
    #: Canonical inverse functional identifier of the actor (see `dases.lrs.agents.agent_key`).
    actor_key: Mapped[str | None] = mapped_column(Text, default=None)
    object_type: Mapped[str] = mapped_column(String(16))
    #: Activity id, agent key or referenced statement id, by `object_type`.
    object_key: Mapped[str | None] = mapped_column(Text, default=None)
    registration: Mapped[str | None] = mapped_column(String(36), default=None)
    #: The statement id this one voids, when its verb is `voided`.
    voids: Mapped[str | None] = mapped_column(String(36), default=None)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    document: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("store", "statement_id", name="uq_lrs_statement_store_id"),
        Index("ix_lrs_statement_store_stored", "store", "stored", "seq"),
        Index("ix_lrs_statement_store_verb", "store", "verb_id", "stored", "seq"),
        Index("ix_lrs_statement_store_actor", "store", "actor_key", "stored", "seq"),
        Index("ix_lrs_statement_store_object", "store", "object_type", "object_key", "stored", "seq"),
        Index("ix_lrs_statement_store_registration", "store", "registration", "stored", "seq"),
    )


class StatementRelation(Base):
    """Agents and activities a statement mentions beyond its actor and object (context, authority,
    sub-statement...), for `related_agents=true` and `related_activities=true`."""

    __tablename__ = "lrs_statement_relation"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    store: Mapped[str] = mapped_column(String(64))
    statement_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_lrs_statement_relation_lookup", "store", "kind", "key", "statement_id"),)


class Attachment(Base):
    """Attachment payloads, stored once per store and SHA-2 however many statements cite them."""

    __tablename__ = "lrs_attachment"

    store: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha2: Mapped[str] = mapped_column(String(128), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Document(Base):
    """State, Activity Profile and Agent Profile documents. Absent parts of the key are ''."""

    __tablename__ = "lrs_document"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    store: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    activity_id: Mapped[str] = mapped_column(Text, default="")
    agent_key: Mapped[str] = mapped_column(Text, default="")
    registration: Mapped[str] = mapped_column(String(36), default="")
    document_id: Mapped[str] = mapped_column(Text)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(255))
    etag: Mapped[str] = mapped_column(String(64))
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("store", "kind", "activity_id", "agent_key", "registration", "document_id", name="uq_lrs_document_key"),
        Index("ix_lrs_document_listing", "store", "kind", "activity_id", "agent_key", "updated"),
    )


class Activity(Base):
    """The canonical definition of each activity, from the statements that defined it."""

    __tablename__ = "lrs_activity"

    store: Mapped[str] = mapped_column(String(64), primary_key=True)
    activity_id: Mapped[str] = mapped_column(Text, primary_key=True)
    definition: Mapped[str] = mapped_column(Text)


class Credential(Base):
    """An HTTP Basic key of a client of the store. The secret is random and long, so a SHA-256 of
    it is safe to keep and fast to check on every request (a slow hash would cost every call)."""

    __tablename__ = "lrs_credential"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
