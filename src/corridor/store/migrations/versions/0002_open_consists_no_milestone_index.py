"""open consists by member; no index on milestone_key

The ingest path reads a message's members' open consist rows (`until IS NULL`) by member id alone:
`ix_consists_member` leads with member_kind, so that read scanned the whole table (10% of a
simulated year). `ix_events_milestone` served no query and cost a random page write per event.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consists', schema=None) as batch_op:
        batch_op.create_index('ix_consists_open_member', ['member_id'], unique=False,
                              sqlite_where=sa.text('until IS NULL'), postgresql_where=sa.text('until IS NULL'))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_milestone')


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_milestone', ['milestone_key'], unique=False)
    with op.batch_alter_table('consists', schema=None) as batch_op:
        batch_op.drop_index('ix_consists_open_member')
