"""The twin's report: transit per origin-destination, Caspian queues and waits, fill, monthly
throughput, the calibration table against the public figures, and small dependency-free SVG plots."""

from __future__ import annotations

import json
import statistics
from datetime import timedelta
from pathlib import Path

from .model import Stats

# Public figures (../shared/reference/corridor-facts.md) the model's defaults must fall inside.
CALIBRATION = [
    # (key, figure, low, high, unit, source)
    ("xian_baku_days", "Xi'an -> Baku (Absheron) transit", 8, 16, "days",
     "ADY/Azernews 8-12 d; Trend 11-17 d; 16 d avg Jan 2026 (corridor-facts §1)"),
    ("border_georgia_days", "China border -> Georgian port (Poti/Batumi)", 10, 13, "days",
     "ADY via News.az 2024-09: China -> Georgian ports 12 days (border-counted)"),
    ("caspian_crossing_hours", "Caspian crossing Aktau/Kuryk -> Alat", 14, 24, "hours",
     "travel reports ~18 h (corridor-facts §3)"),
    ("alat_handling_mean_hours", "Alat vessel handling, mean", 15, 25, "hours",
     "TITR protocol: 2024 average 20.1 h"),
    ("alat_handling_max_hours", "Alat vessel handling, maximum", 0, 30, "hours",
     "TITR protocol: at most 30 h per vessel"),
]


def _q(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else None


def _dist(values) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": round(statistics.fmean(values), 2), "p10": round(_q(values, .1), 2),
            "p50": round(_q(values, .5), 2), "p90": round(_q(values, .9), 2), "max": round(max(values), 2)}


def _timed(steps: list, until: float, i: int) -> dict:
    """Time-weighted mean, p10/p50/p90 and max over [0, until] of column `i` of a step function
    [(hour, value, ...), ...] (each value holds from its hour to the next), and the hours covered."""
    spans = []
    for (h, *vals), nxt in zip(steps, steps[1:] + [(until,)]):
        end = min(nxt[0], until)
        if end > h:
            spans.append((vals[i], end - h))
    total = sum(d for _v, d in spans)
    if not total:
        return {"hours": 0}

    def q(p):
        acc = 0.0
        for v, d in sorted(spans):
            acc += d
            if acc >= p * total - 1e-9:
                return v
        return spans[-1][0]
    return {"hours": round(total, 1), "mean": round(sum(v * d for v, d in spans) / total, 2), "p10": q(.1),
            "p50": q(.5), "p90": q(.9), "max": max(v for v, _d in spans)}


def _until(st: Stats) -> float:
    """The hour the statistics run to: the model's clock, else the last queue change."""
    if st.clock is not None:
        return st.clock()
    return max((w.steps[-1][0] for w in st.queue.values()), default=0.0)


# what a calibration figure needs from the run, said when the run is too short to have it
NEEDS = {"xian_baku_days": "no box from Xi'an has reached Absheron",
         "border_georgia_days": "no box has reached Poti or Batumi",
         "caspian_crossing_hours": "no vessel has crossed the Caspian",
         "alat_handling_mean_hours": "no vessel has been handled at Alat",
         "alat_handling_max_hours": "no vessel has been handled at Alat"}


def calibration(st: Stats) -> list[dict]:
    """The model's figures beside the public ones, each with `inside` = within the public range."""
    xian = [d for (o, dst), v in st.transit_days.items() if o == "CN_XIA" and dst == "AZ_ABS" for d in v]
    geo = st.border_to_dest_days.get("GE_PTI", []) + st.border_to_dest_days.get("GE_BUS", [])
    model = {"xian_baku_days": statistics.fmean(xian) if xian else None,
             "border_georgia_days": statistics.fmean(geo) if geo else None,
             "caspian_crossing_hours": statistics.fmean(st.crossing) if st.crossing else None,
             "alat_handling_mean_hours": statistics.fmean(st.alat_handling) if st.alat_handling else None,
             "alat_handling_max_hours": max(st.alat_handling) if st.alat_handling else None}
    rows = []
    for key, figure, lo, hi, unit, source in CALIBRATION:
        m = model[key]
        row = {"key": key, "figure": figure, "public_low": lo, "public_high": hi, "unit": unit,
               "model": round(m, 1) if m is not None else None,
               "inside": lo <= m <= hi if m is not None else None, "source": source}
        if m is None:   # not a miss: the run is too short to say (`inside` is null)
            row["note"] = f"not enough data: {NEEDS[key]} yet"
        rows.append(row)
    return rows


def _minute(t0, hours: float) -> str:
    """A sim hour as an ISO time to the minute, as the twin's messages carry it."""
    return (t0 + timedelta(minutes=round(hours * 60))).isoformat()


