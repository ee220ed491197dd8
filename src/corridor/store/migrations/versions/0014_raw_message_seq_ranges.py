"""raw_messages.seq_ranges: where a message's events lie in the log

`corridor messages show` and GET /api/v1/messages/{id} list the events a message stored. The log
has no index of events.message_id (one more index on every append); each processing of a
message records instead the [first, last] seq of the events it stored, and the listing reads
those seq ranges down the log's key. Messages processed before this revision list none.

Revision ID: 0014_raw_message_seq_ranges
Revises: 0013_event_retractions
Create Date: 2026-12-06 08:00:00
"""
from alembic import op
import sqlalchemy as sa

import corridor.store.types


revision = '0014_raw_message_seq_ranges'
down_revision = '0013_event_retractions'
branch_labels = None
depends_on = None


# plain ALTER TABLE on both stores (SQLite 3.35+ drops a column in place): a batch copy of
# raw_messages would rewrite every kept message, and break the keys that point at it
def upgrade() -> None:
    op.add_column('raw_messages', sa.Column('seq_ranges', corridor.store.types.JSONText(), nullable=True))


def downgrade() -> None:
    op.drop_column('raw_messages', 'seq_ranges')
