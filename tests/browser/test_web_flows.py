"""The main flows in a real browser (Debian's chromium via Playwright) against a real server:
sign in, find a container, plan and book, watch the map move live, replay a quarantined message.
No console errors are allowed; screenshots for the README are saved to docs/screenshots/."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from corridor.domain.equipment import with_check_digit  # noqa: E402

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
LAPTOP, TABLET = {"width": 1366, "height": 768}, {"width": 820, "height": 1180}


class Tab:
    """A signed-in page that records console errors and uncaught exceptions."""

    def __init__(self, browser, site, who: str, viewport=LAPTOP):
        self.ctx = browser.new_context(viewport=viewport)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.site = site
        self.page.goto(site.url + "/signin")
        self.page.fill("#api-key", site.keys[who])
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_url("**/map")

    def close(self) -> None:
        self.ctx.close()
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture
def tab(chromium, site):
    opened: list[Tab] = []

    def open_tab(who: str = "admin", viewport=LAPTOP) -> Tab:
        opened.append(Tab(chromium, site, who, viewport))
        return opened[-1]
    yield open_tab
    for t in opened:
        t.close()


def _post(site, who: str, path: str, body, party: str | None = None) -> dict:
    r = httpx.post(site.url + path, json=body, params={"party": party} if party else None,
                   headers={"Authorization": f"Bearer {site.keys[who]}"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _book(site, who="ACME", containers="1x40HC") -> dict:
    ready = (datetime.now(timezone.utc) + timedelta(days=3)).date().isoformat()
    return _post(site, who, "/api/v1/bookings", {"origin": "CNXIA", "destination": "TRIST", "ready": ready,
                                                   "containers": containers, "option": 1})


def _gate_in_event(box: str, when: datetime, locode: str, booking: str | None = None) -> dict:
    """A DCSA 2.2 gate-in of `box` at `locode` (of `booking` when given)."""
    ev = {"eventType": "EQUIPMENT", "eventClassifierCode": "ACT", "equipmentEventTypeCode": "GTIN",
          "eventDateTime": when.isoformat(), "eventCreatedDateTime": when.isoformat(),
          "equipmentReference": box, "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": locode}}
    if booking:
        ev["documentReferences"] = [{"documentReferenceType": "BKG", "documentReferenceValue": booking}]
    return ev


def _gate_in(site, box: str, booking: str, when: datetime) -> None:
    out = _post(site, "admin", "/api/v1/events", [_gate_in_event(box, when, "CNXIA", booking)], party="CRCT")
    assert out["stored"] == 1, out


def _position(site, box: str, lat: float, lon: float, when: datetime) -> None:
    out = _post(site, "admin", "/api/v1/positions", {"time": when.isoformat(), "lat": lat, "lon": lon,
                                                     "device": "trk-" + box[-4:], "container": box}, party="CRCT")
    assert out["stored"] == 1, out


def test_a_refused_key_says_why_and_stays_on_sign_in(chromium, site):
    ctx = chromium.new_context(viewport=LAPTOP)
    page = ctx.new_page()
    page.goto(site.url + "/find")
    page.wait_for_url("**/signin?next=%2Ffind")
    page.fill("#api-key", "cor_nosuchkey_" + "x" * 24)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "refused" in page.inner_text("#signin-error")
    ctx.close()


def test_find_a_container_shows_its_timeline_eta_and_place(tab, site):
    booking = _book(site)
    box = with_check_digit("TGHU770001")
    t0 = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) - timedelta(hours=6)
    _gate_in(site, box, booking["ref"], t0)
    _position(site, box, 36.1, 103.8, t0 + timedelta(hours=2))
    # The administrator: a shipper does not yet see carrier-reported boxes on its booking (see report).
    t = tab("admin")
    t0 = time.perf_counter()
    t.page.goto(f"{site.url}/find")
    t.page.wait_for_selector("body[data-ready='1']")
    t.page.fill("#q", box)
    t.page.click("#find-form button")
    try:
        t.page.wait_for_selector("[data-testid=milestone]", timeout=5000)
    except Exception:
        raise AssertionError(t.page.inner_text("main") + str(t.errors))
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.5, f"search to timeline took {elapsed:.2f}s"
    rows = t.page.locator("[data-testid=milestone]")
    assert rows.count() >= 1
    assert "Gate in" in rows.first.inner_text()
    assert t.page.locator("[data-testid=eta] .eta-big").inner_text().startswith("20")
    assert t.page.locator("#summary").inner_text().count(booking["ref"]) == 1
    marker = t.page.locator(f'#minimap [data-marker="c:{box}"]')
    assert float(marker.get_attribute("data-lat")) == pytest.approx(36.1)
    t.page.wait_for_timeout(300)
    SHOTS.mkdir(parents=True, exist_ok=True)
    t.page.screenshot(path=str(SHOTS / "timeline.png"))


def test_another_shipper_cannot_find_it(tab, site):
    booking = _book(site)
    box = with_check_digit("TGHU770002")
    _gate_in(site, box, booking["ref"], datetime.now(timezone.utc) - timedelta(hours=3))
    t = tab("BOSPHORUS")
    t.page.goto(f"{site.url}/find?q={box}")
    t.page.wait_for_selector("#hits .error")
    assert "Nothing found" in t.page.inner_text("#hits")
    assert t.page.locator("#result").is_hidden()


def test_plan_and_book_side_by_side(tab, site):
    t = tab("ACME")
    t.page.goto(f"{site.url}/plan")
    t.page.wait_for_selector("body[data-ready='1']")
    t.page.fill("#count", "2")
    t.page.click("#plan-go")
    t.page.wait_for_selector("[data-testid=option]")
    opts = t.page.locator("[data-testid=option]")
    assert opts.count() >= 2
    text = opts.first.inner_text()
    assert "days" in text and "$" in text and "CO₂e" in text
    assert "Northern route does not reach TRIST" in t.page.inner_text("[data-testid=not-offered]")
    SHOTS.mkdir(parents=True, exist_ok=True)
    t.page.screenshot(path=str(SHOTS / "plan.png"), full_page=True)
    opts.first.locator("button").click()
    t.page.wait_for_selector("#booked:not([hidden])")
    ref = t.page.get_attribute("#booked", "data-ref")
    r = httpx.get(f"{site.url}/api/v1/bookings/{ref}", headers={"Authorization": f"Bearer {site.keys['ACME']}"})
    assert r.status_code == 200 and r.json()["teu"] == 4 and r.json()["shipper"] == "ACME"


def test_the_map_moves_a_container_as_positions_arrive(tab, site):
    booking = _book(site)
    box = with_check_digit("TGHU770003")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    _gate_in(site, box, booking["ref"], now - timedelta(hours=5))
    t = tab("ACME")
    t.page.goto(f"{site.url}/map")
    t.page.wait_for_selector("#map[data-live='1']")
    t.page.wait_for_selector("#map .land", state="attached")
    assert t.page.locator("#map .land").count() > 30 and t.page.locator("#map .link").count() > 20
    _position(site, box, 43.6, 51.2, now - timedelta(hours=1))          # at Aktau
    # Playwright's own polling (expect), not wait_for_function: the page's CSP forbids the eval
    # that a predicate polled from a string needs once its first check is false
    marker = t.page.locator(f'#map [data-marker="c:{box}"]')
    expect(marker).to_have_attribute("data-lon", "51.2", timeout=8000)
    _position(site, box, 41.2, 50.4, now)                                # on the Caspian
    expect(marker).to_have_attribute("data-lon", "50.4", timeout=8000)
    assert int(t.page.inner_text("#event-count")) >= 2
    marker.click()
    assert box in t.page.inner_text("#details")
    t.page.wait_for_timeout(1300)   # let the move animation finish for the picture
    SHOTS.mkdir(parents=True, exist_ok=True)
    t.page.screenshot(path=str(SHOTS / "map.png"))


def test_replay_a_quarantined_message_after_adding_the_alias(tab, site):
    box = with_check_digit("TGHU770004")
    ev = _gate_in_event(box, datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2), "KZQQQ")
    out = _post(site, "admin", "/api/v1/events", [ev], party="KTZ")
    assert out["quarantined"] == 1 and "KZQQQ" in out["reasons"][0]
    t = tab("admin")
    t.page.goto(f"{site.url}/quarantine")
    row = t.page.locator("tr[data-entry]", has_text="KZQQQ").first
    row.wait_for()
    row.click()
    t.page.wait_for_selector("#q-detail:not([hidden]) pre.raw")
    assert box in t.page.inner_text("#q-detail pre.raw")
    _post(site, "admin", "/api/v1/aliases", {"kind": "location", "value": "KZQQQ", "target": "KZDOS"})
    row.locator("button[data-replay]").click()
    t.page.wait_for_selector("#flash:not([hidden])")
    assert "1 stored" in t.page.inner_text("#flash")
    expect(t.page.locator("#q-list")).not_to_contain_text("KZQQQ")


def test_the_messages_received_are_listed_and_one_opens_with_what_became_of_it(tab, site):
    box = with_check_digit("TGHU770011")
    when = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    ok, bad = _gate_in_event(box, when, "KZDOS"), _gate_in_event(box, when + timedelta(minutes=5), "KZQQX")
    out = _post(site, "admin", "/api/v1/events", [ok, bad], party="KTZ")
    assert (out["stored"], out["quarantined"]) == (1, 1), out
    t = tab("admin")
    t.page.goto(f"{site.url}/messages")
    row = t.page.locator(f"tr[data-message='{out['message_id']}']")
    row.wait_for()
    assert "KTZ" in row.inner_text() and "partial" in row.inner_text()
    row.click()
    t.page.wait_for_selector("#m-detail:not([hidden]) ul.held li")
    text = t.page.inner_text("#m-detail")
    assert out["message_id"] in text and "KZQQX" in text
    # the event it stored is listed, its container a link to the container's timeline
    link = t.page.locator(f"#m-detail .m-events tr[data-seq] a[href='/find?q={box}']")
    expect(link).to_have_count(1)
    assert "GTIN ACT" in t.page.inner_text("#m-detail .m-events")
    t.page.select_option("#m-status", "processed")
    expect(t.page.locator(f"tr[data-message='{out['message_id']}']")).to_have_count(0)


def test_operator_board_and_kpis_render(tab, site):
    t = tab("PORTAKTAU")
    t.page.goto(f"{site.url}/boards")
    t.page.wait_for_selector("#departures table tr[data-departure]")
    assert "Aktau" in t.page.inner_text("#board-title")
    assert not t.page.locator("#queue-card").is_hidden()
    t.page.goto(f"{site.url}/kpi")
    t.page.wait_for_selector("#chart-load svg")
    assert t.page.locator(".tile").count() == 6


@pytest.mark.parametrize("path", ["/map", "/find", "/plan", "/boards", "/kpi", "/messages", "/quarantine",
                                  "/subscriptions"])
def test_tablet_width_needs_no_sideways_scrolling(tab, site, path):
    t = tab("admin", TABLET)
    t.page.goto(site.url + path)
    t.page.wait_for_selector("body[data-ready='1']")
    width = t.page.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET["width"], f"{path} is {width}px wide at tablet width"
    timing = t.page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    assert timing < 1000, f"{path} took {timing:.0f} ms to load"


def _csv_rows(site, party: str, rows: list[tuple]) -> None:
    """Post rows (code, time, place, container, size, mode, voyage) as one Corridor CSV message."""
    from corridor.ingest.csvfmt import DEFAULT_HEADER
    kind = {"ARRI": "TRANSPORT", "DEPA": "TRANSPORT"}
    lines = [",".join((kind.get(c, "EQUIPMENT"), c, "ACT", t.isoformat(), where, box, size, "LADEN", mode, voyage)
                      + ("",) * 10) for c, t, where, box, size, mode, voyage in rows]
    r = httpx.post(site.url + "/api/v1/messages", params={"format": "csv", "party": party},
                   content=(DEFAULT_HEADER + "\n" + "\n".join(lines) + "\n").encode(),
                   headers={"Authorization": f"Bearer {site.keys['admin']}", "Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200 and r.json()["stored"] == len(rows), r.text


def _cells(page, selector: str) -> list[list[str]]:
    return [[c.strip() for c in row.locator("td").all_inner_texts()] for row in page.locator(selector).all()]


def test_the_kpi_page_shows_the_kpi_api_and_asks_nothing_else(tab, site):
    """Tables, tiles and charts come from GET /api/v1/kpi, and every request stays on Corridor."""
    t0 = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) - timedelta(days=12)
    done, under_way = with_check_digit("CAIU771001"), with_check_digit("CAIU771002")
    h = lambda n: t0 + timedelta(hours=n)  # noqa: E731
    _csv_rows(site, "CRCT", [("LOAD", h(0), "CNXIA", done, "22G1", "RAIL", "K771"),
                             ("DEPA", h(2), "CNXIA", done, "22G1", "RAIL", "K771"),
                             ("ARRI", h(74), "CNHRS", done, "22G1", "RAIL", "K771"),
                             ("LOAD", h(1), "CNXIA", under_way, "42G1", "RAIL", "K772"),
                             ("DEPA", h(3), "CNXIA", under_way, "42G1", "RAIL", "K772")])
    _csv_rows(site, "KTZ", [("DEPA", h(86), "CNHRS", done, "22G1", "RAIL", "K771"),
                            ("ARRI", h(165), "KZAAU", done, "22G1", "RAIL", "K771"),
                            ("DISC", h(167), "KZAAU", done, "22G1", "RAIL", "K771")])
    _csv_rows(site, "PORTAKTAU", [("GTOT", h(190), "KZAAU", done, "22G1", "TRUCK", "")])
    admin = {"Authorization": f"Bearer {site.keys['admin']}"}
    doc = httpx.get(site.url + "/api/v1/kpi", headers=admin, timeout=60).json()

    t = tab("admin")
    asked: list[str] = []
    t.page.on("request", lambda r: asked.append(r.url))
    t.page.goto(f"{site.url}/kpi")
    t.page.wait_for_selector("body[data-ready='1']")
    assert asked and all(u.startswith(site.url + "/") for u in asked), asked          # no CDN, no outside call
    api = {u.split("?")[0].removeprefix(site.url) for u in asked if "/api/" in u}
    assert "/api/v1/kpi" in api and not api & {"/api/v1/bookings", "/api/v1/departures", "/api/v1/quarantine"}
    text = t.page.inner_text("main")
    assert "will replace this" not in text and "GET /api/v1/kpi" in text

    tiles = dict(zip(t.page.locator(".tile .k").all_inner_texts(), t.page.locator(".tile .v").all_inner_texts()))
    assert tiles["TEU"].replace(",", "") == str(doc["volumes"]["total"]["teu"])
    assert tiles["Containers"].replace(",", "") == str(doc["volumes"]["total"]["containers"])
    assert tiles["Data health"] == f"{doc['data_quality']['network_health']:g}"
    # origin-destination: the API's pairs, the completed trip to Aktau among them, the trip under way not
    od = [[r["origin"], r["destination"], str(r["teu"]), str(r["containers"]), str(r["under_way"])]
          for r in doc["volumes"]["by_od"][:20]]
    assert [row[:5] for row in _cells(t.page, "#od tr[data-od]")] == od
    assert ["CNXIA", "KZAAU", "1", "1", "0"] in od and not [r for r in od if r[0] == r[1]]
    assert f"{doc['volumes']['od_left_out']['containers']} containers" in t.page.inner_text("#od [data-note]")
    e2e = [[r["origin"], r["destination"], str(r["days"]["n"])] for r in doc["transit"]["end_to_end"][:20]]
    assert [row[:3] for row in _cells(t.page, "#transit tr[data-e2e]")] == e2e and ["CNXIA", "KZAAU", "1"] in e2e
    parties = [p["party"] for p in doc["data_quality"]["parties"]]
    assert [r[0] for r in _cells(t.page, "#quality tr[data-party]")] == parties
    assert t.page.locator("#co2e tr[data-reference]").count() == len(doc["co2e"]["reference_routes"])
    assert t.page.locator("#utilisation tr[data-load]").count() == len(doc["utilisation"]["observed_loads"])
    # the Caspian tile is the crossings' own figure, not every water link's
    casp = doc["utilisation"]["caspian"]
    tile = t.page.inner_text(".tile[data-kpi='Caspian capacity reserved'] .v")
    if casp["capacity_teu"]:
        assert float(tile.rstrip(" %").replace(",", "")) == round(100 * casp["reserved_teu"] / casp["capacity_teu"], 1)
    else:
        assert tile == "—"
    # the charts are drawn from the same document: one bar per month with TEU
    months = [m for m in doc["volumes"]["by_month"] if m["teu"]]
    assert t.page.locator("#chart-volume svg rect").count() == len(months)
    assert t.page.locator("#chart-co2 svg rect").count() >= len(doc["co2e"]["by_route"][:5])

    # another period: the page asks the API for it
    asked.clear()
    t.page.fill("#kpi-from", (t0 - timedelta(days=400)).date().isoformat())
    t.page.fill("#kpi-to", (t0 - timedelta(days=300)).date().isoformat())
    t.page.click("#kpi-period button[type=submit]")
    expect(t.page.locator("#od [data-empty]")).to_be_visible()
    assert any("/api/v1/kpi?from=" in u for u in asked)
    assert t.page.inner_text(".tile[data-kpi=TEU] .v") == "0"

    # a shipper sees the figures of what it may see, from the same API with its own key
    mine = httpx.get(site.url + "/api/v1/kpi", headers={"Authorization": f"Bearer {site.keys['BOSPHORUS']}"},
                     timeout=60).json()
    s = tab("BOSPHORUS")
    s.page.goto(f"{site.url}/kpi")
    s.page.wait_for_selector("body[data-ready='1']")
    assert s.page.inner_text(".tile[data-kpi=TEU] .v").replace(",", "") == str(mine["volumes"]["total"]["teu"])
    assert "CNXIA→KZAAU" not in s.page.inner_text("#od")


# --- what a demanding user checks: the box's way, local times, the board's queue, narrow screens ---

def _event(site, party: str, code: str, box: str, place: str, when: datetime, booking: str | None = None,
           mode: str | None = None, vehicle: str | None = None) -> None:
    """One DCSA equipment event (ACT) as `party` sends it; its time as given (with its offset)."""
    ev = {"eventType": "EQUIPMENT", "eventClassifierCode": "ACT", "equipmentEventTypeCode": code,
          "eventDateTime": when.isoformat(), "eventCreatedDateTime": when.isoformat(),
          "equipmentReference": box, "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": place}}
    if booking:
        ev["documentReferences"] = [{"documentReferenceType": "BKG", "documentReferenceValue": booking}]
    if mode:
        ev["transportCall"] = {"UNLocationCode": place, "modeOfTransport": mode, "exportVoyageNumber": vehicle}
    out = _post(site, "admin", "/api/v1/events", [ev], party=party)
    assert out["stored"] == 1, out


def _network_links(site) -> set[tuple[str, str]]:
    r = httpx.get(site.url + "/api/v1/network", headers={"Authorization": f"Bearer {site.keys['admin']}"}, timeout=30)
    return {(k["from"], k["to"]) for k in r.json()["links"]}


def _local(when: datetime, zone: str) -> str:
    """A time as the pages write it: the place's local time and its offset (UTC+08, UTC+05:30)."""
    from zoneinfo import ZoneInfo
    t = when.astimezone(ZoneInfo(zone))
    off = t.utcoffset()
    mins = int(off.total_seconds() // 60)
    sign, mins = ("+" if mins >= 0 else "−"), abs(mins)
    label = "UTC" if not mins else f"UTC{sign}{mins // 60:02d}" + (f":{mins % 60:02d}" if mins % 60 else "")
    return f"{t:%Y-%m-%d %H:%M} {label}"


def _way(page) -> tuple[list[str], list[str]]:
    """The places of the Find map's line: travelled, then still ahead."""
    page.wait_for_selector("#minimap [data-route]", state="attached")
    got = page.evaluate("""() => ['done', 'ahead'].map((k) => {
        const p = document.querySelector('#minimap .route.' + k); return p ? p.dataset.route : ''; })""")
    return got[0].split(), got[1].split()


def test_the_find_map_follows_the_network_legs_not_a_straight_line(tab, site):
    """A box gated in at Xi'an and next heard at Aktau: its line runs over the links between them,
    and on from Aktau to its booked destination; two boxes of one booking are never chained."""
    booking = _book(site, containers="2x40HC")
    first, second = with_check_digit("TGHU772001"), with_check_digit("TGHU772002")
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=6)
    for box in (first, second):
        _event(site, "CRCT", "GTIN", box, "CNXIA", t0, booking["ref"])
    _event(site, "PORTAKTAU", "GTIN", first, "KZAAU", t0 + timedelta(days=5), booking["ref"])
    links = _network_links(site)
    t = tab("admin")
    t.page.goto(f"{site.url}/find?q={first}")
    t.page.wait_for_selector("[data-testid=milestone]")
    done, ahead = _way(t.page)
    assert done[0] == "CNXIA" and done[-1] == "KZAAU" and len(done) > 2, done      # not one straight hop
    assert ahead[0] == "KZAAU" and ahead[-1] == "TRIST", ahead
    for way in (done, ahead):
        assert all((a, b) in links for a, b in zip(way, way[1:])), f"{way} leaves the network's links"
    # the booking: one timeline at a time, the containers in a list to pick from
    t.page.goto(f"{site.url}/find?q={booking['ref']}")
    t.page.wait_for_selector("#boxes-card:not([hidden]) tr[data-equipment]")
    assert t.page.locator("#boxes tr[data-equipment]").count() == 2
    shown = t.page.get_attribute("#result", "data-equipment")
    other = second if shown == first else first
    t.page.click(f'#boxes tr[data-equipment="{other}"] td:nth-child(2)')
    expect(t.page.locator("#result")).to_have_attribute("data-equipment", other)
    assert other in t.page.inner_text("#timeline-title")
    way = sum(_way(t.page), [])
    assert way.count("CNXIA") == 1 and way[-1] == "TRIST", way                     # no jump back to the origin


