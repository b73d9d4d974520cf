"""Alembic environment: runs on the connection DASES hands over (see dases.db.migrate)."""

from alembic import context

from dases.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("DASES migrations run through dases.db.migrate(), which passes a connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
