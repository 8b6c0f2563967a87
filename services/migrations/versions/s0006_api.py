"""The web service's caller tables: ``api_keys`` (hashes of API keys), ``api_accounts``
(escrow account per actor, buyers) and ``api_nonces`` (signed-request replay window).

Earlier builds created them with ``metadata.create_all`` when the service started; the
upgrade therefore skips a table that already exists (its rows stay).

Revision ID: s0006
Revises: s0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0006"
down_revision = "s0005"
branch_labels = None
depends_on = None


def _exists(name: str) -> bool:
    return bool(sa.inspect(op.get_bind()).has_table(name))


def upgrade() -> None:
    if not _exists("api_keys"):
        op.create_table(
            "api_keys",
            sa.Column("key_hash", sa.String(64), primary_key=True),
            sa.Column("actor_id", sa.String(128), nullable=False),
            sa.Column("created_at", sa.Integer, nullable=False),
            sa.Column("revoked_at", sa.Integer, nullable=True),
        )
        op.create_index("ix_api_keys_actor_id", "api_keys", ["actor_id"])
    if not _exists("api_accounts"):
        op.create_table(
            "api_accounts",
            sa.Column("actor_id", sa.String(128), primary_key=True),
            sa.Column("account", sa.String(42), nullable=False),
            sa.Column("buyer", sa.Integer, nullable=False),
        )
    if not _exists("api_nonces"):
        op.create_table(
            "api_nonces",
            sa.Column("actor_id", sa.String(128), primary_key=True),
            sa.Column("nonce", sa.String(128), primary_key=True),
            sa.Column("seen_at", sa.Integer, nullable=False),
        )
        op.create_index("ix_api_nonces_seen_at", "api_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_table("api_nonces")
    op.drop_table("api_accounts")
    op.drop_table("api_keys")
