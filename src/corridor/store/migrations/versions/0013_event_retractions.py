"""event_retractions: a sender's DCSA 3.0 retraction of an event, kept beside the event log

A DCSA 3.0 event with `isRetracted: true` says the sender's event of that eventID "has been
retracted and the data in the event must be discarded or ignored". It was only a warning: the
wrong event stayed on the timelines. A retraction is now kept per sender and eventID (the log
stays append-only), and the reads leave out that sender's events of that eventID. The events of
an eventID are found through a partial index on events.event_id (rows without one stay out of it).

Revision ID: 0013_event_retractions
Revises: 0012_raw_message_listing
Create Date: 2026-12-06 07:30:00
"""
from alembic import op
import sqlalchemy as sa

import corridor.store.types


revision = '0013_event_retractions'
down_revision = '0012_raw_message_listing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'event_retractions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('source_party', sa.String(length=40), nullable=False),
        sa.Column('event_id', sa.String(length=100), nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=True),
        sa.Column('retracted_at', corridor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('received_at', corridor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_event_retractions'),
        sa.UniqueConstraint('source_party', 'event_id', name='uq_event_retractions_source_party_event_id'),
    )
    op.create_index('ix_events_event_id', 'events', ['event_id'], unique=False,
                    sqlite_where=sa.text('event_id IS NOT NULL'), postgresql_where=sa.text('event_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_events_event_id', table_name='events',
                  sqlite_where=sa.text('event_id IS NOT NULL'), postgresql_where=sa.text('event_id IS NOT NULL'))
    op.drop_table('event_retractions')
