"""notices.modes: the modes a place's notice holds for

A storm closes a Caspian port to ships, not the railway that runs through the same place (Alat,
Aktau, Kuryk are rail stations too): a closure, queue or works notice may name the modes it
holds for, and only those departures are cancelled or delayed, only those arrivals wait.
Null (every notice before this revision): every mode, as before.

Revision ID: 0015_notice_modes
Revises: 0014_raw_message_seq_ranges
Create Date: 2026-12-06 08:20:00
"""
from alembic import op
import sqlalchemy as sa

import corridor.store.types


revision = '0015_notice_modes'
down_revision = '0014_raw_message_seq_ranges'
branch_labels = None
depends_on = None


# plain ALTER TABLE on both stores (SQLite 3.35+ drops a column in place)
def upgrade() -> None:
    op.add_column('notices', sa.Column('modes', corridor.store.types.JSONText(), nullable=True))


def downgrade() -> None:
    op.drop_column('notices', 'modes')
