"""Alerts, each from a constructed case through the real ingest path: LATE against the promise,
MISS of the booked departure, OFFR off the booked route, SILN nothing heard, DWEL above normal;
alerts are stored events and reach subscriptions through the outbox."""

from __future__ import annotations


from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from corridor.domain.events import Classifier, Event, EventKind
from corridor.store import tracking as repo
from corridor.store.tables import departures as departures_table, events, outbox, trip_status
from corridor.tracking import alerts, hooks, outbox as subs
from corridor.tracking.alerts import DEFAULT_DWELL_HOURS, LATE_TOLERANCE, SILENT_HOURS

from tracking_helpers import booked_sailing, box_event, ingest, vehicle_left

BOX = "MSCU1234566"


def alerts_of(store, box: str = BOX) -> list:
    with store.read() as conn:
        return conn.execute(select(events).where(events.c.kind == "ALERT", events.c.equipment == box)
                            .order_by(events.c.seq)).all()


def status_of(store, box: str = BOX):
    with store.read() as conn:
        return conn.execute(select(trip_status).where(trip_status.c.equipment == box)).one()


@pytest.fixture
def ferry_booking(loaded_store):
    """ACME booked on an Aktau -> Alat sailing ten days ago, with a later sailing on the same link."""
    return booked_sailing(loaded_store, (12, 8))


