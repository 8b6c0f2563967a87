"""Provenance ledger: events, lineage, Merkle nodes, logs, anchors, actors.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prov_actors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("role", sa.SmallInteger, nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("key_index", sa.Integer, nullable=False),
        sa.Column("registration_tx", sa.String(80), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "prov_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("log_id", sa.Integer, nullable=False),
        sa.Column("hash_id", sa.String(120), nullable=False, unique=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("biz_step", sa.String(64), nullable=True),
        sa.Column("event_time", sa.BigInteger, nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("namespaces", sa.Text, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "prov_event_lots",
        sa.Column("event_seq", sa.BigInteger, sa.ForeignKey("prov_events.seq"), primary_key=True),
        sa.Column("lot", sa.String(250), primary_key=True),
        sa.Column("relation", sa.String(3), primary_key=True),
    )
    op.create_index("ix_prov_event_lots_lot", "prov_event_lots", ["lot", "event_seq"])
    op.create_table(
        "prov_lot_heads",
        sa.Column("lot", sa.String(250), primary_key=True),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        sa.Column("hash_id", sa.String(120), nullable=False),
    )
    op.create_table(
        "prov_merkle_nodes",
        sa.Column("log_id", sa.Integer, primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "prov_logs",
        sa.Column("log_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "prov_anchors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("log_id", sa.Integer, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("chain_index", sa.BigInteger, nullable=True),
        sa.Column("tx_hash", sa.String(80), nullable=True),
        sa.Column("block_number", sa.BigInteger, nullable=True),
        sa.Column("timestamp", sa.BigInteger, nullable=True),
        sa.Column("gas_used", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("log_id", "tree_size", name="uq_prov_anchors_size"),
    )


def downgrade() -> None:
    for table in (
        "prov_anchors",
        "prov_logs",
        "prov_merkle_nodes",
        "prov_lot_heads",
        "prov_event_lots",
        "prov_events",
        "prov_actors",
    ):
        op.drop_table(table)
