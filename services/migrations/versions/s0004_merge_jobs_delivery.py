"""Merge: the jobs table (``s0002``) and order delivery (``s0003``), both written on
``s0001`` in parallel, join here so the history has one head again. No schema change.

Revision ID: s0004
Revises: s0002, s0003
"""

from __future__ import annotations

revision = "s0004"
down_revision = ("s0002", "s0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
