"""Real-world EDIFACT quirks through the one ingest path, on both stores.

The messages are our own, at Corridor ports; each reproduces what a public file did (see
tests/unit/test_edifact_quirks.py for where): a COARRI header naming both the previous port
(LOC+9, also LOC+94) and this call (LOC+11) with RFF+BM:0 on the empties (a Moín terminal's
COARRI D:23A), and a CODECO with CRLF, indented and lower-case segments, counts with leading
zeros and a period (719) as the gate time.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import events as ev
from corridor.store.parties import upsert_party


def _parties(store) -> None:
    with store.tx() as conn:
        upsert_party(conn, Party("PORTALAT", "Baku International Sea Trade Port", frozenset({Role.TERMINAL}), "AZ",
                                 facilities=frozenset({"AZ_ALA"})))
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                 facilities=frozenset({"KZ_AKX"})))


def _stored(store):
    with store.read() as conn:
        return sorted((ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()),
                      key=lambda e: e.event_time)


COARRI = ("UNB+UNOA:2+ALATTERM+CUSTOMS+250402:1516+04021516'UNH+51656822+COARRI:D:23A:UN:ITG10'BGM+119++9'"
          "TDT+20+133+1++:172:166:GARABAGH+++9118018:146:11:GARABAGH'RFF+VM:'LOC+41+0002'"
          "LOC+9+KZAAU:ZZZ:98:Aktau'LOC+94+KZAAU:ZZZ:98:Aktau'LOC+11+AZALA:ZZZ:98:Alat+0002'LOC+61+KZAAU'"
          "DTM+132:202502270300:203'DTM+133:202502271900:203'"
          "EQD+CN+MSKU1234565+:102:5++3+5'RFF+BM:AKT-11478'RFF+ABT:0'DTM+203:202502272302:203'LOC+147+0'"
          "LOC+9+KZAAU'LOC+11+AZALA'MEA+AAE+VGM+KGM:16733,08'"
          "EQD+CN+TGHU7654320+:102:5++3+4'RFF+BM:0'RFF+ABT:0'DTM+203:202502272213:203'LOC+147+0'"
          "LOC+9+KZAAU'LOC+11+AZALA'MEA+AAE+VGM+KGM:2200'"
          "EQD+CN+FSCU8887776+:102:5++3+4'RFF+BM:0'RFF+ABT:0'DTM+203:202502272210:203'LOC+147+0'"
          "LOC+9+KZAAU'LOC+11+AZALA'MEA+AAE+VGM+KGM:2200'"
          "CNT+16:3'UNT+000038+51656822'UNZ+1+04021516'").encode()


def test_coarri_naming_the_previous_port_too_is_stored_as_the_discharge_here(loaded_store):
    _parties(loaded_store)
    out = Ingestor(loaded_store).ingest(COARRI, source_party="PORTALAT", fmt="edifact")
    assert (out.stored, out.quarantined) == (3, 0), out.reasons
    events = _stored(loaded_store)
    assert {(e.code, e.location) for e in events} == {("DISC", "AZALA")}
    assert [e.equipment for e in events] == ["FSCU8887776", "TGHU7654320", "MSKU1234565"]
    assert events[-1].event_time == datetime(2025, 2, 27, 23, 2, tzinfo=ZoneInfo("Asia/Baku"))
    # the empties' 'RFF+BM:0' is no bill of lading: nothing ties the two empties together
    assert [e.references for e in events] == [(), (), (("BOL", "AKT-11478"),)]
    again = Ingestor(loaded_store).ingest(COARRI, source_party="PORTALAT", fmt="edifact")
    assert (again.stored, again.duplicates) == (0, 3)


CODECO = (b"UNA:+.? '\r\nUNB+UNOB:2+AKTAUPORT+CORRIDOR+240315:0930+7'\r\n"
          b"  unh+1+CODECO:D:95B:UN:ITG14'  \r\n  bgm+34+G1+9'\r\n"
          b"\teqd+cn+msku1234565+45G1:102:5++2+5'\t\r\n\tdtm+7:202403141230-202403141245:719'\r\n"
          b"\tloc+165+kzaau:139:6'\r\nUNT+0006+1'\r\nUNZ+01+7'\r\n\r\n  ")


def test_crlf_indented_lower_case_codeco_with_a_period_is_stored_once(loaded_store):
    _parties(loaded_store)
    out = Ingestor(loaded_store).ingest(CODECO, source_party="PORTAKTAU", fmt="edifact")
    assert (out.stored, out.quarantined) == (1, 0), out.reasons
    (e,) = _stored(loaded_store)
    assert (e.code, e.equipment, e.location) == ("GTIN", "MSKU1234565", "KZAAU")
    assert e.event_time == datetime(2024, 3, 14, 12, 30, tzinfo=ZoneInfo("Asia/Aqtau"))
    assert not any("UNT" in w or "UNZ" in w for w in out.warnings)
    again = Ingestor(loaded_store).ingest(CODECO, source_party="PORTAKTAU", fmt="edifact")
    assert (again.stored, again.duplicates) == (0, 1)
