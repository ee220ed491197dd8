"""trip_status: indexes for the time-driven alerts' reads

Every sweep (each minute on a server) read every open trip at a facility or silent for a day,
in Python: the boxes left at their last place for months were read again each time, so a
year of the twin spent more and more of each sweep on them. The sweep now reads the boxes gone
quiet within the last week (last_heard_at) and those at a facility long enough to dwell (since),
each a range read of a partial index over the rows it can concern.

Revision ID: 0006_trip_status_alert_indexes
Revises: 0005_raw_content_lz4
Create Date: 2026-12-05 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_trip_status_alert_indexes'
down_revision = '0005_raw_content_lz4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trip_status', schema=None) as batch_op:
        batch_op.create_index('ix_trip_status_last_heard_at', ['last_heard_at'], unique=False,
                              sqlite_where=sa.text("state != 'delivered'"),
                              postgresql_where=sa.text("state != 'delivered'"))
        batch_op.create_index('ix_trip_status_dwell_since', ['since'], unique=False,
                              sqlite_where=sa.text("state = 'at_facility'"),
                              postgresql_where=sa.text("state = 'at_facility'"))


def downgrade() -> None:
    with op.batch_alter_table('trip_status', schema=None) as batch_op:
        batch_op.drop_index('ix_trip_status_dwell_since')
        batch_op.drop_index('ix_trip_status_last_heard_at')