def report_data(st: Stats, t0) -> dict:
    """Everything the report shows, as JSON-ready data."""
    ports = {}
    until = _until(st)
    for port in sorted(set(st.queue) | set(st.port_wait)):
        steps = st.queue[port].steps if port in st.queue else [(0.0, 0, 0)]
        # every box waiting there for its crossing (on the quay or aboard a ship not yet sailed),
        # time-weighted over the run
        still = list(st.queue[port].since.values()) if port in st.queue else []
        ports[port] = {"queue_teu": _timed(steps, until, 0), "queue_boxes": _timed(steps, until, 1),
                       "wait_hours": _dist(st.port_wait.get(port, [])),
                       # boxes not sailed by the end of the run: their waits so far are not in wait_hours
                       "still_waiting": {"boxes": len(still), "teu": sum(t for _h, t in still),
                                         "hours_so_far_mean": round(statistics.fmean(until - h for h, _t in still), 2)
                                         if still else None},
                       "departure_fill": _dist(st.fill.get(port, [])), "sailings": len(st.fill.get(port, []))}
    return {
        "transit_days": {f"{o}->{d}": _dist(v) for (o, d), v in sorted(st.transit_days.items())},
        "ports": ports,
        "monthly": {m: {"containers": c, "teu": t} for m, (c, t) in sorted(st.monthly.items())},
        "storm_closures": [{"from": _minute(t0, a), "to": _minute(t0, b)} for a, b in st.closures],
        "calibration": calibration(st),
    }


# ---- SVG --------------------------------------------------------------------------------------
def _svg(width, height, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11"><title>{title}</title>'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="10" y="16" font-size="13" font-weight="bold">{title}</text>' + "".join(body) + "</svg>")


def bar_chart(labels: list[str], values: list[float], title: str, unit: str = "") -> str:
    """A vertical bar chart as an SVG document."""
    w, h, left, bottom = max(320, 40 * len(labels) + 60), 260, 50, 40
    top = max(values) if values and max(values) > 0 else 1
    bw = (w - left - 10) / max(1, len(labels))
    body = [f'<line x1="{left}" y1="{h - bottom}" x2="{w - 5}" y2="{h - bottom}" stroke="#333"/>',
            f'<text x="5" y="{30}">{top:.0f} {unit}</text>']
    for i, (lab, v) in enumerate(zip(labels, values)):
        bh = (h - bottom - 35) * v / top
        x = left + i * bw
        body.append(f'<rect x="{x + 2:.1f}" y="{h - bottom - bh:.1f}" width="{bw - 4:.1f}" height="{bh:.1f}" '
                    f'fill="#3b7dd8"/>')
        body.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 14}" text-anchor="middle" '
                    f'font-size="9">{lab}</text>')
    return _svg(w, h, body, title)


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str) -> str:
    """One line per series over a shared x axis, as an SVG document."""
    w, h, left, bottom = 640, 280, 50, 40
    pts = [p for s in series.values() for p in s] or [(0, 0)]
    xmax = max(x for x, _ in pts) or 1
    ymax = max(y for _, y in pts) or 1
    colours = ["#3b7dd8", "#d8543b", "#2a9d4b", "#8e44ad"]
    body = [f'<line x1="{left}" y1="{h - bottom}" x2="{w - 5}" y2="{h - bottom}" stroke="#333"/>',
            f'<text x="5" y="30">{ymax:.0f} {ylabel}</text>',
            f'<text x="{w - 5}" y="{h - 10}" text-anchor="end">{xlabel}</text>']
    for i, (name, s) in enumerate(series.items()):
        path = " ".join(f"{left + (w - left - 10) * x / xmax:.1f},{h - bottom - (h - bottom - 35) * y / ymax:.1f}"
                        for x, y in s)
        c = colours[i % len(colours)]
        body.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.2" points="{path}"/>')
        body.append(f'<text x="{w - 150}" y="{30 + 14 * i}" fill="{c}">{name}</text>')
    return _svg(w, h, body, title)


def histogram(values: list[float], title: str, unit: str, bins: int = 20) -> str:
    """A histogram of `values` as an SVG bar chart."""
    if not values:
        return bar_chart([], [], title, unit)
    lo, hi = min(values), max(values)
    step = (hi - lo) / bins or 1
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    return bar_chart([f"{lo + step * i:.0f}" for i in range(bins)], counts, title, "boxes")


def _stairs(steps: list, until: float) -> list[tuple[float, float]]:
    """(day, TEU) points drawing a step function as a line: each level held to the next change."""
    pts: list[tuple[float, float]] = []
    for (h, teu, _b), nxt in zip(steps, steps[1:] + [(until, None, None)]):
        pts += [(h / 24, teu), (min(nxt[0], until) / 24, teu)]
    return pts


