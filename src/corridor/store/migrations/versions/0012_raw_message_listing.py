"""raw_messages: indexes to list the receipts newest first, all or one sender's

`corridor messages list` and GET /api/v1/messages read the newest receipts, of every sender or
of one; without these indexes each such read scanned the table, contents and all.

Revision ID: 0012_raw_message_listing
Revises: 0011_raw_message_receipts
Create Date: 2026-12-06 05:00:00
"""
from alembic import op


revision = '0012_raw_message_listing'
down_revision = '0011_raw_message_receipts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_raw_messages_received', 'raw_messages', ['received_at'], unique=False)
    op.create_index('ix_raw_messages_party_received', 'raw_messages', ['source_party', 'received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_raw_messages_party_received', table_name='raw_messages')
    op.drop_index('ix_raw_messages_received', table_name='raw_messages')