def test_box_after_the_ferry_left_raises_miss_and_late(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.departs_at + timedelta(days=2)         # the booked sailing left two days ago
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    st = status_of(loaded_store)
    codes = {a.code: a for a in alerts_of(loaded_store)}
    assert "MISS" in codes
    assert codes["MISS"].extra["booked"] == booked.id and codes["MISS"].extra["next"] != booked.id
    assert codes["MISS"].reason.startswith(f"missed the booked departure {booked.id}; next with space: ")
    # the ETA is laid on a later sailing: beyond the promise by more than the tolerance -> LATE
    assert st.eta > rec.promised_arrival + LATE_TOLERANCE
    late = codes["LATE"]
    assert late.event_time == rec.promised_arrival and late.location == "AZALA"
    assert datetime.fromisoformat(late.extra["eta"]) == st.eta
    assert "ACME" in late.parties and late.trip_id == st.trip_id


def test_a_miss_days_ahead_is_said_as_a_forecast_until_the_departure_has_left():
    # the ETA finds the box cannot make a booked leg downstream: until that departure leaves it is
    # "expected to miss" (with when it leaves); once gone, "missed"; a cancelled one, "cancelled"
    from corridor.tracking.eta import Eta
    t = datetime(2026, 3, 1, 6, tzinfo=timezone.utc)
    leaves = t + timedelta(days=6)
    st = {"trip_id": "T1", "equipment": BOX, "booking_ref": "B1", "parties": "ACME", "last_heard_at": t,
          "since": t, "location": "CNXIA"}
    eta = Eta(at=t + timedelta(days=12), low=t, high=t + timedelta(days=14), missed=(("L15-1", "L15-2"),),
              missed_as=(("scheduled", leaves),))
    places = type("P", (), {"ref_of": {}})()
    [miss] = alerts.on_eta(st, eta, {}, places)
    assert miss.reason == f"expected to miss the booked departure L15-1 (it leaves {leaves.isoformat()}); " \
                          "next with space: L15-2"
    [miss] = alerts.on_eta({**st, "last_heard_at": leaves + timedelta(hours=1)}, eta, {}, places)
    assert miss.reason == "missed the booked departure L15-1; next with space: L15-2"
    cancelled = Eta(at=eta.at, low=eta.low, high=eta.high, missed=eta.missed, missed_as=(("cancelled", leaves),))
    [miss] = alerts.on_eta(st, cancelled, {}, places)
    assert miss.reason == "the booked departure L15-1 is cancelled; next with space: L15-2"
    # said once as a forecast: not again while it is one, whatever departure it suggests next
    assert alerts.on_eta(st, eta, {}, places, said={("L15-1", "expected")}) == []
    other_next = Eta(at=eta.at, low=eta.low, high=eta.high, missed=(("L15-1", "L15-3"),), missed_as=eta.missed_as)
    assert alerts.on_eta(st, other_next, {}, places, said={("L15-1", "expected")}) == []
    # nor when it has come true (the shipper knew); a cancellation is news, once
    gone = {**st, "last_heard_at": leaves + timedelta(hours=1)}
    assert alerts.on_eta(gone, eta, {}, places, said={("L15-1", "expected")}) == []
    assert alerts.on_eta(st, eta, {}, places, said={("L15-1", "missed")}) == []
    assert [m.extra["as"] for m in alerts.on_eta(st, cancelled, {}, places, said={("L15-1", "expected")})] \
        == ["cancelled"]
    assert alerts.on_eta(st, cancelled, {}, places, said={("L15-1", "cancelled")}) == []
    # a MISS stored before `as` was kept said it in some form
    assert alerts.on_eta(st, cancelled, {}, places, said={("L15-1", None)}) == []
    # late for the train, so for the ferry after it too: the first missed is the alert, the rest
    # follow from it (the published ETA says where they lead)
    chain = Eta(at=eta.at, low=eta.low, high=eta.high, missed=(("L15-1", "L15-2"), ("L20-1", "L20-3")),
                missed_as=(("scheduled", leaves), ("scheduled", leaves + timedelta(days=2))))
    assert [m.extra["booked"] for m in alerts.on_eta(st, chain, {}, places)] == ["L15-1"]
    assert alerts.on_eta(st, chain, {}, places, said={("L15-1", "expected")}) == []


def test_box_in_time_for_its_sailing_raises_nothing(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    ingest(loaded_store, [box_event("GTIN", booked.departs_at - timedelta(hours=30), "KZAAU", box=BOX,
                                    bkg=rec.ref)], "ACME")
    assert status_of(loaded_store).eta is not None
    assert [a.code for a in alerts_of(loaded_store)] == []


def test_box_reported_off_the_booked_route_raises_offr(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    ingest(loaded_store, [box_event("GTIN", booked.departs_at - timedelta(days=1), "KZDOS", box=BOX,
                                    bkg=rec.ref)], "ACME")
    offr = [a for a in alerts_of(loaded_store) if a.code == "OFFR"]
    assert len(offr) == 1 and "KZDOS" in offr[0].reason and "KZAAU" in offr[0].reason


def test_silence_aboard_counts_from_when_its_vehicle_was_due_to_leave_then_to_arrive(loaded_store, ferry_booking):
    # put aboard: nothing is expected before the vessel is due to leave; heard leaving, nothing
    # before it is due where the box is set down
    rec, booked = ferry_booking
    load = booked.departs_at - timedelta(hours=1)
    ingest(loaded_store, [box_event("LOAD", load, "KZAAU", box=BOX, bkg=rec.ref, mode="VESSEL",
                                    voyage=booked.id)], "ACME")
    silent = timedelta(hours=SILENT_HOURS)
    assert hooks.sweep(loaded_store, booked.departs_at + silent - timedelta(hours=1)) == 0   # not overdue yet
    assert hooks.sweep(loaded_store, booked.departs_at + silent + timedelta(hours=1)) == 1
    assert hooks.sweep(loaded_store, booked.departs_at + silent + timedelta(hours=5)) == 0   # the same alert again
    [first] = [a for a in alerts_of(loaded_store) if a.code in ("SILN", "DWEL")]           # aboard: no dwell
    assert first.code == "SILN" and first.event_time == booked.departs_at + silent
    assert "due to leave KZAAU" in first.reason
    # the line's report of the vessel leaving comes in late: a new spell, from when it is due at Alat
    left = booked.departs_at + timedelta(minutes=30)
    out = vehicle_left(loaded_store, left, booked.id, "KZAAU", "VESSEL")
    assert out.stored == 2, out.reasons   # the vessel's move and the box's aboard it
    assert hooks.sweep(loaded_store, left + silent + timedelta(hours=1)) == 0            # on its way
    assert hooks.sweep(loaded_store, booked.arrives_at + silent + timedelta(hours=2)) == 1
    second = [a for a in alerts_of(loaded_store) if a.code == "SILN"][-1]
    assert "due at AZALA" in second.reason
    assert left + silent + timedelta(hours=1) < second.event_time <= booked.arrives_at + silent + timedelta(hours=2)


def waiting_for_the_sailing(store, rec, booked, came):
    """The box gates in at Aktau at `came`, laid on its booked sailing; then nothing is heard."""
    ingest(store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    st = status_of(store)
    assert (st.next_departure_id, st.next_departs_at) == (booked.id, booked.departs_at)


def silences(store, box: str = BOX) -> list:
    return [a for a in alerts_of(store, box) if a.code == "SILN"]


def test_a_box_waiting_for_its_sailing_is_not_silent_until_the_sailing_left_without_a_word(
        loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.departs_at - timedelta(days=2)
    waiting_for_the_sailing(loaded_store, rec, booked, came)
    for h in (SILENT_HOURS + 1, 2 * SILENT_HOURS - 1):                          # waiting, as planned
        hooks.sweep(loaded_store, came + timedelta(hours=h))
    assert silences(loaded_store) == [] and alerts_of(loaded_store) == []
    # the sailing left; the sweep lays the box on a later one and says MISS: missed (it has left,
    # though the box's last report is older than that), not "expected to miss" a departure gone
    hooks.sweep(loaded_store, booked.departs_at + timedelta(hours=2))
    assert status_of(loaded_store).next_departure_id not in (None, booked.id)
    [miss] = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    assert miss.extra["as"] == "missed" and miss.reason.startswith(f"missed the booked departure {booked.id};")
    assert miss.event_time == booked.departs_at      # missed when it left, not when the box came
    # that MISS told the shipper: the silence after it is no news (a long stay is DWEL)
    for h in (SILENT_HOURS - 1, SILENT_HOURS + 1, SILENT_HOURS + 7):
        hooks.sweep(loaded_store, booked.departs_at + timedelta(hours=h))
    assert silences(loaded_store) == []
    assert sorted(a.code for a in alerts_of(loaded_store)) == ["DWEL", "LATE", "MISS"]   # said once each


def test_the_first_silent_sweep_after_a_restart_says_it_once(loaded_store):
    # the expected move is laid again from the box's reports, not kept from the process before: an
    # unbooked box (its sender's plan ends at Alat) left at Aktau by the sailing it was laid on
    box = "TGHU7654320"
    came = datetime.now(timezone.utc) - timedelta(days=12)
    ingest(loaded_store, [unbooked_box_event("GTIN", came, "KZAAU", box),
                          unbooked_box_event("DISC", came + timedelta(days=4), "AZALA", box, Classifier.PLN)], "ACME")
    left = status_of(loaded_store, box).next_departs_at
    hooks.sweep(loaded_store, left + timedelta(hours=2))                        # laid on a later sailing
    assert status_of(loaded_store, box).next_departs_at > left
    for h in (1, 2):
        alerts._MOVES.clear()
        hooks._SAID.clear()
        hooks.sweep(loaded_store, left + timedelta(hours=SILENT_HOURS + h))
    assert [(a.code, a.event_time) for a in alerts_of(loaded_store, box)] == \
        [("SILN", left + timedelta(hours=SILENT_HOURS))]


def test_a_box_with_no_departure_laid_is_silent_24_hours_after_its_last_report(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.arrives_at + timedelta(hours=3)
    # a booking Corridor does not know: no destination, so nothing is laid after the report
    rec = type("Unknown", (), {"ref": "BK-NOT-HERE"})
    ingest(loaded_store, [box_event("GTIN", came, "AZALA", box=BOX, bkg=rec.ref)], "ACME")
    assert status_of(loaded_store).next_departs_at is None
    assert hooks.sweep(loaded_store, came + timedelta(hours=SILENT_HOURS - 1)) == 0
    assert hooks.sweep(loaded_store, came + timedelta(hours=SILENT_HOURS + 1)) == 1
    siln = [a for a in alerts_of(loaded_store) if a.code == "SILN"]
    assert [(a.event_time, a.location) for a in siln] == [(came + timedelta(hours=SILENT_HOURS), "AZALA")]
    assert siln[0].reason == f"nothing heard since {came.astimezone(timezone.utc).isoformat()} (25 h)"
    # heard again: a new spell is news again, once
    ingest(loaded_store, [box_event("STRP", came + timedelta(hours=30), "AZALA", box=BOX, bkg=rec.ref)], "ACME")
    for h in (30 + SILENT_HOURS + 1, 30 + SILENT_HOURS + 2):
        hooks.sweep(loaded_store, came + timedelta(hours=h))
    assert [a.event_time - came for a in silences(loaded_store)] == [timedelta(hours=h) for h in (24, 54)]


def test_a_box_waiting_for_its_consignee_at_its_destination_is_not_silent_but_dwells(loaded_store, ferry_booking):
    # delivered to the end of its booking, the box waits for pick-up: no move is due, so a quiet
    # day is no news; a stay above the normal dwell is
    rec, booked = ferry_booking
    came = booked.arrives_at + timedelta(hours=3)
    ingest(loaded_store, [box_event("DISC", came, "AZALA", box=BOX, bkg=rec.ref)], "ACME")
    for h in (SILENT_HOURS + 1, 2 * SILENT_HOURS + 1, DEFAULT_DWELL_HOURS - 1):
        hooks.sweep(loaded_store, came + timedelta(hours=h))
    assert silences(loaded_store) == [] and alerts_of(loaded_store) == []
    hooks.sweep(loaded_store, came + timedelta(hours=DEFAULT_DWELL_HOURS + 1))
    assert [(a.code, a.location) for a in alerts_of(loaded_store)] == [("DWEL", "AZALA")]


def test_misses_of_two_departures_or_a_cancellation_after_a_forecast_are_each_stored(loaded_store, ferry_booking):
    # alerts collapse onto their time and place when repeated; a MISS is also about its booked
    # departure and how it is missed, so these are three alerts, not one kept and two dropped
    rec, booked = ferry_booking
    came = booked.departs_at - timedelta(days=1)
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    st = status_of(loaded_store)._asdict()
    st["parties"] = "ACME"
    said = [alerts.alert(st, "MISS", came, f"{how} {dep}", extra={"booked": dep, "next": "N", "as": how})
            for dep, how in (("L15-1", "expected"), ("L15-2", "expected"), ("L15-1", "cancelled"))]
    with loaded_store.tx() as conn:
        stored = hooks.store_derived(conn, said + said[:1])           # the first one twice: a repeat
    assert len(stored) == 3
    assert sorted((a.extra["booked"], a.extra["as"]) for a in alerts_of(loaded_store) if a.code == "MISS"
                  and a.extra["next"] == "N") == [("L15-1", "cancelled"), ("L15-1", "expected"), ("L15-2", "expected")]


def test_dwell_above_normal_raises_dwel_and_reaches_subscriptions(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    with loaded_store.tx() as conn:
        corridor_sub = subs.create(conn, "ACME", "http://127.0.0.1:9/cb", b"k" * 32, {"format": "corridor"})
        dcsa_sub = subs.create(conn, "ACME", "http://127.0.0.1:9/cb", b"k" * 32, {})
    came = booked.departs_at - timedelta(days=1)
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    before = hooks.sweep(loaded_store, came + timedelta(hours=DEFAULT_DWELL_HOURS - 2), silent_hours=1e6)
    assert before == 0
    assert hooks.sweep(loaded_store, came + timedelta(hours=DEFAULT_DWELL_HOURS + 3), silent_hours=1e6) == 1
    dwel = [a for a in alerts_of(loaded_store) if a.code == "DWEL"]
    assert len(dwel) == 1 and dwel[0].location == "KZAAU"
    assert dwel[0].event_time == came + timedelta(hours=DEFAULT_DWELL_HOURS)
    with loaded_store.read() as conn:
        queued = {(r.subscription_id, r.event_seq) for r in conn.execute(select(outbox)).all()}
    assert (corridor_sub, dwel[0].seq) in queued          # an alert is a notification like any event
    assert (dcsa_sub, dwel[0].seq) not in queued          # DCSA 2.2 has no alert events
    assert any(s == dcsa_sub for s, _ in queued)          # ...but the GTIN itself went to both


def test_a_missed_connection_is_alerted_once_while_the_box_moves_on_toward_it(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.departs_at + timedelta(days=2)         # the booked sailing left two days ago
    # gate in, out to the truck park, in again: three state changes, one missed connection
    for i, code in enumerate(("GTIN", "GTOT", "GTIN")):
        ingest(loaded_store, [box_event(code, came + timedelta(hours=3 * i), "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    misses = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    assert len(misses) == 1, [(a.event_time, a.extra) for a in misses]
    assert misses[0].extra["booked"] == booked.id


def test_a_missed_connection_is_not_alerted_again_when_the_sailing_it_suggests_changes(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.departs_at + timedelta(days=2)         # the booked sailing left two days ago
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    [first] = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    with loaded_store.read() as conn:
        suggested = conn.execute(select(departures_table).where(departures_table.c.id == first.extra["next"])).one()
    # the box is still at Aktau after the sailing the MISS suggested left (out to the truck park and
    # in again): its ETA moves to a later one, which the published ETA says; the booked departure
    # was missed once, and is alerted once
    later = suggested.departs_at + timedelta(hours=6)
    for i, code in enumerate(("GTOT", "GTIN")):
        ingest(loaded_store, [box_event(code, later + timedelta(hours=i), "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    assert status_of(loaded_store).next_departure_id not in (None, first.extra["next"])
    misses = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    assert [(a.extra["booked"], a.extra["as"]) for a in misses] == [(booked.id, "missed")], \
        [(a.event_time, a.extra) for a in misses]


def test_the_sweep_reads_its_candidates_through_indexes(store):
    # not a scan of every trip ever tracked: boxes left at their last place for months are not read
    with store.engine.connect() as conn:
        sql = repo.alert_candidates_sql(conn)
        if store.dialect == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, ("2030-01-01",) * 6))
            assert "SCAN" not in plan, plan
            named = ("ix_trip_status_last_heard_at", "ix_trip_status_next_departs_at", "ix_trip_status_dwell_since")
        else:   # the planner weighs the ranges by the table's statistics
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")   # only this transaction
            t = datetime(2030, 1, 1, tzinfo=timezone.utc)
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, (t,) * 6))
            named = ("ix_trip_status_last_heard_at", "ix_trip_status_dwell_since")
    for index in named:
        assert index in plan, plan


def test_a_closure_notice_lays_the_eta_of_a_box_waiting_for_a_cancelled_sailing_again(loaded_store, ferry_booking):
    from corridor.notices.service import publish
    rec, booked = ferry_booking
    waiting_for_the_sailing(loaded_store, rec, booked, booked.departs_at - timedelta(hours=20))
    before = status_of(loaded_store)
    # Aktau closes over the booked sailing: it is cancelled, the box waits for a later one, now
    publish(loaded_store, operator="PORTAKTAU", kind="closure", location="KZ_AKX",
            starts_at=booked.departs_at - timedelta(hours=2), ends_at=booked.departs_at + timedelta(hours=30),
            text="storm", is_admin=True, now=booked.departs_at - timedelta(hours=3))
    after = status_of(loaded_store)
    assert after.next_departure_id != booked.id and after.eta > before.eta
    assert after.next_departs_at >= booked.departs_at + timedelta(hours=30)
    miss = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    assert [a.reason.split(";")[0] for a in miss] == [f"the booked departure {booked.id} is cancelled"]


def test_a_closure_notice_does_not_lay_a_waiting_box_on_a_sailing_gone_before_it(loaded_store, ferry_booking):
    # the box gated in before an earlier sailing of the link (any line) and waits for its own; the
    # notice comes after that earlier one left without the box: laid again as of the notice, the
    # ETA cannot take it (the box's last report alone would allow it)
    from corridor.notices.service import publish
    from corridor.store import network as netstore
    rec, booked = ferry_booking
    notice_at = booked.departs_at - timedelta(hours=3)
    with loaded_store.read() as conn:
        gone = [d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA",
                                                        end=notice_at - timedelta(hours=2))
                if d.status != "cancelled"][-1]
    waiting_for_the_sailing(loaded_store, rec, booked, gone.departs_at - timedelta(hours=6))
    publish(loaded_store, operator="PORTAKTAU", kind="closure", location="KZ_AKX",
            starts_at=booked.departs_at - timedelta(hours=2), ends_at=booked.departs_at + timedelta(hours=30),
            text="storm", is_admin=True, now=notice_at)
    after = status_of(loaded_store)
    assert after.next_departure_id not in (booked.id, gone.id)
    assert after.next_departs_at >= booked.departs_at + timedelta(hours=30)


def test_a_ship_due_into_a_closed_port_waits_at_anchor_until_it_opens(loaded_store, ferry_booking):
    from corridor.notices.service import publish
    rec, booked = ferry_booking
    ingest(loaded_store, [box_event("LOAD", booked.departs_at - timedelta(hours=1), "KZAAU", box=BOX, bkg=rec.ref,
                                    mode="VESSEL", voyage=booked.id)], "ACME")
    before = status_of(loaded_store)
    assert before.state == "at_sea"
    # Alat closes over the time the ship would berth: the booking is told, and its ETA waits
    opens = booked.arrives_at + timedelta(days=2)
    publish(loaded_store, operator="PORTBAKU", kind="closure", location="AZ_ALA",
            starts_at=booked.arrives_at - timedelta(hours=12), ends_at=opens, text="storm", is_admin=True,
            now=booked.departs_at)
    assert [a.code for a in alerts_of(loaded_store) if a.code == "NOTC"] == ["NOTC"]
    assert before.eta < opens <= status_of(loaded_store).eta


def unbooked_box_event(code: str, when: datetime, where: str, box: str, cls: Classifier = Classifier.ACT) -> Event:
    """A report of a box no booking names (its sender's plan says where its trip ends)."""
    return Event(kind=EventKind.EQUIPMENT, code=code, classifier=cls, event_time=when, location=where,
                 equipment=box, size_type="42G1")


def test_a_box_left_behind_by_its_booked_sailing_is_not_silent_after_its_miss_but_an_unbooked_one_is(
        loaded_store, ferry_booking):
    # both boxes wait at Aktau for a sailing, which leaves without them; the terminal reports them
    # there (an inspection) after it left; then nothing is heard. The booked box's MISS says it missed
    # its sailing: the silence after it is no news (its long stay still is). The unbooked box has no
    # MISS: its silence is the only word of it
    rec, booked = ferry_booking
    came = booked.departs_at - timedelta(days=2)
    waiting_for_the_sailing(loaded_store, rec, booked, came)
    free = "TGHU7654320"
    ingest(loaded_store, [unbooked_box_event("GTIN", came, "KZAAU", free),
                          unbooked_box_event("DISC", came + timedelta(days=4), "AZALA", free, Classifier.PLN)], "ACME")
    st = status_of(loaded_store, free)
    assert st.booking_ref is None and st.next_departs_at is not None
    sailed = {BOX: booked.departs_at, free: st.next_departs_at}
    for box, left in sailed.items():
        ingest(loaded_store, [unbooked_box_event("INSP", left + timedelta(hours=3), "KZAAU", box)], "ACME")
    assert status_of(loaded_store).next_departure_id == booked.id      # still: an inspection moves no ETA
    first, last = min(sailed.values()) + timedelta(hours=4), max(sailed.values()) + timedelta(hours=60)
    for i in range(int((last - first) / timedelta(hours=6)) + 1):       # as the twin sweeps
        hooks.sweep(loaded_store, first + timedelta(hours=6 * i))
    misses = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    assert [(a.extra["booked"], a.extra["as"]) for a in misses] == [(booked.id, "missed")]
    assert status_of(loaded_store).next_departure_id not in (None, booked.id)
    assert silences(loaded_store) == []
    assert [(a.code, a.event_time) for a in alerts_of(loaded_store) if a.code == "DWEL"] == \
        [("DWEL", came + timedelta(hours=DEFAULT_DWELL_HOURS))]
    siln = [a for a in alerts_of(loaded_store, free) if a.code == "SILN"]
    assert [(a.location, a.event_time) for a in siln] == \
        [("KZAAU", sailed[free] + timedelta(hours=3 + SILENT_HOURS))]
    assert [a.code for a in alerts_of(loaded_store, free) if a.code == "MISS"] == []


def test_a_box_with_no_plan_aboard_a_train_is_silent_when_the_train_is_overdue_not_a_day_into_its_run(loaded_store):
    # two boxes put on train T100 at Dostyk and heard leaving with it: one has its sender's plan
    # (discharge at Alat), so its ride to the Caspian is laid; the other nobody planned. The train
    # sets both down together, so neither is silent before the train is overdue there
    from corridor.domain.events import TransportCall
    planned, lone = "TGHU7654320", "MSKU7654328"
    t0 = datetime.now(timezone.utc) - timedelta(days=12)

    def on_train(code: str, when: datetime, box: str) -> Event:
        return Event(kind=EventKind.EQUIPMENT, code=code, classifier=Classifier.ACT, event_time=when,
                     location="KZDOS", equipment=box, size_type="42G1",
                     transport_call=TransportCall(mode="RAIL", location="KZDOS", voyage="T100"))
    left = t0 + timedelta(hours=2)
    ingest(loaded_store, [on_train("LOAD", t0, planned), on_train("LOAD", t0, lone),
                          unbooked_box_event("DISC", t0 + timedelta(days=8), "AZALA", planned, Classifier.PLN)], "ACME")
    # the railway reports the train leaving: ingest moves every box on it
    out = vehicle_left(loaded_store, left, "T100", "KZDOS", "RAIL")
    assert out.stored == 3, out.reasons   # the train's move and each box's aboard it
    assert status_of(loaded_store, lone).eta is None and status_of(loaded_store, planned).eta is not None
    silent = timedelta(hours=SILENT_HOURS)
    hooks.sweep(loaded_store, left + silent + timedelta(hours=1))       # a day into a run of days
    assert silences(loaded_store, planned) == [] and silences(loaded_store, lone) == []
    trips = [status_of(loaded_store, b).trip_id for b in (planned, lone)]
    with loaded_store.read() as conn:
        rows = repo.statuses(conn, trips)
        due = alerts.expected_moves(conn, [rows[t] for t in trips])
    (arrives, what, _), lone_move = due[trips[0]], due[trips[1]]
    assert lone_move == (arrives, what, None) and what.startswith("its vehicle was due at KZ")   # Aktau or Kuryk
    assert arrives > left + 2 * silent
    hooks.sweep(loaded_store, arrives + silent + timedelta(hours=1))      # the train is overdue
    [siln] = silences(loaded_store, lone)
    assert siln.event_time == arrives + silent and siln.reason.endswith(what)
    assert [a.event_time for a in silences(loaded_store, planned)] == [arrives + silent]


def test_a_miss_is_stamped_when_it_became_known_not_when_the_box_got_where_it_is():
    # put on a train at Xi'an on the 1st, heard leaving on the 7th too late for a departure on the
    # 6th: the alert is of the report of the 7th (the box was not late on the 1st, when its state
    # began); found by a sweep on the 9th with no report since the 1st: of when the departure left
    from corridor.tracking.eta import Eta
    put, gone, heard = (datetime(2026, 3, d, 6, tzinfo=timezone.utc) for d in (1, 6, 7))
    st = {"trip_id": "T1", "equipment": BOX, "booking_ref": "B1", "parties": "ACME", "last_heard_at": heard,
          "since": put, "location": "CNXIA"}
    eta = Eta(at=heard + timedelta(days=12), low=heard, high=heard + timedelta(days=14),
              missed=(("L07-1", "L07-2"),), missed_as=(("scheduled", gone),))
    places = type("P", (), {"ref_of": {}})()
    [miss] = alerts.on_eta(st, eta, {}, places)
    assert (miss.event_time, miss.extra["as"]) == (heard, "missed")
    quiet = {**st, "last_heard_at": put}
    [miss] = alerts.on_eta(quiet, eta, {}, places, now=gone + timedelta(days=3))
    assert (miss.event_time, miss.extra["as"]) == (gone, "missed")
    # a forecast: of the report it was laid from
    ahead = Eta(at=eta.at, low=eta.low, high=eta.high, missed=eta.missed,
                missed_as=(("scheduled", heard + timedelta(days=2)),))
    [miss] = alerts.on_eta(st, ahead, {}, places)
    assert (miss.event_time, miss.extra["as"]) == (heard, "expected")
