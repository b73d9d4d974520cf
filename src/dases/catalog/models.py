"""Tables and vocabularies of the catalog.

Two kinds of catalog entries share the searchable columns of `SearchableEntry`:

- `Offering`: what a participant hosted on this node publishes (the source of truth, with its
  ODRL offer and distributions);
- `FederatedOffering`: on the operator node, a dataset read from a member's DSP catalog.

Search does not read these rows one by one: it goes through the full-text index (SQLite FTS5
virtual tables, or a PostgreSQL tsvector column, both created by migration 0002 only on their
backend) and through `FacetCount`, a running count of entries per combination of facet values,
so that facet counts of a filtered browse never scan the entries (see `dases.catalog.index`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy import Text as LongText
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, JSONDocument, UTCDateTime, utcnow
from dases.types import Text


class OfferingKind(StrEnum):
    DATASET = "dataset"
    DATA_SERVICE = "data_service"
    SOFTWARE_SERVICE = "software_service"
    #: A course or programme; its `skills` say which ESCO skills it teaches.
    TRAINING = "training"


class DataCategory(StrEnum):
    """The kinds of data the education & skills data space exchanges.

    Append only: a category's position is its bit in `data_mask` and in the stored facet counts.
    """

    LEARNING_TRACES = "learning_traces"
    SKILLS_PROFILE = "skills_profile"
    HARD_SKILLS = "hard_skills"
    SOFT_SKILLS = "soft_skills"
    LEARNING_EXPERIENCE = "learning_experience"
    PROFESSIONAL_EXPERIENCE = "professional_experience"
    JOB_OFFERS = "job_offers"
    TRAINING_OFFERS = "training_offers"
    ASSESSMENT_RESULTS = "assessment_results"
    CREDENTIALS = "credentials"


class ServiceCategory(StrEnum):
    """What the data space's services do with the data. Append only, like `DataCategory`."""

    ADAPTIVE_LEARNING = "adaptive_learning"
    LEARNING_ANALYTICS = "learning_analytics"
    SKILLS_MATCHING = "skills_matching"
    TRAINING_MATCHING = "training_matching"
    JOB_MATCHING = "job_matching"
    CAREER_GUIDANCE = "career_guidance"
    DROPOUT_DETECTION = "dropout_detection"
    SKILLS_ASSESSMENT = "skills_assessment"


LABELS: dict[str, str] = {
    OfferingKind.DATASET: "Dataset",
    OfferingKind.DATA_SERVICE: "Data service",
    OfferingKind.SOFTWARE_SERVICE: "Software service",
    OfferingKind.TRAINING: "Training",
    DataCategory.LEARNING_TRACES: "Learning traces",
    DataCategory.SKILLS_PROFILE: "Skills profile",
    DataCategory.HARD_SKILLS: "Hard skills",
    DataCategory.SOFT_SKILLS: "Soft skills",
    DataCategory.LEARNING_EXPERIENCE: "Learning experience",
    DataCategory.PROFESSIONAL_EXPERIENCE: "Professional experience",
    DataCategory.JOB_OFFERS: "Job offers",
    DataCategory.TRAINING_OFFERS: "Training offers",
    DataCategory.ASSESSMENT_RESULTS: "Assessment results",
    DataCategory.CREDENTIALS: "Diplomas, certificates and badges",
    ServiceCategory.ADAPTIVE_LEARNING: "Adaptive learning",
    ServiceCategory.LEARNING_ANALYTICS: "Learning analytics",
    ServiceCategory.SKILLS_MATCHING: "Skills matching",
    ServiceCategory.TRAINING_MATCHING: "Training matching",
    ServiceCategory.JOB_MATCHING: "Job matching",
    ServiceCategory.CAREER_GUIDANCE: "Career guidance",
    ServiceCategory.DROPOUT_DETECTION: "Early dropout detection",
    ServiceCategory.SKILLS_ASSESSMENT: "Skills assessment",
}

#: IRIs of the vocabularies, used as dcat:theme / dct:type in DSP and DCAT-AP documents.
DATA_CATEGORY_IRI = "urn:dases:data-category:"
SERVICE_CATEGORY_IRI = "urn:dases:service-category:"
OFFERING_KIND_IRI = "urn:dases:offering-kind:"
CONTAINS_PII_IRI = "urn:dases:vocab:containsPII"
#: ESCO skill concepts, as every ESCO v1.x release names them.
ESCO_SKILL_PATTERN = r"^http://data\.europa\.eu/esco/skill/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EscoSkillUri = Annotated[str, StringConstraints(pattern=ESCO_SKILL_PATTERN, max_length=80)]


def category_mask(values: list[str], vocabulary: type[StrEnum]) -> int:
    """The bit set of `values` in `vocabulary` (a value's bit is its declaration position)."""
    members = list(vocabulary)
    mask = 0
    for value in values:
        mask |= 1 << members.index(vocabulary(value))
    return mask


class OfferingStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class SearchableEntry:
    """Columns every searchable catalog entry has: the text, and one column per facet.

    `data_mask` / `service_mask` hold the categories as bits (for counting); `tags` holds one
    opaque key per facet value and keyword (for filtering: FTS5 terms on SQLite, a GIN-indexed
    jsonb array on PostgreSQL). Both are derived from the readable columns by the index.
    """

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_did: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(24))
    contains_pii: Mapped[bool] = mapped_column(Boolean)
    data_mask: Mapped[int] = mapped_column(Integer, default=0)
    service_mask: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(LongText)
    keywords: Mapped[list[str]] = mapped_column(JSONDocument)
    data_categories: Mapped[list[str]] = mapped_column(JSONDocument)
    service_categories: Mapped[list[str]] = mapped_column(JSONDocument)
    tags: Mapped[list[str]] = mapped_column(JSONDocument)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Offering(SearchableEntry, Base):
    """A dataset, data service, software service or training a hosted participant offers under an ODRL policy."""

    __tablename__ = "offering"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    offer_id: Mapped[str] = mapped_column(String(64), unique=True)
    participant_slug: Mapped[str] = mapped_column(ForeignKey("participant.slug"))
    status: Mapped[str] = mapped_column(String(16), default=OfferingStatus.ACTIVE.value)
    policy: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    distributions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    endpoint_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    landing_page: Mapped[str | None] = mapped_column(String(2048), default=None)
    license: Mapped[str | None] = mapped_column(String(2048), default=None)
    #: ESCO skill URIs a training teaches (empty for other kinds), for recommendations.
    skills: Mapped[list[str]] = mapped_column(JSONDocument, default=list, server_default=sa_text("'[]'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        Index("ix_offering_status_pk", "status", "pk"),
        Index("ix_offering_participant", "participant_slug", "status", "pk"),
        Index("ix_offering_tags", "tags", postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"}).ddl_if(
            dialect="postgresql"
        ),
    )


class FederatedOffering(SearchableEntry, Base):
    """A dataset of a member's DSP catalog, as the operator's crawler last read it."""

    __tablename__ = "federated_offering"

    member_did: Mapped[str] = mapped_column(String(512))
    offering_id: Mapped[str] = mapped_column(String(512))
    connector_url: Mapped[str] = mapped_column(String(2048))
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    crawled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("member_did", "offering_id", name="uq_federated_offering_member_offering"),
        Index("ix_federated_offering_tags", "tags", postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"}).ddl_if(
            dialect="postgresql"
        ),
    )


class FederatedSource(Base):
    """A member's catalog as a source of the federated catalog: where, when, and how it went."""

    __tablename__ = "federated_source"

    member_did: Mapped[str] = mapped_column(String(512), primary_key=True)
    connector_url: Mapped[str] = mapped_column(String(2048))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(LongText, default=None)
    dataset_count: Mapped[int] = mapped_column(Integer, default=0)


class FacetCount(Base):
    """How many entries of a scope ('local' or 'federated') have exactly this facet combination.

    Kept in step with the entries in the same transaction; a browse or filter-only search sums
    these rows (a few hundred, whatever the number of entries) instead of counting entries.
    """

    __tablename__ = "catalog_facet_count"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider_did: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    contains_pii: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    data_mask: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_mask: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


# --- what a publisher sends ----------------------------------------------------------------

_FORMAT = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
_MEDIA_TYPE = r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$"
Url = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]
Keyword = Annotated[Text, StringConstraints(min_length=1, max_length=64, pattern=r"\S")]


class DistributionIn(BaseModel):
    """One way of obtaining the data: a DSP transfer format through the provider's connector."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(default="HttpData-PULL", pattern=_FORMAT, description="DSP transfer format, e.g. HttpData-PULL.")
    media_type: str | None = Field(default=None, pattern=_MEDIA_TYPE, examples=["application/json"], description="IANA media type of the data.")
    title: Text | None = Field(default=None, max_length=300)
    description: Text | None = Field(default=None, max_length=2000)


def _default_distributions() -> list[DistributionIn]:
    return [DistributionIn()]


class OfferingIn(BaseModel):
    """An offering as its publisher describes it; the node adds ids, provider and connector."""

    model_config = ConfigDict(extra="forbid")

    kind: OfferingKind = OfferingKind.DATASET
    title: Text = Field(min_length=1, max_length=300, pattern=r"\S", examples=["Anonymised MOOC learning traces 2025"])
    description: Text = Field(min_length=1, max_length=5000, pattern=r"\S")
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    data_categories: list[DataCategory] = Field(default_factory=list, max_length=len(DataCategory))
    service_categories: list[ServiceCategory] = Field(default_factory=list, max_length=len(ServiceCategory))
    contains_pii: bool = Field(description="Whether the data (or the data a service processes) is personal data.")
    policy: dict[str, Any] = Field(
        description="The ODRL offer, compact DSP form: permission / prohibition / obligation rules; the node assigns its @id.",
        examples=[{"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]}],
    )
    distributions: list[DistributionIn] = Field(default_factory=_default_distributions, min_length=1, max_length=10)
    endpoint_url: Url | None = Field(default=None, description="The service's own endpoint (data and software services).")
    landing_page: Url | None = None
    license: Url | None = None
    skills: list[EscoSkillUri] = Field(
        default_factory=list,
        max_length=50,
        description="ESCO skills a training teaches (kind training only), e.g. http://data.europa.eu/esco/skill/<uuid>.",
    )
