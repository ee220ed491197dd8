"""idempotency_keys: a client's Idempotency-Key on POST /api/v1/bookings

A client retrying a booking after a timeout made a second booking holding the same ferry space.
The key is claimed in the booking's own transaction (per party, with a digest of the body and the
booking it made), so a retry with the same key and body answers with the first booking.

Revision ID: 0009_booking_idempotency_keys
Revises: 0008_trip_status_published_eta
Create Date: 2026-12-08 09:00:00
"""
from alembic import op
import sqlalchemy as sa

import corridor.store.types


revision = '0009_booking_idempotency_keys'
down_revision = '0008_trip_status_published_eta'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'idempotency_keys',
        sa.Column('party_id', sa.String(length=40), nullable=False),
        sa.Column('idem_key', sa.String(length=255), nullable=False),
        sa.Column('body_hash', sa.String(length=64), nullable=False),
        sa.Column('booking_ref', sa.String(length=40), nullable=True),
        sa.Column('created_at', corridor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('party_id', 'idem_key'),
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
