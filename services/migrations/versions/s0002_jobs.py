"""Background jobs of the web service, shared by its uvicorn workers (issue 7).

One row per job (bundle or clip verification): the worker that took the upload runs it and
writes state, progress and result here, so a client may poll any worker.

Revision ``s0003`` (order delivery) was written in parallel and also revises ``s0001``: the
history has two heads until a merge revision joins them; ``services._store.migrate``
upgrades to all heads. Like ``s0001``, a table that ``create_all`` already made is kept.

Revision ID: s0002
Revises: s0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("svc_jobs"):
        op.create_table(
            "svc_jobs",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("progress", sa.Float, nullable=False),
            sa.Column("stage", sa.String(200), nullable=False),
            sa.Column("worker", sa.String(100), nullable=False),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("updated", sa.Float, nullable=False),
            sa.Column("finished", sa.Float),
            sa.Column("result", sa.Text),
            sa.Column("error", sa.Text),
        )
        present: set[str | None] = set()
    else:
        present = {ix["name"] for ix in inspector.get_indexes("svc_jobs")}
    if "ix_svc_jobs_created" not in present:
        op.create_index("ix_svc_jobs_created", "svc_jobs", ["created"])


def downgrade() -> None:
    op.drop_index("ix_svc_jobs_created", table_name="svc_jobs")
    op.drop_table("svc_jobs")
