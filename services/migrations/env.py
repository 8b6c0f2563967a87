"""Alembic environment for the services' tables (run through ``services._store.migrate``)."""

from __future__ import annotations

from alembic import context

from services._store import METADATA, VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called with a connection
    raise RuntimeError("services migrations run through services._store.migrate()")
context.configure(
    connection=connection,
    target_metadata=METADATA,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
