"""Institutions (issue 8): persona records and screenings attached to broadcasts.

``svc_personas``: signed persona versions (their Merkle leaves live in ``prov_merkle_nodes``
under log id 3, ``services._persona``). ``svc_screenings``: negative-list screening reports
attached to broadcast manifests (``services._conduct``).

Early builds created the same tables with ``metadata.create_all``; the upgrade therefore
skips a table that already exists.

Revision ID: s0005
Revises: s0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None


def _exists(name: str) -> bool:
    return bool(sa.inspect(op.get_bind()).has_table(name))


def upgrade() -> None:
    if not _exists("svc_personas"):
        op.create_table(
            "svc_personas",
            sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("streamer", sa.String(64), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("signature", sa.LargeBinary(64), nullable=False),
            sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
            sa.Column("recorded_at", sa.BigInteger, nullable=False),
            sa.UniqueConstraint("streamer", "version", name="uq_svc_personas_version"),
        )
    if not _exists("svc_screenings"):
        op.create_table(
            "svc_screenings",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("manifest_seq", sa.BigInteger, nullable=False),
            sa.Column("manifest_digest", sa.String(80), nullable=False),
            sa.Column("streamer", sa.String(64), nullable=False),
            sa.Column("script_sha256", sa.String(80), nullable=False),
            sa.Column("list_version", sa.String(40), nullable=False),
            sa.Column("flagged_high", sa.Boolean, nullable=False),
            sa.Column("report", sa.Text, nullable=False),
            sa.Column("at", sa.BigInteger, nullable=False),
            sa.UniqueConstraint("manifest_seq", "script_sha256", name="uq_svc_screenings_once"),
        )
        op.create_index("ix_svc_screenings_streamer", "svc_screenings", ["streamer"])


def downgrade() -> None:
    op.drop_index("ix_svc_screenings_streamer", "svc_screenings")
    op.drop_table("svc_screenings")
    op.drop_table("svc_personas")
