"""The twin's report: transit per origin-destination, Caspian queues and waits, fill, monthly
throughput, the calibration table against the public figures, and small dependency-free SVG plots."""

from __future__ import annotations

import json
import math
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
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_label(ym: str) -> str:
    """"2026-11" as "Nov 2026" (English whatever the locale)."""
    y, m = ym.split("-")[:2]
    return f"{MONTHS[int(m) - 1]} {y}"


def _esc(text) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _num(v: float) -> str:
    """A tick value: thousands separated, no needless decimals."""
    if abs(v - round(v)) < 1e-9:
        return f"{round(v):,}"
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def ticks(top: float, n: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2, 2.5 or 5 times a power of ten),
    about `n` of them; the last one is the axis' end."""
    top = top if top > 0 else 1
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if raw <= m * mag + 1e-12)
    k = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 10) for i in range(k + 1)]


def _svg(width, height, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11"><title>{_esc(title)}</title>'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="10" y="16" font-size="13" font-weight="bold">{_esc(title)}</text>' + "".join(body) + "</svg>")


def _y_axis(x0: float, x1: float, y0: float, y1: float, top: float, unit: str) -> tuple[list[str], float]:
    """Grid lines, tick values and the unit of a y axis from 0 (at y1) up (to y0); returns the SVG
    and the value at the axis' end."""
    tv = ticks(top)
    end = tv[-1]
    body = [f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>']
    for v in tv:
        y = y1 - (y1 - y0) * v / end
        grid = "#333" if v == 0 else "#ddd"
        body.append(f'<line x1="{x0 - 4}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{grid}"/>')
        body.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{_num(v)}</text>')
    ym = (y0 + y1) / 2
    body.append(f'<text x="14" y="{ym:.1f}" text-anchor="middle" transform="rotate(-90 14 {ym:.1f})">'
                f'{_esc(unit)}</text>')
    return body, end


def bar_chart(labels: list[str], values: list[float], title: str, unit: str = "", xlabel: str = "") -> str:
    """A vertical bar chart as an SVG document: y ticks with their values and `unit`, a label under
    each bar, `xlabel` naming the x axis."""
    left, right, top_m, bottom = 64, 15, 36, 50
    w, h = max(360, 44 * len(labels) + left + right), 280
    y0, y1 = top_m, h - bottom
    body, end = _y_axis(left, w - right, y0, y1, max(values, default=0), unit)
    bw = (w - left - right) / max(1, len(labels))
    every = max(1, math.ceil(len(labels) * 52 / (w - left - right)))    # labels ~52 px wide: no overlap
    for i, (lab, v) in enumerate(zip(labels, values)):
        bh = (y1 - y0) * v / end
        x = left + i * bw
        body.append(f'<rect x="{x + 2:.1f}" y="{y1 - bh:.1f}" width="{bw - 4:.1f}" height="{bh:.1f}" '
                    f'fill="#3b7dd8"><title>{_esc(lab)}: {_num(v)} {_esc(unit)}</title></rect>')
        if i % every == 0:
            body.append(f'<text x="{x + bw / 2:.1f}" y="{y1 + 14}" text-anchor="middle" font-size="9">'
                        f'{_esc(lab)}</text>')
    if xlabel:
        body.append(f'<text x="{(left + w - right) / 2:.1f}" y="{h - 10}" text-anchor="middle">{_esc(xlabel)}</text>')
    return _svg(w, h, body, title)


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
               xticks: list[tuple[float, str]] | None = None) -> str:
    """One line per series over a shared x axis, as an SVG document: both axes with ticks and their
    values, `xlabel` and `ylabel` naming them with their units; `xticks` (x, label) replaces the
    x axis' round numbers (e.g. the first day of each month)."""
    w, h, left, right, top_m, bottom = 640, 300, 64, 15, 36, 50
    x0, x1, y0, y1 = left, w - right, top_m, h - bottom
    pts = [p for s in series.values() for p in s] or [(0, 0)]
    body, yend = _y_axis(x0, x1, y0, y1, max(y for _, y in pts), ylabel)
    if xticks is None:
        tx = ticks(max(x for x, _ in pts))
        xend = tx[-1]
        xticks = [(v, _num(v)) for v in tx]
    else:
        xend = max([x for x, _ in pts] + [x for x, _ in xticks]) or 1
    for v, lab in xticks:
        x = x0 + (x1 - x0) * v / xend
        body.append(f'<line x1="{x:.1f}" y1="{y1}" x2="{x:.1f}" y2="{y1 + 4}" stroke="#333"/>')
        anchor = "end" if x > x1 - 25 else "middle"          # the last label stays inside the picture
        body.append(f'<text x="{x:.1f}" y="{y1 + 16}" text-anchor="{anchor}">{_esc(lab)}</text>')
    body.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{h - 10}" text-anchor="middle">{_esc(xlabel)}</text>')
    colours = ["#3b7dd8", "#d8543b", "#2a9d4b", "#8e44ad"]
    for i, (name, s) in enumerate(series.items()):
        path = " ".join(f"{x0 + (x1 - x0) * x / xend:.1f},{y1 - (y1 - y0) * y / yend:.1f}" for x, y in s)
        c = colours[i % len(colours)]
        body.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.2" points="{path}"/>')
        body.append(f'<text x="{x1 - 5}" y="{y0 + 12 + 14 * i}" text-anchor="end" fill="{c}">{_esc(name)}</text>')
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
    return bar_chart([_num(round(lo + step * i, 1)) for i in range(bins)], counts, title, "boxes",
                     f"{unit} (each bar from its value to the next)")


def _stairs(steps: list, until: float) -> list[tuple[float, float]]:
    """(day, TEU) points drawing a step function as a line: each level held to the next change."""
    pts: list[tuple[float, float]] = []
    for (h, teu, _b), nxt in zip(steps, steps[1:] + [(until, None, None)]):
        pts += [(h / 24, teu), (min(nxt[0], until) / 24, teu)]
    return pts


def _month_ticks(t0, days: float) -> list[tuple[float, str]] | None:
    """x ticks at the first of each month of a run of `days` (label "Nov 2026"); None (round day
    numbers) when the run covers fewer than two month starts."""
    out, y, m = [], t0.year, t0.month
    while True:
        d = (t0.replace(year=y, month=m, day=1) - t0).total_seconds() / 86400
        if d > days:
            break
        if d >= 0:
            out.append((d, f"{MONTHS[m - 1]} {y}"))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    if len(out) < 2:
        return None
    every = max(1, math.ceil(len(out) / 8))       # at most 8 labels across the axis
    return out[::every]


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
    t0 = result.twin.t0
    months_x = _month_ticks(t0, until / 24)
    xlabel = "date (UTC)" if months_x else f"days since {t0.day} {MONTHS[t0.month - 1]} {t0.year}"
    put("queue_teu.svg", line_chart({p: _stairs(w.steps, until) for p, w in st.queue.items()},
                                    "TEU waiting to cross (quay and aboard)", xlabel, "TEU", xticks=months_x))
    months = sorted(st.monthly)
    put("monthly_teu.svg", bar_chart([month_label(m) for m in months], [st.monthly[m][1] for m in months],
                                     "Monthly throughput delivered (TEU)", "TEU", "month delivered"))
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
            "| not sailed at the end (boxes / TEU / h waited so far, mean) |",
            "|---|---|---|---|---|---|"]
    for p, v in data["ports"].items():
        q, w, still = v["queue_teu"], v["wait_hours"], v["still_waiting"]
        so_far = "-" if still["hours_so_far_mean"] is None else still["hours_so_far_mean"]
        out.append(f"| {p} | {v['sailings']} | {v['departure_fill'].get('mean')} | {q.get('mean')} / {q.get('p90')} / "
                   f"{q.get('max')} | {w.get('mean')} / {w.get('p90')} / {w.get('max')} | "
                   f"{still['boxes']} / {still['teu']} / {so_far} |")
    out += ["", "## Calibration against public figures", "", "| figure | public | model | inside | source |",
            "|---|---|---|---|---|"]
    for r in data["calibration"]:
        inside = "not enough data" if r["inside"] is None else "yes" if r["inside"] else "NO"
        out.append(f"| {r['figure']} | {r['public_low']}-{r['public_high']} {r['unit']} | "
                   f"{'-' if r['model'] is None else r['model']} | {inside} | {r['source']} |")
    out += ["", "## Monthly throughput", "", "| month | containers | TEU |", "|---|---|---|"]
    out += [f"| {m} | {v['containers']} | {v['teu']} |" for m, v in data["monthly"].items()]
    return "\n".join(out) + "\n"


