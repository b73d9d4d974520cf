"""Tables of the privacy tools: the operator's pseudonymisation service (study domains, their
sealed keys, admitted members, an audit of batches) and differential privacy budgets.

No table holds an identifier or a pseudonym: the service computes pseudonyms and forgets them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, UTCDateTime, utcnow


class PseudonymDomain(Base):
    """A study domain: learners get the same pseudonym at every provider within it, and
    unlinkable ones across domains."""

    __tablename__ = "pseudonym_domain"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PseudonymKey(Base):
    """One key version of a domain, sealed under the node secret (AES-256-GCM, the domain and
    version bound as associated data). Retired keys stay: chained pseudonyms need them all."""

    __tablename__ = "pseudonym_key"

    domain_name: Mapped[str] = mapped_column(ForeignKey("pseudonym_domain.name", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PseudonymMember(Base):
    """A member admitted to a domain: only they may ask for its pseudonyms."""

    __tablename__ = "pseudonym_member"

    domain_name: Mapped[str] = mapped_column(ForeignKey("pseudonym_domain.name", ondelete="CASCADE"), primary_key=True)
    member_did: Mapped[str] = mapped_column(String(512), primary_key=True)
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PseudonymBatch(Base):
    """Who asked for how many pseudonyms of which domain, when: the audit trail of the service,
    with counts only."""

    __tablename__ = "pseudonym_batch"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True)
    domain_name: Mapped[str] = mapped_column(ForeignKey("pseudonym_domain.name", ondelete="CASCADE"), index=True)
    member_did: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PrivacyBudget(Base):
    """The privacy loss (epsilon) a consumer may spend on one dataset of a participant, and what
    it has spent. Amounts are integers in millionths of epsilon, so that spending adds up
    exactly on every backend."""

    __tablename__ = "privacy_budget"

    participant_slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(200), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(512), primary_key=True)
    total_micro: Mapped[int] = mapped_column(BigInteger)
    spent_micro: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PrivacyCharge(Base):
    """One answered query and the epsilon it cost."""

    __tablename__ = "privacy_charge"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True)
    participant_slug: Mapped[str] = mapped_column(String(63))
    dataset: Mapped[str] = mapped_column(String(200))
    consumer: Mapped[str] = mapped_column(String(512))
    query: Mapped[str] = mapped_column(String(200))
    epsilon_micro: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_privacy_charge_budget", "participant_slug", "dataset", "consumer"),)


class PrivateDataset(Base):
    """A table a participant answers differentially private queries on: consumers never see
    its rows, only noisy aggregates charged to their budget on it."""

    __tablename__ = "privacy_dataset"

    participant_slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    path: Mapped[str] = mapped_column(String(4096))
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
