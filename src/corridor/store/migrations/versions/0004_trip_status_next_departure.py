"""trip_status.next_departure_id, next_departs_at: what each trip's ETA was laid on next

The ETA was laid again only when an event of the trip arrived: a box waiting at Aktau laid on
Monday's sailing kept that ETA after the ferry left without it. Each status row now keeps the
first laid departure the box has not boarded, and the time-driven sweep lays the ETA again for
the rows whose departure has left (`tracking.hooks.relay_missed`), found through a partial index
(rows without one, most of them delivered, are not in it).

Trips under way at this revision get their departure at their next ETA; until then they are
marked due from their last move, so the first sweep lays each of them once and records it.

Revision ID: 0004_trip_status_next_departure
Revises: 0003_trip_timelines
Create Date: 2026-11-24 09:00:00
"""
from alembic import op
import sqlalchemy as sa

import corridor.store.types


revision = '0004_trip_status_next_departure'
down_revision = '0003_trip_timelines'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trip_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_departure_id', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('next_departs_at', corridor.store.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_trip_status_next_departs_at', ['next_departs_at'], unique=False,
                              sqlite_where=sa.text('next_departs_at IS NOT NULL'),
                              postgresql_where=sa.text('next_departs_at IS NOT NULL'))
    op.execute("UPDATE trip_status SET next_departs_at = COALESCE(since, last_heard_at) "
               "WHERE eta IS NOT NULL AND state != 'delivered' "
               "AND trip_id IN (SELECT id FROM trips WHERE ends_at IS NULL)")


def downgrade() -> None:
    with op.batch_alter_table('trip_status', schema=None) as batch_op:
        batch_op.drop_index('ix_trip_status_next_departs_at')
        batch_op.drop_column('next_departs_at')
        batch_op.drop_column('next_departure_id')
