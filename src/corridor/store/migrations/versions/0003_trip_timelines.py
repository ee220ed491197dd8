"""trip_timelines, trip_milestones: each trip's timeline, folded event by event

A first read of a trip's timeline read every event of the trip and built the legs and milestones
from them (3x a plain read of those events). The ingest transaction now folds each new event into
the trip's stored milestones (`tracking.timeline.fold_in`), writing again only the milestones it
changes, and a read takes them as sent. Trips that have events from before this revision get
their rows at their next event; until then, and whenever the rows are behind the trip's newest
event, reads build from the events as before.

Revision ID: 0003_trip_timelines
Revises: 0002
Create Date: 2026-11-23 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_trip_timelines'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trip_timelines',
    sa.Column('trip_id', sa.String(length=60), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('basis', sa.String(length=32), nullable=False),
    sa.Column('alerts', sa.Text(), nullable=False),
    sa.Column('milestones', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('trip_id', name=op.f('pk_trip_timelines'))
    )
    op.create_table('trip_milestones',
    sa.Column('trip_id', sa.String(length=60), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=4), nullable=False),
    sa.Column('location', sa.String(length=40), nullable=True),
    sa.Column('vehicle', sa.String(length=80), nullable=True),
    sa.Column('mode', sa.String(length=6), nullable=True),
    sa.Column('departure_id', sa.String(length=60), nullable=True),
    sa.Column('planned', sa.String(length=40), nullable=True),
    sa.Column('estimated', sa.String(length=40), nullable=True),
    sa.Column('actual', sa.String(length=40), nullable=True),
    sa.Column('estimated_range', sa.Text(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('times', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('trip_id', 'n', name=op.f('pk_trip_milestones')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('trip_milestones')
    op.drop_table('trip_timelines')
