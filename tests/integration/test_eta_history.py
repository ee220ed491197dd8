"""The observed history the ETA leans on: running time per link from a departure's own reports.

A departure's running time is its arrival report less the report of it leaving its origin. The
leaving reports were read as the newest `max_rows` DEPAs of the whole log, so a departure that
left before that many other reports came in (a ferry waiting out a storm while the railways
report every wagon) gave no running-time sample however recent its arrival; and the read scanned
the whole log when fewer DEPAs than that were in it. They are now read for the arriving
departures themselves, through the departure index — on both stores.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.store import events as evstore
from corridor.store import network as netstore
from corridor.tracking import eta


def _move(code: str, dep, when: datetime, where: str) -> Event:
    return Event(kind=EventKind.TRANSPORT, code=code, classifier=Classifier.ACT, event_time=when, location=where,
                 source_party="KTZ", transport_call=TransportCall(mode="RAIL", location=where, voyage=dep.voyage,
                                                                  departure_id=dep.id))


def test_departures_heard_leaving_before_many_other_reports_still_give_their_running_time(loaded_store):
    now = datetime.now(timezone.utc)
    with loaded_store.read() as conn:
        deps = [d for d, _ in netstore.list_departures(conn, start=now - timedelta(days=20), end=now - timedelta(days=2))
                if d.status != "cancelled"]
        places = {r.id: r.code for r in conn.exec_driver_sql("SELECT id, code FROM locations")}
    by_link: dict[str, list] = {}
    for d in deps:
        by_link.setdefault(d.link_id, []).append(d)
    link = next(k for k, v in by_link.items() if len(v) >= eta.MIN_SAMPLES)
    ours = by_link[link][:eta.MIN_SAMPLES]
    others = [d for d in deps if d.link_id != link][:12]
    late_h = 5.0                       # each 5 h longer on the way than the timetable says
    ref = lambda loc: places.get(loc) or loc   # noqa: E731 - reports name places by their UN/LOCODE
    with loaded_store.tx() as conn:
        evstore.append(conn, [_move("DEPA", d, d.departs_at, ref(d.origin)) for d in ours])
        # a dozen departures of other links heard leaving after them, before they arrive
        evstore.append(conn, [_move("DEPA", d, d.departs_at + timedelta(minutes=1), ref(d.origin)) for d in others])
        evstore.append(conn, [_move("ARRI", d, d.arrives_at + timedelta(hours=late_h), ref(d.destination))
                              for d in ours])
    with loaded_store.read() as conn:
        h = eta.observed(conn, "", max_rows=len(others))   # fewer rows than DEPAs came in since they left
    assert h.delay[link].mid == late_h
    assert link in h.running, h.running
    assert abs(h.running[link].mid - late_h) < 1e-9
