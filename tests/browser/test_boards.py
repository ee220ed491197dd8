"""The operator board in a real browser (Debian's chromium via Playwright) against a real server: Aktau
port's coordinator sees what arrives (the trains already under way included, in order of arrival,
with their booked TEU), the containers waiting at the port when the board opens, and the queue kept
live as the port reports gate-ins and loads. No console errors allowed; no screenshots written."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from corridor.domain.equipment import with_check_digit  # noqa: E402
from corridor.store import network as netstore  # noqa: E402

pytestmark = pytest.mark.browser
BOXES = [with_check_digit(f"TGHU55{i:04d}") for i in range(1, 4)]
KZ = timezone(timedelta(hours=5))


def _post(site, path: str, body, party: str | None = None, who: str = "admin") -> dict:
    r = httpx.post(site.url + path, json=body, params={"party": party} if party else None,
                   headers={"Authorization": f"Bearer {site.keys[who]}"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _port_reports(site, code: str, box: str, when: datetime, booking: str | None = None,
                  voyage: str | None = None) -> None:
    """Aktau port's own report of one of its boxes (DCSA 2.2), as it would post it; a load names
    the sailing the box went aboard."""
    ev = {"eventType": "EQUIPMENT", "eventClassifierCode": "ACT", "equipmentEventTypeCode": code,
          "eventDateTime": when.isoformat(), "eventCreatedDateTime": when.isoformat(),
          "equipmentReference": box, "ISOEquipmentCode": "42G1", "emptyIndicatorCode": "LADEN",
          "eventLocation": {"UNLocationCode": "KZAAU"}}
    if voyage:
        ev["transportCall"] = {"transportCallID": f"{voyage}-KZAAU", "carrierVoyageNumber": voyage,
                               "UNLocationCode": "KZAAU", "modeOfTransport": "VESSEL"}
    if booking:
        ev["documentReferences"] = [{"documentReferenceType": "BKG", "documentReferenceValue": booking}]
    out = _post(site, "/api/v1/events", [ev], party="PORTAKTAU")
    assert out["stored"] == 1, out


def test_aktau_board_shows_arrivals_under_way_and_the_queue_at_once_then_live(chromium, site):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # a KTZ train that left days ago and arrives tomorrow, with 26 TEU booked on it
    with site.store.tx() as conn:
        train = next(d for d, _ in netstore.list_departures(conn, destination="KZ_AKX", window="arrival",
                                                            start=now + timedelta(hours=2))
                     if d.departs_at < now and d.mode.value == "rail")
        assert netstore.reserve(conn, train.id, 26)
    ready = (now + timedelta(days=1)).date().isoformat()
    booking = _post(site, "/api/v1/bookings", {"origin": "KZAAU", "destination": "AZALA", "ready": ready,
                                               "containers": "2x40", "option": 1}, who="ACME")
    # two boxes gated in before the board opens
    _port_reports(site, "GTIN", BOXES[0], now - timedelta(hours=30), booking["ref"])
    _port_reports(site, "GTIN", BOXES[1], now - timedelta(hours=6), booking["ref"])

    ctx = chromium.new_context(viewport={"width": 1366, "height": 900})
    page, errors = ctx.new_page(), []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.goto(site.url + "/signin")
    page.fill("#api-key", site.keys["PORTAKTAU"])
    page.click("#signin-form button[type=submit]")
    page.wait_for_url("**/map")
    page.goto(f"{site.url}/boards?facility=KZ_AKX")
    page.wait_for_selector("body[data-ready='1']")

    # waiting here: what the store holds, at once (it used to start empty)
    totals = page.locator("#queue-totals")
    expect(totals).to_have_attribute("data-boxes", "2")
    expect(totals).to_contain_text("2 containers, 4 TEU")
    rows = page.locator("#queue-boxes tr[data-equipment]")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.equipment)") == BOXES[:2]   # longest waiting first
    since = (now - timedelta(hours=30)).astimezone(KZ).strftime("%Y-%m-%d %H:%M")
    assert since in rows.first.inner_text() and "UTC+05" in rows.first.inner_text()

    # coming in: the train under way is there with its booked TEU, and the rows run in arrival order
    row = page.locator(f"#arrivals tr[data-departure='{train.id}']")
    expect(row).to_contain_text("under way")
    expect(row.locator("td[data-teu]")).to_have_attribute("data-teu", "26")
    api = httpx.get(site.url + "/api/v1/departures", params={"to": "KZAAU", "window": "arrival", "limit": 50},
                    headers={"Authorization": f"Bearer {site.keys['PORTAKTAU']}"}).json()["departures"]
    shown = page.locator("#arrivals tr[data-departure]").evaluate_all("rs => rs.map(r => r.dataset.departure)")
    assert shown[:5] == [d["id"] for d in api[:5]]
    arrivals = [datetime.fromisoformat(d["arrival"]) for d in api]
    assert arrivals == sorted(arrivals)
    page.check("#arrivals-booked")   # only what carries booked containers
    assert train.id in page.locator("#arrivals tr[data-departure]").evaluate_all(
        "rs => rs.map(r => r.dataset.departure)")
    assert all(int(t) > 0 for t in page.locator("#arrivals td[data-teu]").evaluate_all(
        "cs => cs.map(c => c.dataset.teu)"))

    # live: a gate-in joins the queue, a load takes a box off it, without reloading the page
    _port_reports(site, "GTIN", BOXES[2], now - timedelta(minutes=5), booking["ref"])
    expect(totals).to_have_attribute("data-boxes", "3", timeout=15_000)
    _port_reports(site, "LOAD", BOXES[0], now - timedelta(minutes=1), booking["ref"], voyage="KMT15426009W")
    expect(totals).to_have_attribute("data-boxes", "2", timeout=15_000)
    assert page.locator("#queue-boxes tr[data-equipment]").evaluate_all(
        "rs => rs.map(r => r.dataset.equipment)") == BOXES[1:]
    ctx.close()
    assert errors == [], f"console errors: {errors}"
