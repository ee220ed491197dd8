"""events: the transport call's service code, the equipment's size-type and empty indicator

A DCSA event's `transportCall.carrierServiceCode` (3.0 `serviceCodeOrReference`), its
`ISOEquipmentCode` and `emptyIndicatorCode` were parsed into the Event but had no column, so
GET /v2/events gave them back without a service or size-type and with every empty box LADEN,
and the carrierServiceCode filter could match only a mapped timetable departure's service.
All three are nullable: rows stored before this revision keep NULL (not known). Adding a
nullable column without a default rewrites no table on either store.

Revision ID: 0007_events_service_size_empty
Revises: 0006_trip_status_alert_indexes
Create Date: 2026-12-06 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_events_service_size_empty'
down_revision = '0006_trip_status_alert_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE .. ADD COLUMN: SQLite has it too, so no batch copy of the event log
    op.add_column('events', sa.Column('size_type', sa.String(length=35), nullable=True))
    op.add_column('events', sa.Column('empty', sa.Boolean(), nullable=True))
    op.add_column('events', sa.Column('service', sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('service')
        batch_op.drop_column('empty')
        batch_op.drop_column('size_type')