def write_report(result, directory: str | Path) -> list[Path]:
    """Write summary.json, report.md and SVG plots into `directory`; returns the files written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    st = result.twin.stats
    data = {"summary": result.summary(), **report_data(st, result.twin.t0)}
    files = []

    def put(name, text):
        p = d / name
        p.write_text(text, encoding="utf-8")
        files.append(p)
    put("summary.json", json.dumps(data, indent=2, ensure_ascii=False))
    all_transit = [x for v in st.transit_days.values() for x in v]
    put("transit_days.svg", histogram(all_transit, "Transit time, origin load to destination (days)", "days"))
    until = _until(st)
    put("queue_teu.svg", line_chart({p: _stairs(w.steps, until) for p, w in st.queue.items()},
                                    "TEU waiting to cross (quay and aboard)", "day", "TEU"))
    months = sorted(st.monthly)
    put("monthly_teu.svg", bar_chart([m[2:] for m in months], [st.monthly[m][1] for m in months],
                                     "Monthly throughput delivered (TEU)", "TEU"))
    put("report.md", markdown(data))
    return files


def markdown(data: dict) -> str:
    """The report as Markdown tables."""
    s = data["summary"]
    out = [f"# Corridor twin: {s['scenario']}, {s['simulated_days']:g} days, seed {s['seed']}", "",
           f"{s['trains']} block trains, {s['containers']} containers ({s['teu']} TEU), {s['delivered']} delivered, "
           f"{s['reused_containers']} reused container numbers, {s['storm_days']} storm days; "
           f"{s['events']} events stored from {s['messages']} messages in {s['wall_seconds']} s.", "",
           "## Transit days per origin -> destination", "", "| route | n | mean | p10 | p50 | p90 | max |",
           "|---|---|---|---|---|---|---|"]
    for k, v in data["transit_days"].items():
        out.append(f"| {k} | {v['n']} | {v.get('mean')} | {v.get('p10')} | {v.get('p50')} | {v.get('p90')} | {v.get('max')} |")
    out += ["", "## Caspian ports", "",
            "TEU waiting to cross: every box at the port waiting for its crossing, on the quay or aboard a "
            "ship not yet sailed, time-weighted over the run; waits are of the boxes that sailed.", "",
            "| port | sailings | mean fill | TEU waiting to cross mean / p90 / max | wait h mean / p90 / max "
            "| not sailed at the end (boxes / TEU) |",
            "|---|---|---|---|---|---|"]
    for p, v in data["ports"].items():
        q, w, still = v["queue_teu"], v["wait_hours"], v["still_waiting"]
        out.append(f"| {p} | {v['sailings']} | {v['departure_fill'].get('mean')} | {q.get('mean')} / {q.get('p90')} / "
                   f"{q.get('max')} | {w.get('mean')} / {w.get('p90')} / {w.get('max')} | "
                   f"{still['boxes']} / {still['teu']} |")
    out += ["", "## Calibration against public figures", "", "| figure | public | model | inside | source |",
            "|---|---|---|---|---|"]
    for r in data["calibration"]:
        inside = "not enough data" if r["inside"] is None else "yes" if r["inside"] else "NO"
        out.append(f"| {r['figure']} | {r['public_low']}-{r['public_high']} {r['unit']} | "
                   f"{'-' if r['model'] is None else r['model']} | {inside} | {r['source']} |")
    out += ["", "## Monthly throughput", "", "| month | containers | TEU |", "|---|---|---|"]
    out += [f"| {m} | {v['containers']} | {v['teu']} |" for m, v in data["monthly"].items()]
    return "\n".join(out) + "\n"


def compare(a, b) -> dict:
    """Two runs side by side: the figures coordinators ask about."""
    def figures(r):
        st = r.twin.stats
        d = report_data(st, r.twin.t0)
        row = {"trains": st.trains, "containers": st.containers, "teu": st.teu, "delivered": st.delivered,
               "storm_days": st.storm_days}
        for p, v in d["ports"].items():
            row[f"{p} queue TEU mean"] = v["queue_teu"].get("mean")
            row[f"{p} queue TEU max"] = v["queue_teu"].get("max")
            row[f"{p} wait h mean"] = v["wait_hours"].get("mean")
            row[f"{p} wait h p90"] = v["wait_hours"].get("p90")
            row[f"{p} fill mean"] = v["departure_fill"].get("mean")
        allt = [x for v in st.transit_days.values() for x in v]
        row["transit days mean"] = round(statistics.fmean(allt), 2) if allt else None
        return row
    fa, fb = figures(a), figures(b)
    return {"scenarios": [a.scenario.name, b.scenario.name],
            "rows": [{"figure": k, a.scenario.name: fa.get(k), b.scenario.name: fb.get(k)} for k in fa]}
