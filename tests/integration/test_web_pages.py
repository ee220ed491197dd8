"""The web pages over HTTP: shells render with strict security headers, assets are packaged and
served offline, and the geography is the corridor's with the Caspian as sea."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corridor.web.pages import PAGES, STATIC

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(sqlite_loaded_store):
    import sys
    sys.path.insert(0, str(ROOT))
    from tests.browser.server import web_app
    return TestClient(web_app(sqlite_loaded_store))


@pytest.mark.parametrize("path", ["/signin"] + [p.path for p in PAGES])
def test_every_page_renders_with_strict_csp_and_no_outside_asset(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http://" not in r.text and "https://" not in r.text     # no CDN, no tiles
    assert "<script>" not in r.text                                    # no inline script


def test_pages_carry_no_data_without_a_key(client):
    # The shells are public; the data behind them needs a key (visibility lives in the API).
    assert client.get("/map").status_code == 200
    assert client.get("/api/v1/network").status_code == 401


def test_root_goes_to_the_map(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/map"


def test_static_assets_are_served_with_types_and_traversal_is_refused(client):
    js = client.get("/static/js/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/css/corridor.css").headers["content-type"].startswith("text/css")
    for bad in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/js/../../pages.py", "/static/nope.js"):
        assert client.get(bad).status_code == 404


def test_every_script_a_template_names_exists():
    import re
    for t in (STATIC.parent / "templates").glob("*.html"):
        for src in re.findall(r'(?:src|href)="(/static/[^"?]+)', t.read_text()):
            assert (STATIC / src.removeprefix("/static/")).is_file(), f"{t.name} names missing {src}"


def _geo() -> dict:
    return json.loads((STATIC / "geo" / "region.json").read_text(encoding="utf-8"))


def test_geography_is_compact_attributed_and_covers_the_corridor():
    path = STATIC / "geo" / "region.json"
    assert path.stat().st_size < 400 * 1024
    g = _geo()
    assert "Natural Earth" in g["attribution"]
    isos = {f["properties"]["iso"] for f in g["features"]}
    assert {"CN", "KZ", "TM", "AZ", "GE", "TR", "RU", "IR", "DE", "PL"} <= isos


def _inside(lon: float, lat: float, ring: list) -> bool:
    """Even-odd point in polygon."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _on_land(lon: float, lat: float) -> bool:
    return any(_inside(lon, lat, ring) for f in _geo()["features"]
               for poly in f["geometry"]["coordinates"] for ring in poly[:1])


@pytest.mark.parametrize("lon, lat, land", [
    (50.5, 42.0, False),   # the middle of the Caspian Sea
    (34.0, 43.5, False),   # the Black Sea
    (69.0, 44.0, True),    # Kazakhstan
    (108.9, 34.3, True),   # Xi'an
    (51.2, 43.65, True),   # Aktau, on the Caspian shore
])
def test_the_caspian_and_the_black_sea_are_sea_and_the_ports_on_land(lon, lat, land):
    assert _on_land(lon, lat) is land


def test_setuptools_package_data_globs_include_the_web_assets():
    import tomllib
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["corridor"]
    from fnmatch import fnmatch
    pkg = STATIC.parents[1]
    for f in [*STATIC.rglob("*.*"), *(STATIC.parent / "templates").glob("*.html")]:
        rel = f.relative_to(pkg).as_posix()
        assert any(fnmatch(rel, g.replace("**/", "*/")) or fnmatch(rel, g) for g in globs), rel