def _backlog(st: Stats, port: str) -> dict:
    """Waits at `port` with the backlog beside them: the boxes that sailed, the boxes still waiting
    when the run ends (with their wait so far), and both together (a still-waiting box counted with
    its wait so far: a floor under what it will have waited)."""
    until = _until(st)
    sailed = st.port_wait.get(port, [])
    since = list(st.queue[port].since.values()) if port in st.queue else []
    so_far = [until - h for h, _t in since]
    everyone = sailed + so_far
    return {"sailed": _dist(sailed), "still_waiting": {"boxes": len(so_far), "teu": sum(t for _h, t in since),
                                                       "hours_so_far": _dist(so_far)},
            "all_boxes": _dist(everyone)}


def _verdict(port: str, na: str, nb: str, a: dict, b: dict) -> dict:
    """Which scenario does better at `port`, if either: only one with no more boxes still waiting
    at the end and no longer waits over all its boxes (those still waiting counted with their wait
    so far). Shorter waits of the boxes that sailed never rank a scenario whose backlog is larger."""
    ba, bb = a["still_waiting"]["boxes"], b["still_waiting"]["boxes"]
    wa, wb = a["all_boxes"].get("p90"), b["all_boxes"].get("p90")
    sa, sb = a["sailed"].get("p90"), b["sailed"].get("p90")
    better = None
    if wa is None or wb is None:
        text = (f"{port}: no ranking, {na if wa is None else nb} has no box at {port}"
                if (wa is None) != (wb is None) else f"{port}: no box at the port in either run")
    elif ba == bb and wa == wb:
        text = f"{port}: no difference ({ba} boxes still waiting, wait p90 {wa} h in both)"
    elif ba <= bb and wa <= wb:
        better = na
    elif bb <= ba and wb <= wa:
        better = nb
    else:
        big, small = (na, nb) if ba > bb else (nb, na)
        text = (f"{port}: no ranking, {big} leaves more boxes still waiting ({max(ba, bb)} against {min(ba, bb)}) "
                f"while {small} has the longer waits over all its boxes (p90 {max(wa, wb)} against {min(wa, wb)} h)")
    if better is not None:
        worse = nb if better == na else na
        (bw, ww), (bn, wn) = ((wa, wb), (ba, bb)) if better == na else ((wb, wa), (bb, ba))
        text = (f"{port}: {better} does better: {bn} boxes still waiting at the end against {wn} for {worse}, "
                f"wait p90 over all boxes {bw} against {ww} h")
    if sa is not None and sb is not None and sa != sb:
        quick, slow = (na, nb) if sa < sb else (nb, na)
        if (ba if quick == na else bb) > (bb if quick == na else ba):
            text += (f"; the boxes that sailed from {port} waited less in {quick} (p90 {min(sa, sb)} against "
                     f"{max(sa, sb)} h), but those waits leave out its larger backlog still at the port")
    return {"port": port, "better": better, "text": text}