def test_times_are_the_places_local_time_with_its_offset(tab, site):
    """An event sent in UTC at Xi'an reads as Beijing time, in the timeline and in the live feed."""
    booking = _book(site)
    box = with_check_digit("TGHU773001")
    t = tab("admin")
    t.page.goto(f"{site.url}/map")
    t.page.wait_for_selector("#map[data-live='1']")
    when = datetime.now(timezone.utc).replace(microsecond=0, second=0) - timedelta(hours=3)
    _event(site, "CRCT", "GTIN", box, "CNXIA", when, booking["ref"])
    line = t.page.locator("#feed li", has_text=box).filter(has_text="gated in").first
    expect(line).to_contain_text(_local(when, "Asia/Shanghai"), timeout=8000)
    assert "UTC+00" not in t.page.inner_text("#feed")
    t.page.goto(f"{site.url}/find?q={box}")
    t.page.wait_for_selector("[data-testid=milestone]")
    row = t.page.locator("[data-testid=milestone]", has_text="Gate in").first
    assert _local(when, "Asia/Shanghai") in row.inner_text()
    eta = t.page.inner_text("[data-testid=eta] .eta-big")
    assert eta.endswith("UTC+03"), eta                                               # Istanbul's own time


def test_the_map_starts_with_the_open_trips_and_says_why_the_feed_is_empty(tab, site):
    booking = _book(site)
    box = with_check_digit("TGHU775001")
    _event(site, "CRCT", "GTIN", box, "CNXIA", datetime.now(timezone.utc) - timedelta(hours=2), booking["ref"])
    t = tab("admin")
    t.page.goto(f"{site.url}/map")
    t.page.wait_for_selector("#map[data-live='1']")
    assert int(t.page.get_attribute("#map", "data-containers")) >= 1
    assert t.page.locator(f'#map [data-marker="c:{box}"]').count() == 1
    assert "Waiting for new events" in t.page.inner_text("#feed")


