"""Catalog: offerings, the federated catalog, facet counts, and each backend's full-text index.

SQLite gets two FTS5 virtual tables (their rows are written by the catalog service in the
transaction that writes the entries); PostgreSQL gets a generated, weighted tsvector column per
entry table with a GIN index, and GIN indexes on the entries' facet tags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dases.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ENTRY_TABLES = ("offering", "federated_offering")
#: The FTS5 tokenizer: Unicode words, case and diacritics folded; prefix indexes for "lea*" and "lear*".
FTS5_OPTIONS = "tokenize = 'unicode61 remove_diacritics 2', prefix = '3 4'"
#: Title weighs most, then keywords, then description; 'simple' so no language's stemming is assumed.
SEARCH_VECTOR = (
    "setweight(to_tsvector('simple'::regconfig, title), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, keywords), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, description), 'C')"
)


def _searchable_columns() -> list[sa.Column]:
    return [
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider_did", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("contains_pii", sa.Boolean(), nullable=False),
        sa.Column("data_mask", sa.Integer(), nullable=False),
        sa.Column("service_mask", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("data_categories", JSON, nullable=False),
        sa.Column("service_categories", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("modified_at", dases.db.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    backend = op.get_bind().dialect.name
    op.create_table(
        "offering",
        *_searchable_columns(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("participant_slug", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("policy", JSON, nullable=False),
        sa.Column("distributions", JSON, nullable=False),
        sa.Column("endpoint_url", sa.String(length=2048), nullable=True),
        sa.Column("landing_page", sa.String(length=2048), nullable=True),
        sa.Column("license", sa.String(length=2048), nullable=True),
        sa.Column("created_at", dases.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", dases.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_slug"], ["participant.slug"], name=op.f("fk_offering_participant_slug_participant")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_offering")),
        sa.UniqueConstraint("id", name=op.f("uq_offering_id")),
        sa.UniqueConstraint("offer_id", name=op.f("uq_offering_offer_id")),
    )
    op.create_index("ix_offering_status_pk", "offering", ["status", "pk"])
    op.create_index("ix_offering_participant", "offering", ["participant_slug", "status", "pk"])

    op.create_table(
        "federated_offering",
        *_searchable_columns(),
        sa.Column("member_did", sa.String(length=512), nullable=False),
        sa.Column("offering_id", sa.String(length=512), nullable=False),
        sa.Column("connector_url", sa.String(length=2048), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("crawled_at", dases.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_federated_offering")),
        sa.UniqueConstraint("member_did", "offering_id", name="uq_federated_offering_member_offering"),
    )

    op.create_table(
        "federated_source",
        sa.Column("member_did", sa.String(length=512), nullable=False),
        sa.Column("connector_url", sa.String(length=2048), nullable=False),
        sa.Column("last_attempt_at", dases.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", dases.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dataset_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("member_did", name=op.f("pk_federated_source")),
    )

    op.create_table(
        "catalog_facet_count",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("provider_did", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("contains_pii", sa.Boolean(), nullable=False),
        sa.Column("data_mask", sa.Integer(), nullable=False),
        sa.Column("service_mask", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope", "provider_did", "kind", "contains_pii", "data_mask", "service_mask", name=op.f("pk_catalog_facet_count")
        ),
    )

    if backend == "sqlite":
        for table in ENTRY_TABLES:
            op.execute(f"CREATE VIRTUAL TABLE {table}_fts USING fts5(title, keywords, description, tags, {FTS5_OPTIONS})")
    elif backend == "postgresql":
        for table in ENTRY_TABLES:
            op.execute(f"ALTER TABLE {table} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({SEARCH_VECTOR}) STORED")
            op.create_index(f"ix_{table}_search_vector", table, ["search_vector"], postgresql_using="gin")
            op.create_index(f"ix_{table}_tags", table, ["tags"], postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"})


def downgrade() -> None:
    backend = op.get_bind().dialect.name
    if backend == "sqlite":
        for table in ENTRY_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    op.drop_table("catalog_facet_count")
    op.drop_table("federated_source")
    op.drop_table("federated_offering")
    op.drop_index("ix_offering_participant", table_name="offering")
    op.drop_index("ix_offering_status_pk", table_name="offering")
    op.drop_table("offering")
