"""trip_status.published_eta: the latest ETA Corridor published for each trip

Every ingest batch read, for each trip that moved, the latest EST Corridor had published for it
from the event log (all of the trip's events, by the trip index) to decide whether the new ETA
moved far enough to publish. The status row now keeps it (tracking.status.fold sets it when a
Corridor EST is folded in); this revision fills it from the log for the trips there are.

Revision ID: 0008_trip_status_published_eta
Revises: 0007_events_service_size_empty
Create Date: 2026-12-07 09:00:00
"""
from alembic import op
import sqlalchemy as sa

import corridor.store.types


revision = '0008_trip_status_published_eta'
down_revision = '0007_events_service_size_empty'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE .. ADD COLUMN (nullable, no default): no table copy on either store
    op.add_column('trip_status', sa.Column('published_eta', corridor.store.types.UTCDateTime(timezone=True),
                                           nullable=True))
    op.execute("UPDATE trip_status SET published_eta = (SELECT e.event_time FROM events e WHERE e.seq = "
               "(SELECT MAX(seq) FROM events WHERE trip_id = trip_status.trip_id "
               "AND source_party = 'CORRIDOR' AND classifier = 'EST'))")


def downgrade() -> None:
    with op.batch_alter_table('trip_status', schema=None) as batch_op:
        batch_op.drop_column('published_eta')
