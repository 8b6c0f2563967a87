"""Alembic environment for the provenance ledger (run through ``Store.migrate``)."""

from __future__ import annotations

from alembic import context

from provenance._store import VERSION_TABLE, Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called with a connection
    raise RuntimeError("provenance migrations run through provenance.Store.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
