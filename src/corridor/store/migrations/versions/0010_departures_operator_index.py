"""departures: an index on operator

Visibility reads an operator's departures on every read it makes (the events aboard them, the
bookings and boxes booked on them: access.visibility._operated); without the index each such read
scanned the whole timetable (84,000 departures for the default network's horizon, about 30 ms).

Revision ID: 0010_departures_operator_index
Revises: 0009_booking_idempotency_keys
Create Date: 2026-12-08 12:00:00
"""
from alembic import op


revision = '0010_departures_operator_index'
down_revision = '0009_booking_idempotency_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_departures_operator', 'departures', ['operator'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_departures_operator', table_name='departures')
