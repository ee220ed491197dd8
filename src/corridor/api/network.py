"""GET /api/v1/network: locations and links, the same JSON as `corridor network show --json`;
GET /api/v1/locations/{code}/queue: the containers waiting at a place now."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request

from ..access.visibility import cached_viewer
from ..booking.service import departure_json
from ..cli.network import network_json
from ..domain.equipment import teu_of
from ..domain.network import Network
from ..store import Store
from ..store.queues import Waiting, events_head, facility_queue
from .deps import Principal, get_store, principal

router = APIRouter(prefix="/api/v1", tags=["network"])


@router.get("/network", summary="The corridor network: locations and links")
def get_network(request: Request, _: Principal = Depends(principal)) -> dict:
    """Every location (code, name, country, timezone, kind, lat, lon) and link of the network."""
    return network_json(request.app.state.network())


def _gone(dep: tuple | None, now: datetime) -> bool:
    """The box is still here while this departure was cancelled or has already left."""
    return dep is not None and (dep[0].status == "cancelled" or dep[0].departs_at <= now)


def _waiting_json(w: Waiting, zone: ZoneInfo, now: datetime, network: Network) -> dict:
    booked = departure_json(*w.booked, network) if w.booked else None
    if booked is not None:
        booked["missed"] = _gone(w.booked, now)
    expected = None
    if w.expected is not None and (w.booked is None or w.expected[0].id != w.booked[0].id):
        expected = departure_json(*w.expected, network)   # laid elsewhere than booked: a re-laid ETA
    return {"equipment": w.equipment, "trip_id": w.trip_id, "size_type": w.size_type, "teu": teu_of(w.size_type),
            "booking_ref": w.booking_ref, "since": w.since.astimezone(zone).isoformat() if w.since else None,
            "waiting_hours": round((now - w.since).total_seconds() / 3600, 1) if w.since else None,
            "last_heard": w.last_heard_at.astimezone(zone).isoformat() if w.last_heard_at else None,
            "booked_departure": booked, "expected_departure": expected}


@router.get("/locations/{code}/queue", summary="Containers waiting at a place now, longest waiting first")
def location_queue(request: Request, code: str,
                   limit: int = Query(1000, ge=1, le=20000, description="rows listed; totals count every box"),
                   p: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict:
    """Every container whose current status is at this facility (gated in or discharged, not yet
    loaded or gone), as the caller may see it: an operator of the place or an authority of its
    country sees every box, the operator of a departure (a ferry line) the boxes booked on its
    departures from or to here, a shipper or forwarder its own and those nominated to it. Each with
    since when (the place's local time and offset), hours waiting, TEU, its booking's departure out
    of here (`missed` when it left or was cancelled without the box) and, where the ETA is laid on
    another, that one; totals of boxes, TEU, the oldest wait and the boxes whose booked departure
    went without them. `cursor` is the newest event sequence number read before the queue: the
    live stream from `after=cursor` carries every change since."""
    network: Network = request.app.state.network()
    loc = network.resolve(code)
    zone, now = ZoneInfo(loc.timezone), datetime.now(timezone.utc)
    with store.read() as conn:
        cursor = events_head(conn)
        rows = facility_queue(conn, loc.ref, loc.id, cached_viewer(conn, p.party))
    oldest = min((w for w in rows if w.since), key=lambda w: w.since, default=None)
    return {
        "location": {"code": loc.ref, "id": loc.id, "name": loc.name, "timezone": loc.timezone},
        "as_of": now.astimezone(zone).isoformat(timespec="seconds"),
        "totals": {"boxes": len(rows), "teu": sum(teu_of(w.size_type) for w in rows),
                   "booked_out": sum(1 for w in rows if w.booked),
                   "missed_booked_departure": sum(1 for w in rows if _gone(w.booked, now)),
                   "oldest_since": oldest.since.astimezone(zone).isoformat() if oldest else None,
                   "oldest_waiting_hours": round((now - oldest.since).total_seconds() / 3600, 1) if oldest else None},
        "containers": [_waiting_json(w, zone, now, network) for w in rows[:limit]],
        "truncated": len(rows) > limit,
        # follow on from here: GET /api/v1/stream?facility={code}&after={cursor}
        "cursor": cursor,
    }
