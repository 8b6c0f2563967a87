"""Clip authenticity: signed broadcast manifests (issue 5).

Their Merkle leaves live in ``prov_merkle_nodes`` under log id 2 (``watermark._manifest``).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clip_manifests",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("streamer", sa.String(64), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("streamer", "start", name="uq_clip_manifests_start"),
    )
    op.create_index("ix_clip_manifests_streamer", "clip_manifests", ["streamer", "start"])


def downgrade() -> None:
    op.drop_index("ix_clip_manifests_streamer", "clip_manifests")
    op.drop_table("clip_manifests")
