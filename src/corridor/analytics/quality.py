"""Data quality per sending party, and the network health score.

Per party, over the period (by received time for messages, event time for events):
- completeness: share of milestone pairs the party reported in full once they were due. A pair
  is LOAD+DISC or DEPA+ARRI of one trip on one vehicle (voyage), or GTIN+GTOT of one trip at one
  place; it is due once the trip has an actual move at another place after the first half. A
  party that reported one half owes the other (a railway that loads a box onto train X also
  reports its discharge from X).
- latency: hours from event time to received time of its actual events (p50, p90); the share
  received within `TIMELY` counts as timeliness.
- duplicates: re-sent events collapsed by the event log (raw_messages.duplicates) over events
  received (stored + duplicates).
- quarantine rate: records held or rejected (raw_messages.rejected) over records received
  (stored + duplicates + rejected).

Network health (0-100) = 40 x completeness + 30 x timeliness + 15 x (1 - duplicate rate)
+ 15 x (1 - quarantine rate). Completeness weighs most because a missing milestone hides a
container; timeliness next because late data makes ETAs and alerts late; duplicates and
quarantine cost work but lose nothing. The corridor's score weights parties by events received.
A component a party gives no evidence for (e.g. no due pairs) counts as 1.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from ..access.visibility import Viewer, event_clause
from ..store.retractions import visible_if
from ..store.tables import events, quarantine, raw_messages
from .stats import ratio, summary

TIMELY = timedelta(hours=24)
WEIGHTS = {"completeness": 40, "timeliness": 30, "duplicates": 15, "quarantine": 15}
PAIRS = {"LOAD": ("DISC", "vehicle"), "DISC": ("LOAD", "vehicle"), "DEPA": ("ARRI", "vehicle"),
         "ARRI": ("DEPA", "vehicle"), "GTIN": ("GTOT", "place"), "GTOT": ("GTIN", "place")}
_HALF = {"LOAD": "LD", "DISC": "LD", "DEPA": "DA", "ARRI": "DA", "GTIN": "GT", "GTOT": "GT"}


def health(completeness: float | None, timeliness: float | None, dup_rate: float | None,
           quarantine_rate: float | None) -> float:
    """The 0-100 health score of one party (see the module docstring)."""
    parts = {"completeness": 1.0 if completeness is None else completeness,
             "timeliness": 1.0 if timeliness is None else timeliness,
             "duplicates": 1.0 - (dup_rate or 0.0), "quarantine": 1.0 - (quarantine_rate or 0.0)}
    return round(sum(WEIGHTS[k] * v for k, v in parts.items()), 1)


def _completeness(rows) -> dict[str, tuple[int, int]]:
    """party -> (halves reported, halves due) from (trip, party, code, time, place, voyage) rows."""
    by_trip = defaultdict(list)
    for r in rows:
        by_trip[r[0]].append(r)
    got, due = defaultdict(int), defaultdict(int)
    for moves in by_trip.values():
        moves.sort(key=lambda r: r[3])
        groups = defaultdict(set)        # (party, pair, scope) -> codes reported
        first_at = {}
        for trip, party, code, t, place, voyage in moves:
            if code not in PAIRS:
                continue
            scope = voyage if PAIRS[code][1] == "vehicle" else place
            if not scope:
                continue
            k = (party, _HALF[code], scope)
            groups[k].add(code)
            first_at.setdefault(k, (t, place))
        for k, codes in groups.items():
            t0, place = first_at[k]
            moved_on = any(r[3] > t0 and r[4] and r[4] != place for r in moves)
            if len(codes) == 2 or moved_on:
                got[k[0]] += len(codes)
                due[k[0]] += 2
    return {p: (got[p], due[p]) for p in due}


def data_quality(conn: Connection, viewer: Viewer | None, start: datetime, end: datetime) -> dict:
    """{"parties": [...per sending party...], "network_health", "timely_hours", "weights"}.

    A viewer that is not the administrator sees only its own row (and its events' figures).
    """
    own = None if viewer is None or viewer.sees_all else viewer.id
    # alerts are the platform's own findings, not reports of a sender
    conds = [events.c.classifier == "ACT", events.c.kind != "ALERT", events.c.event_time >= start,
             events.c.event_time < end]
    if own:
        conds.append(events.c.source_party == own)
    standing = visible_if(conn)   # a withdrawn event is not scored (none kept: no condition)
    if standing is not None:
        conds.append(standing)
    vis = event_clause(viewer) if viewer is not None else None
    if vis is not None:
        conds.append(vis)
    lat = defaultdict(list)
    pair_rows = []
    q = select(events.c.source_party, events.c.event_time, events.c.received_at, events.c.trip_id,
               events.c.code, events.c.location, events.c.voyage).where(and_(*conds))
    for r in conn.execute(q):
        lat[r.source_party].append((r.received_at - r.event_time).total_seconds() / 3600.0)
        if r.trip_id:
            pair_rows.append((r.trip_id, r.source_party, r.code, r.event_time, r.location, r.voyage))
    # moves of other senders decide whether a pair is due, so the trips' other events join in
    comp = _completeness(pair_rows + (_others(conn, {r[0] for r in pair_rows}, own, start, end) if own else []))

    mconds = [raw_messages.c.received_at >= start, raw_messages.c.received_at < end]
    if own:
        mconds.append(raw_messages.c.source_party == own)
    msgs = {}
    for r in conn.execute(select(raw_messages.c.source_party, func.count(), func.sum(raw_messages.c.stored),
                                 func.sum(raw_messages.c.duplicates), func.sum(raw_messages.c.rejected))
                          .where(and_(*mconds)).group_by(raw_messages.c.source_party)):
        msgs[r[0]] = (int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
    qconds = [quarantine.c.created_at >= start, quarantine.c.created_at < end, quarantine.c.status == "open"]
    if own:
        qconds.append(quarantine.c.source_party == own)
    open_q = dict(conn.execute(select(quarantine.c.source_party, func.count()).where(and_(*qconds))
                               .group_by(quarantine.c.source_party)).all())

    rows, weighted, weight = [], 0.0, 0
    for party in sorted(set(lat) | set(msgs) | set(comp)):
        if own and party != own:
            continue
        n_msg, stored, dups, rejected = msgs.get(party, (0, 0, 0, 0))
        hs = lat.get(party, [])
        got, due = comp.get(party, (0, 0))
        completeness = ratio(got, due)
        timeliness = ratio(sum(1 for h in hs if h <= TIMELY.total_seconds() / 3600), len(hs))
        dup_rate = ratio(dups, stored + dups)
        q_rate = ratio(rejected, stored + dups + rejected)
        score = health(completeness, timeliness, dup_rate, q_rate)
        rows.append({"party": party or "(unknown sender)", "messages": n_msg, "events": len(hs),
                     "records_stored": stored, "duplicates": dups, "quarantined": rejected,
                     "open_quarantine": int(open_q.get(party, 0)),
                     "completeness": completeness, "milestones_due": due, "milestones_reported": got,
                     "latency_hours": summary(hs), "timeliness": timeliness,
                     "duplicate_rate": dup_rate, "quarantine_rate": q_rate, "health": score})
        w = stored + dups + rejected or len(hs)
        weighted += score * w
        weight += w
    return {"parties": rows, "network_health": round(weighted / weight, 1) if weight else None,
            "timely_hours": TIMELY.total_seconds() / 3600, "weights": WEIGHTS}


def _others(conn: Connection, trip_ids: set[str], own: str, start: datetime, end: datetime) -> list:
    """Other senders' moves of those trips, as pair rows attributed to a placeholder party."""
    out, ids = [], sorted(trip_ids)
    vis = visible_if(conn) if ids else None
    standing = () if vis is None else (vis,)
    for i in range(0, len(ids), 500):
        q = select(events.c.trip_id, events.c.event_time, events.c.location).where(and_(
            events.c.trip_id.in_(ids[i:i + 500]), events.c.classifier == "ACT",
            events.c.source_party != own, events.c.event_time >= start, events.c.event_time < end + TIMELY * 30,
            *standing))
        out += [(r.trip_id, "\x00other", "", r.event_time, r.location, None) for r in conn.execute(q)]
    return out
