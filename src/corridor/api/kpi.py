"""GET /api/v1/kpi (and its sections), plots as SVG, and IFTSTA out — on what the caller may see."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response

from ..access.visibility import viewer_for
from ..analytics import plots
from ..analytics.kpi import EmptyPeriod, corridor_kpis, resolve_period
from ..store import Store
from .deps import Principal, get_store, principal
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["kpi"])
SECTIONS = {"volumes": "volumes", "transit": "transit", "on-time": "on_time", "dwell": "dwell",
            "utilisation": "utilisation", "co2e": "co2e", "data-quality": "data_quality"}
FROM = Query(None, alias="from", description="Start, ISO 8601 with offset (default: first actual event)")
TO = Query(None, alias="to", description="End, exclusive, ISO 8601 with offset (default: last event)")


def _doc(store: Store, p: Principal, start: datetime | None, end: datetime | None,
         sections: tuple[str, ...] | None = None) -> dict:
    for name, t in (("from", start), ("to", end)):
        if t is not None and t.tzinfo is None:
            raise Problem(400, "Bad Request", f"'{name}' must carry a UTC offset (ISO 8601), e.g. 2025-01-01T00:00:00Z")
    if start and end and end <= start:
        raise Problem(400, "Bad Request", "'to' must be after 'from'")
    with store.read() as conn:
        try:
            # one end given: the other is the event log's default, and the period must still run forwards
            start, end = resolve_period(conn, start, end)
        except EmptyPeriod as e:
            raise Problem(400, "Bad Request", str(e)) from None
        return corridor_kpis(conn, viewer_for(conn, p.party), start, end, sections=sections)


@router.get("/kpi", summary="Corridor KPIs: volumes, transit, on-time, dwell, utilisation, CO2e, data quality")
def kpi(start: datetime | None = FROM, end: datetime | None = TO, p: Principal = Depends(principal),
        store: Store = Depends(get_store)) -> dict:
    """The same document as `corridor kpi --format json`, over the events the caller may see."""
    return _doc(store, p, start, end)


@router.get("/kpi/plot/{name}.svg", summary="A KPI chart as SVG",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def plot(name: str, start: datetime | None = FROM, end: datetime | None = TO, p: Principal = Depends(principal),
         store: Store = Depends(get_store)) -> Response:
    """Charts: volumes, transit, dwell, co2e, data-quality."""
    if name not in plots.CHARTS:
        raise Problem(404, "Not Found", f"no chart {name!r}; charts: {', '.join(plots.CHARTS)}")
    doc = _doc(store, p, start, end, plots.CHARTS[name])
    return Response(plots.chart(name, doc), media_type="image/svg+xml")


@router.get("/kpi/iftsta", summary="IFTSTA D00B status messages of the caller's containers",
            response_class=PlainTextResponse)
def iftsta(since: datetime | None = Query(None, description="Events from (ISO 8601 with offset)"),
           p: Principal = Depends(principal), store: Store = Depends(get_store)) -> PlainTextResponse:
    from ..analytics.iftsta_out import iftsta_for_party
    with store.read() as conn:
        text, _, _ = iftsta_for_party(conn, viewer_for(conn, p.party), since)
    return PlainTextResponse(text, media_type="application/edifact")


@router.get("/kpi/{section}", summary="One KPI section (volumes, transit, on-time, dwell, utilisation, co2e, data-quality)")
def kpi_section(section: str, start: datetime | None = FROM, end: datetime | None = TO,
                p: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict:
    if section not in SECTIONS:
        raise Problem(404, "Not Found", f"no KPI section {section!r}; sections: {', '.join(SECTIONS)}")
    doc = _doc(store, p, start, end, (SECTIONS[section],))
    return {"period": doc["period"], SECTIONS[section]: doc[SECTIONS[section]]}
