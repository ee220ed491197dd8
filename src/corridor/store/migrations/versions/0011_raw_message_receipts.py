"""raw_messages: one receipt per sender and content; `checked` says a replay judges posting rights

A raw message was keyed by its content alone, across parties: KTZ posted m1.csv, then PORTBAKU
posted the same bytes, and PORTBAKU's post resolved KTZ's open quarantine entries, folded its own
into KTZ's (which PORTBAKU cannot see), and its replay (and, over NATS, its very processing) ran
as KTZ. A receipt is now keyed by SHA-256 of its sender's id, a NUL byte and its content
(`store.ingest.message_id`); a message kept without a sender keeps its content address. Kept
messages move to their receipt ids, and their quarantine entries and events follow them (every
event still links back to the message it came from). A message relayed without a sender whose
sender was then read from it (EDIFACT UNB) cannot be told apart afterwards: it moves to its
sender's id, so the relay's next re-send of it is taken in once more (its events are duplicates).

`checked`: a post of the receipt was judged by its sender's posting rights (an API key's, an MQTT
topic's), so a replay judges it again, whoever replays it. Messages kept before this revision
with a sender are taken as judged (as the NATS workers' sweep takes every pending message).

Revision ID: 0011_raw_message_receipts
Revises: 0010_departures_operator_index
Create Date: 2026-12-08 15:00:00
"""
import hashlib

from alembic import op
import sqlalchemy as sa


revision = '0011_raw_message_receipts'
down_revision = '0010_departures_operator_index'
branch_labels = None
depends_on = None

FK = 'fk_quarantine_message_id_raw_messages'


def _receipt_id(party, content) -> str:
    """As store.ingest.message_id at this revision (frozen here: a migration never changes)."""
    if not party:
        return hashlib.sha256(bytes(content)).hexdigest()
    h = hashlib.sha256(party.encode())
    h.update(b"\0")
    h.update(bytes(content))
    return h.hexdigest()


def _content_id(content) -> str:
    return hashlib.sha256(bytes(content)).hexdigest()


def _hashes(bind) -> tuple[str, str]:
    """SQL for (receipt id of a row, content id of a row) on this store."""
    if bind.dialect.name == "postgresql":
        return ("encode(sha256(convert_to(source_party, 'UTF8') || decode('00', 'hex') || content), 'hex')",
                "encode(sha256(content), 'hex')")
    db = bind.connection.driver_connection
    db.create_function("corridor_receipt_id", 2, _receipt_id, deterministic=True)
    db.create_function("corridor_content_id", 1, _content_id, deterministic=True)
    return "corridor_receipt_id(source_party, content)", "corridor_content_id(content)"


def _move(bind, doomed: bool = False) -> None:
    """Point the quarantine and the events at the ids in receipt_ids, then the messages themselves
    (those `doomed` are deleted: another message holds their new id)."""
    pg = bind.dialect.name == "postgresql"
    if pg:
        op.drop_constraint(FK, 'quarantine', type_='foreignkey')
    else:
        op.execute("PRAGMA defer_foreign_keys = ON")   # checked at commit, when all three agree again
    for table, col in (("quarantine", "message_id"), ("events", "message_id")):
        op.execute(f"UPDATE {table} SET {col} = (SELECT new FROM receipt_ids WHERE old = {table}.{col}) "
                   f"WHERE {col} IN (SELECT old FROM receipt_ids)")
    if doomed:
        op.execute("DELETE FROM raw_messages WHERE id IN (SELECT old FROM receipt_ids WHERE doomed = 1)")
    op.execute("UPDATE raw_messages SET id = (SELECT new FROM receipt_ids WHERE old = raw_messages.id) "
               "WHERE id IN (SELECT old FROM receipt_ids" + (" WHERE doomed = 0)" if doomed else ")"))
    if pg:
        op.create_foreign_key(FK, 'quarantine', 'raw_messages', ['message_id'], ['id'])
    op.execute("DROP TABLE receipt_ids")


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column('raw_messages', sa.Column('checked', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE raw_messages SET checked = :yes WHERE source_party <> ''").bindparams(yes=True))
    receipt, _ = _hashes(bind)
    op.execute("CREATE TEMPORARY TABLE receipt_ids (old VARCHAR(64) PRIMARY KEY, new VARCHAR(64) NOT NULL)")
    op.execute(f"INSERT INTO receipt_ids (old, new) SELECT id, {receipt} FROM raw_messages WHERE source_party <> ''")
    _move(bind)


def downgrade() -> None:
    # back to one message per content: of the receipts of the same bytes, the one kept without a
    # sender, else the first received, stays; the others' entries and events move to it
    bind = op.get_bind()
    _, content = _hashes(bind)
    op.execute("CREATE TEMPORARY TABLE receipt_ids (old VARCHAR(64) PRIMARY KEY, new VARCHAR(64) NOT NULL, "
               "doomed INTEGER NOT NULL DEFAULT 0)")
    op.execute(f"INSERT INTO receipt_ids (old, new) SELECT id, {content} FROM raw_messages WHERE source_party <> ''")
    taken = set(bind.exec_driver_sql("SELECT id FROM raw_messages WHERE source_party = ''").scalars())
    doomed = []
    for old, new in bind.exec_driver_sql(
            "SELECT r.old, r.new FROM receipt_ids r JOIN raw_messages m ON m.id = r.old "
            "ORDER BY m.received_at, m.id").all():
        if new in taken:
            doomed.append({"old": old})
        taken.add(new)
    if doomed:
        bind.execute(sa.text("UPDATE receipt_ids SET doomed = 1 WHERE old = :old"), doomed)
    _move(bind, doomed=True)
    op.execute("ALTER TABLE raw_messages DROP COLUMN checked")   # SQLite has it too: no batch copy of the contents