def test_a_shipper_does_not_see_another_shippers_boxes_on_the_map(tab, site):
    theirs = _book(site, who="BOSPHORUS")
    box = with_check_digit("TGHU776001")
    _event(site, "CRCT", "GTIN", box, "CNXIA", datetime.now(timezone.utc) - timedelta(hours=1), theirs["ref"])
    t = tab("ACME")
    t.page.goto(f"{site.url}/map")
    t.page.wait_for_selector("#map[data-live='1']")
    assert t.page.locator(f'#map [data-marker="c:{box}"]').count() == 0
    assert box not in t.page.inner_text("#feed")


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("path", ["/find", "/boards", "/plan", "/kpi", "/quarantine"])
def test_phone_width_needs_no_sideways_scrolling(tab, site, path):
    if path == "/find":   # a container's timeline: the widest table of all
        booking, box = _book(site), with_check_digit("TGHU777001")
        _event(site, "CRCT", "GTIN", box, "CNXIA", datetime.now(timezone.utc) - timedelta(hours=2), booking["ref"])
        path += f"?q={box}"
    t = tab("admin", PHONE)
    t.page.goto(site.url + path)
    t.page.wait_for_selector("body[data-ready='1']")
    if path.startswith("/find"):
        t.page.wait_for_selector("#result:not([hidden])")
    width = t.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} is {width}px wide at phone width"
