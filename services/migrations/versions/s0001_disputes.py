"""Disputes: orders, disputes, evidence, rulings, activity, scores, tiers (issue 6).

Tolerant of databases from before the services joined the Alembic history: those had the
same tables made by ``metadata.create_all`` and no services revision stamped, so a table or
index that already exists is kept as it is (create_all made it from the same definitions)
and only what is missing is created.

Revision ID: s0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = ("services",)
depends_on = None

WEI = sa.String(80)  # 2**256 has 78 decimal digits
ADDR = sa.String(42)


def _create(name: str, *columns: sa.schema.SchemaItem, indexes: tuple[str, ...] = ()) -> None:
    """Create table ``name`` and its single-column indexes unless create_all made them."""
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(name):
        op.create_table(name, *columns)
        present: set[str | None] = set()
    else:
        present = {ix["name"] for ix in inspector.get_indexes(name)}
    for column in indexes:
        ix = f"ix_{name}_{column}"  # SQLAlchemy's name for Column(..., index=True)
        if ix not in present:
            op.create_index(ix, name, [column])


def upgrade() -> None:
    _create(
        "svc_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("escrow", ADDR, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("buyer", ADDR, nullable=False),
        sa.Column("seller", ADDR, nullable=False),
        sa.Column("streamer", sa.String(200)),
        sa.Column("price", WEI, nullable=False),
        sa.Column("batch", sa.String(500)),
        sa.Column("ship_by", sa.BigInteger, nullable=False),
        sa.Column("deliver_by", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("tx", sa.String(66)),
        sa.UniqueConstraint("escrow", "order_id", name="svc_orders_escrow_order"),
    )
    _create(
        "svc_disputes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("escrow", ADDR, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("rule_by", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("human_deadline", sa.BigInteger),
        sa.Column("tx", sa.String(66)),
        sa.UniqueConstraint("escrow", "order_id", name="svc_disputes_escrow_order"),
    )
    _create(
        "svc_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("escrow", ADDR, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(71), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("party", ADDR),
        sa.Column("added_at", sa.BigInteger, nullable=False),
        sa.Column("tx", sa.String(66)),
        sa.UniqueConstraint("escrow", "order_id", "sha256", name="svc_evidence_once"),
    )
    _create(
        "svc_rulings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("escrow", ADDR, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("code", sa.Integer),
        sa.Column("needs_human", sa.Boolean, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("commitment", sa.String(66), nullable=False),
        sa.Column("arbiter", ADDR),
        sa.Column("tx", sa.String(66)),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    _create(
        "svc_activity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seller", ADDR, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("ref", sa.String(600), nullable=False),
        sa.UniqueConstraint("seller", "kind", "ref", name="svc_activity_once"),
        indexes=("seller",),
    )
    _create(
        "svc_scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seller", ADDR, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("commitment", sa.String(66), nullable=False),
        sa.Column("tx", sa.String(66)),
        indexes=("seller",),
    )
    _create(
        "svc_tiers",
        sa.Column("seller", ADDR, primary_key=True),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_svc_scores_seller", "svc_scores")
    op.drop_index("ix_svc_activity_seller", "svc_activity")
    for table in (
        "svc_tiers",
        "svc_scores",
        "svc_activity",
        "svc_rulings",
        "svc_evidence",
        "svc_disputes",
        "svc_orders",
    ):
        op.drop_table(table)
