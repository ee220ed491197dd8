"""The twin's model, scenarios, calibration and the messages its parties send."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from corridor.ingest.csvfmt import parse_csv
from corridor.ingest.dcsa import parse_dcsa
from corridor.ingest.edifact.reader import parse_edifact
from corridor.network_file import load_network
from corridor.twin.model import Twin
from corridor.twin.report import bar_chart, calibration, compare, markdown, report_data
from corridor.twin.run import simulate
from corridor.twin.scenario import SCENARIOS, load_scenario
from corridor.twin.parties import SHIPPERS, edi_ids
from corridor.twin.speak import Outbox

FACTS = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "corridor-facts.md"


def test_scenario_file_merges_over_the_default():
    sc = load_scenario(SCENARIOS / "xian-10-more.yaml")
    assert sc.name == "xian-plus-10"
    assert sc["origins"]["CN_XIA"] == {"trains_per_month": 34, "border": "KZ_ALT"}
    assert sc["origins"]["CN_CQI"]["trains_per_month"] == load_scenario()["origins"]["CN_CQI"]["trains_per_month"]


def test_same_seed_same_run_and_another_seed_differs():
    a, b, c = (simulate(None, days=40, seed=s).twin.stats for s in (3, 3, 4))
    assert (a.trains, a.containers, a.delivered) == (b.trains, b.containers, b.delivered)
    assert (a.containers, a.delivered) != (c.containers, c.delivered)


def test_a_year_meets_the_volume_and_the_defaults_sit_inside_the_public_figures():
    if not FACTS.exists():
        pytest.skip(f"public figures not found at {FACTS}")
    st = simulate(None, days=365, seed=1).twin.stats
    assert st.trains >= 300 and st.containers >= 30_000
    assert st.reused > 0                       # container numbers come back for other shippers
    rows = calibration(st)
    text = FACTS.read_text(encoding="utf-8")
    assert "20.1 h" in text and "8–12" in text  # the figures the table cites are the file's
    for r in rows:
        assert r["inside"], f"{r['figure']}: model {r['model']} outside {r['public_low']}-{r['public_high']}"
    assert max(st.alat_handling) <= 30


def test_storms_close_the_sea_mostly_in_winter():
    st = simulate(None, days=365, seed=2).twin.stats
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    months = [(t0.month + int(a // 24 // 30.4)) for a, _b in st.closures]
    winter = sum(1 for m in months if m in (1, 2, 11, 12))
    assert st.closures and winter > len(months) - winter


def test_more_trains_from_xian_lengthen_the_queue_at_aktau():
    base = simulate(None, load_scenario(), days=365, seed=1)
    more = simulate(None, load_scenario(origins={"CN_XIA": {"trains_per_month": 45}}, name="more"), days=365, seed=1)
    doc = compare(base, more)
    row = next(r for r in doc["rows"] if r["figure"] == "KZ_AKX queue TEU mean")
    assert row["more"] > row["default"]


def _messages(days=20):
    outbox = Outbox()
    twin = Twin(load_scenario(), load_network(), seed=5, voice=outbox)
    twin.start(days)
    twin.env.run(until=days * 24)
    return outbox.drain(edi_ids())


def test_every_message_parses_without_rejection():
    msgs = _messages()
    seen = {m.fmt for m in msgs}
    assert {"csv", "edifact", "dcsa-json"} <= seen
    for m in msgs:
        if m.fmt == "edifact":
            r = parse_edifact(m.content)
        elif m.fmt == "dcsa-json":
            r = parse_dcsa(m.content, source_party=m.party)
        elif m.fmt == "csv":
            r = parse_csv(m.content, source_party=m.party)
        else:
            continue
        assert r.rejections == [], (m.fmt, m.party, r.rejections[:2])
        assert r.events


def test_ktz_speaks_its_russian_export_with_the_dostyk_esr_code():
    ktz = [m for m in _messages() if m.party == "KTZ"]
    assert ktz
    text = b"".join(m.content for m in ktz).decode()
    assert "Номер вагона" in text
    r = parse_csv(ktz[0].content, source_party="KTZ")
    assert r.meta["profile"] == "railway_wagon_report_ru"
    assert all(e.transport_call.wagon for e in r.events)
    assert any("708507" in m.content.decode() for m in ktz)   # Dostyk by its ESR station code


def test_report_and_svg():
    r = simulate(None, days=30, seed=1)
    data = report_data(r.twin.stats, r.twin.t0)
    md = markdown({"summary": r.summary(), **data})
    assert "Calibration" in md and "| route |" in md
    svg = bar_chart(["a", "b"], [1, 3], "t")
    assert svg.startswith("<svg") and svg.count("<rect") == 3


def test_the_twin_speaks_for_the_demo_parties_with_their_edifact_ids():
    from corridor.access.demo import DEMO_PARTIES
    ids = {p.id for p in DEMO_PARTIES}
    msgs = _messages()
    senders = {m.party for m in msgs}
    assert senders <= ids, senders - ids
    assert {"ACME", "BOSPHORUS"} <= {s for s, _ in SHIPPERS}
    unb = {m.content.decode().split("UNB+UNOC:3+", 1)[1].split(":", 1)[0] for m in msgs if m.fmt == "edifact"}
    assert unb and unb <= {p.edi_ids[0] for p in DEMO_PARTIES if p.edi_ids}


def test_ktz_export_writes_kazakhstan_time_wherever_the_row_is():
    # KTZ's export is read at UTC+5: a row at Khorgos's Chinese side (+08:00) is written in KZ time,
    # not China's wall clock (read as +05:00 it was three hours in the future and quarantined)
    from datetime import datetime, timedelta, timezone

    from corridor.twin.speak import _csv_ktz
    t = datetime(2026, 11, 19, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    out = _csv_ktz([(t, "TRANSPORT", "DEPA", "CNHRS", None, None, "50000512", "L07-0115", None, None)],
                   "KTZ", "KTZ", 1).decode()
    assert "19.11.2026 05:30" in out.splitlines()[1]