def compare(a, b) -> dict:
    """Two runs side by side: the figures coordinators ask about, the backlog beside the waits, and
    per port which scenario does better (if either, `verdicts`)."""
    na, nb = a.scenario.name, b.scenario.name
    if na == nb:                      # two files naming themselves alike: their columns must differ
        na, nb = f"{na} (A)", f"{nb} (B)"
    ports = sorted(set(a.twin.stats.queue) | set(a.twin.stats.port_wait)
                   | set(b.twin.stats.queue) | set(b.twin.stats.port_wait))
    waits = {}

    def figures(r):
        st = r.twin.stats
        d = report_data(st, r.twin.t0)
        row = {"trains": st.trains, "containers": st.containers, "teu": st.teu, "delivered": st.delivered,
               "storm_days": st.storm_days}
        waits[id(r)] = {}
        for p in ports:
            v = d["ports"].get(p, {})
            w = waits[id(r)][p] = _backlog(st, p)
            row[f"{p} queue TEU mean"] = v.get("queue_teu", {}).get("mean")
            row[f"{p} queue TEU max"] = v.get("queue_teu", {}).get("max")
            row[f"{p} wait h mean, boxes that sailed"] = w["sailed"].get("mean")
            row[f"{p} wait h p90, boxes that sailed"] = w["sailed"].get("p90")
            row[f"{p} still waiting at the end, boxes"] = w["still_waiting"]["boxes"]
            row[f"{p} still waiting at the end, TEU"] = w["still_waiting"]["teu"]
            row[f"{p} still waiting, h so far mean"] = w["still_waiting"]["hours_so_far"].get("mean")
            row[f"{p} still waiting, h so far max"] = w["still_waiting"]["hours_so_far"].get("max")
            row[f"{p} wait h mean, all boxes (so far if still waiting)"] = w["all_boxes"].get("mean")
            row[f"{p} wait h p90, all boxes (so far if still waiting)"] = w["all_boxes"].get("p90")
            row[f"{p} fill mean"] = v.get("departure_fill", {}).get("mean")
        allt = [x for v in st.transit_days.values() for x in v]
        row["transit days mean"] = round(statistics.fmean(allt), 2) if allt else None
        return row
    fa, fb = figures(a), figures(b)
    verdicts = [_verdict(p, na, nb, waits[id(a)][p], waits[id(b)][p]) for p in ports]
    return {"scenarios": [na, nb],
            "rows": [{"figure": k, na: fa.get(k), nb: fb.get(k)} for k in fa],
            "ports": {p: {na: waits[id(a)][p], nb: waits[id(b)][p]} for p in ports},
            "verdicts": verdicts}


def compare_markdown(doc: dict) -> str:
    """A comparison as a Markdown table and what it says per port."""
    a, b = doc["scenarios"]
    out = [f"| figure | {a} | {b} |", "|---|---|---|"]
    out += [f"| {r['figure']} | {'-' if r[a] is None else r[a]} | {'-' if r[b] is None else r[b]} |"
            for r in doc["rows"]]
    out += ["", "Waits of the boxes that sailed leave out the boxes still waiting at the end; a scenario is "
            "called better at a port only with no more boxes still waiting and no longer waits over all "
            "its boxes (those still waiting counted with their wait so far).", ""]
    out += [f"- {v['text']}" for v in doc["verdicts"]]
    return "\n".join(out) + "\n"
