"""Tables and schemas of skills interoperability: which learning activity develops which ESCO skill.

An alignment belongs to one store (the hosted participant whose LRS records the activity): two
providers may give the same activity IRI different meanings, and each answers for its own.
`source` tells a provider's own declaration ("declared") from a suggestion of the automatic
mapper ("mapped"), whose `confidence` is below 1; the skills profile keeps both apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dases.catalog.models import EscoSkillUri
from dases.db import Base, UTCDateTime, utcnow

#: Longest activity IRI an alignment accepts: it is part of a unique index, and PostgreSQL's
#: B-tree entries must stay under about 2,700 bytes.
MAX_ACTIVITY_IRI = 512
MAX_ALIGNMENTS_PER_REQUEST = 1000


class AlignmentSource(StrEnum):
    DECLARED = "declared"
    MAPPED = "mapped"


class SkillAlignment(Base):
    __tablename__ = "interop_skill_alignment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The participant slug whose LRS records the activity (its statements' store).
    store: Mapped[str] = mapped_column(String(64))
    activity_id: Mapped[str] = mapped_column(String(MAX_ACTIVITY_IRI))
    skill_uri: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(16), default=AlignmentSource.DECLARED.value)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("store", "activity_id", "skill_uri", name="uq_interop_skill_alignment"),
        Index("ix_interop_skill_alignment_skill", "store", "skill_uri"),
    )


# --- what a participant sends ------------------------------------------------------------------

ActivityIri = Annotated[
    str, StringConstraints(min_length=3, max_length=MAX_ACTIVITY_IRI, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00]+$")
]


class AlignmentIn(BaseModel):
    """One activity developing one ESCO skill."""

    model_config = ConfigDict(extra="forbid")

    activity_id: ActivityIri = Field(description="The xAPI activity IRI, as statements name their object.", examples=["https://lms.example.org/course/42"])
    skill_uri: EscoSkillUri = Field(description="An ESCO skill concept URI.", examples=["http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d"])
    source: AlignmentSource = Field(default=AlignmentSource.DECLARED, description="declared by the provider, or mapped by a tool.")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0, description="How sure the source is (1 for a declaration).")


class AlignmentBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alignments: list[AlignmentIn] = Field(min_length=1, max_length=MAX_ALIGNMENTS_PER_REQUEST)
