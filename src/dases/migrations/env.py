"""Alembic environment: runs on the connection DASES hands over (see dases.db.migrate)."""

from typing import Any

from alembic import context

from dases.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("DASES migrations run through dases.db.migrate(), which passes a connection")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """What autogenerate compares. Left out: the catalog's full-text search objects, created by
    raw SQL in its migration and unknown to the models (SQLite FTS5 virtual tables and their
    shadow tables; PostgreSQL `search_vector` columns and their indexes), and indexes the models
    declare for another backend only (the PostgreSQL GIN indexes, on SQLite)."""
    if reflected and compare_to is None and name and ("_fts" in name or "search_vector" in name):
        return False
    if type_ == "index" and not reflected:
        dialect = connection.dialect.name
        for ddl_if in [getattr(obj, "_ddl_if", None)]:
            if ddl_if is not None and ddl_if.dialect is not None and ddl_if.dialect != dialect:
                return False
    return True


context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True, include_object=include_object
)
with context.begin_transaction():
    context.run_migrations()
