"""Small server-side SVG charts of the KPIs (bars and lines), no plotting library needed."""

from __future__ import annotations

from xml.sax.saxutils import escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 320, 56, 64, 32, 16
COLOURS = ("#1f6feb", "#d97706", "#15803d", "#b91c1c")


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    import math
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def bar_chart(title: str, labels: list[str], series: dict[str, list[float | None]], unit: str = "") -> str:
    """An SVG bar chart: one group of bars per label, one colour per series."""
    vals = [v for s in series.values() for v in s if v is not None]
    top = _nice_max(max(vals, default=0))
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    n, k = max(len(labels), 1), max(len(series), 1)
    gw = pw / n
    bw = gw * 0.8 / k
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>",
             f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for i in range(5):   # gridlines and the value axis
        v = top * i / 4
        y = PAD_T + ph - ph * i / 4
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    if unit:
        parts.append(f'<text x="12" y="{PAD_T + ph / 2}" transform="rotate(-90 12 {PAD_T + ph / 2})" '
                     f'text-anchor="middle">{escape(unit)}</text>')
    for j, (name, s) in enumerate(series.items()):
        colour = COLOURS[j % len(COLOURS)]
        for i, v in enumerate(s):
            if v is None:
                continue
            h = ph * v / top
            x = PAD_L + i * gw + gw * 0.1 + j * bw
            parts.append(f'<rect x="{x:.1f}" y="{PAD_T + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(labels[i])} {escape(name)}: {v:g}</title></rect>')
        parts.append(f'<rect x="{PAD_L + j * 120}" y="{H - 14}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{PAD_L + j * 120 + 14}" y="{H - 5}">{escape(name)}</text>')
    step = max(1, n // 12)
    for i, lab in enumerate(labels):
        if i % step == 0:
            x = PAD_L + i * gw + gw / 2
            parts.append(f'<text x="{x:.1f}" y="{PAD_T + ph + 14}" text-anchor="end" '
                         f'transform="rotate(-35 {x:.1f} {PAD_T + ph + 14})">{escape(lab)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _label(*xs) -> str:
    return "→".join(str(x) for x in xs)


def chart(name: str, doc: dict) -> str:
    """The named chart of a KPI document; KeyError for a name not in `CHARTS`."""
    if name == "volumes":
        rows = doc["volumes"]["by_month"]
        return bar_chart("TEU per month", [r["month"] for r in rows],
                         {"TEU": [r["teu"] for r in rows],
                          "TEU a year earlier": [r["teu_year_before"] for r in rows]}, "TEU")
    if name == "transit":
        rows = doc["transit"]["end_to_end"][:12]
        return bar_chart("End-to-end transit (days)", [_label(r["origin"], r["destination"]) for r in rows],
                         {"p50": [r["days"]["p50"] for r in rows], "p90": [r["days"]["p90"] for r in rows]}, "days")
    if name == "dwell":
        rows = doc["dwell"]["by_location"]
        return bar_chart("Dwell at borders, gauge changes and ferry ports (hours)", [r["location"] for r in rows],
                         {"p50": [r["hours"]["p50"] for r in rows], "p90": [r["hours"]["p90"] for r in rows]}, "hours")
    if name == "co2e":
        obs = doc["co2e"]["by_route"][:6]
        ref = [r for r in doc["co2e"]["reference_routes"] if r["corridor"] in ("northern", "sea")][:6]
        labels = [_label(r["origin"], r["destination"]) for r in obs] + [r["route"] for r in ref]
        return bar_chart("kg CO2e per TEU-km (WTW)", labels,
                         {"Middle (observed)": [r["kg_per_teu_km"] for r in obs] + [None] * len(ref),
                          "Northern / Sea (reference)": [None] * len(obs) + [r["kg_per_teu_km"] for r in ref]},
                         "kg/TEU-km")
    if name == "data-quality":
        rows = doc["data_quality"]["parties"]
        return bar_chart("Network health per sending party (0-100)", [r["party"] for r in rows],
                         {"health": [r["health"] for r in rows]}, "score")
    raise KeyError(name)


CHARTS = {"volumes": ("volumes",), "transit": ("transit",), "dwell": ("dwell",), "co2e": ("co2e",),
          "data-quality": ("data_quality",)}
