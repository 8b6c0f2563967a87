"""Orders: destination and the provenance receive event that delivered them.

``destination`` is the EPCIS location (an SGLN, say) the order goes to; ``received_at`` and
``receipt_event`` are the receive event the oracle found there (``livetrust order sync``)
and ``delivered_tx`` its ``mark_delivered`` transaction.

Revision ``s0002`` is taken by the jobs table (services/api), written in parallel: both
revise ``s0001``, so the history has two heads until a merge revision joins them, and
``services._store.migrate`` upgrades to all heads.

Revision ID: s0003
Revises: s0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0003"
down_revision = "s0001"
branch_labels = None
depends_on = None

COLUMNS = (
    ("destination", sa.String(250)),
    ("received_at", sa.BigInteger),
    ("receipt_event", sa.String(120)),
    ("delivered_tx", sa.String(66)),
)


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("svc_orders")}
    for name, type_ in COLUMNS:
        if name not in present:  # a store made by create_all from newer definitions has it
            op.add_column("svc_orders", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("svc_orders") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
