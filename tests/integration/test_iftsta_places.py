"""IFTSTA out names every place by its UN/LOCODE, and a place without one by its name, never by
Corridor's internal location id (both stores)."""

from __future__ import annotations

import re

from corridor.access.visibility import viewer_for
from corridor.analytics.iftsta_out import iftsta_for_party
from corridor.domain.parties import Party, Role
from corridor.ingest.edifact import parse_edifact
from corridor.network_file import load_network

from test_kpi_data import book, box, row, send

SHIPPER = Party("SHIPA", "Shipper A", frozenset({Role.SHIPPER}))


def test_every_loc_is_a_locode_or_a_named_place(loaded_store):
    book(loaded_store, "BK21", "AZ_ALA", "TR_KRS", 2, "2025-03-10T00:00:00+00:00")
    a = box(21)
    # the railways name Absheron, Kartsakhi and Kars, which have no UN/LOCODE, by their names
    out = send(loaded_store, "RAILK", [
        row("LOAD", "2025-03-05T10:00+04:00", "AZALA", a, voyage="K1", bkg="BK21"),
        row("DEPA", "2025-03-05T12:00+04:00", "AZALA", a, voyage="K1", bkg="BK21"),
        row("ARRI", "2025-03-06T08:00+04:00", "Absheron station", a, voyage="K1", bkg="BK21"),
        row("DEPA", "2025-03-06T10:00+04:00", "Absheron station", a, voyage="K1", bkg="BK21"),
        row("ARRI", "2025-03-08T12:00+04:00", "Kartsakhi", a, voyage="K1", bkg="BK21"),
        row("ARRI", "2025-03-09T12:00+03:00", "Kars", a, voyage="K1", bkg="BK21"),
        row("DISC", "2025-03-09T14:00+03:00", "Kars", a, voyage="K1", bkg="BK21"),
    ], received="2025-03-10T00:00:00+00:00")
    assert out.stored == 7 and out.quarantined == 0, out.reasons
    with loaded_store.read() as conn:
        text, messages, _ = iftsta_for_party(conn, viewer_for(conn, SHIPPER))
    assert messages == 1
    locs = re.findall(r"LOC\+175\+([^'+]*)", text)
    assert locs and not [x for x in locs if "_" in x]                  # no internal ids (AZ_ABS, TR_KRS ...)
    assert "AZALA:139:6" in locs                                         # UN/LOCODE, code list 139, UN/ECE
    assert ":::Kars Logistics Centre (BTK)" in locs
    assert ":::Absheron station (Baku container terminal)" in locs
    assert ":::Kartsakhi (Georgia-Türkiye border, BTK)" in locs
    net = load_network()
    for x in locs:
        code, *rest = x.split(":")
        if code:
            assert rest == ["139", "6"] and net.by_code(code) is not None and net.by_code(code).code == code
        else:
            assert rest[:2] == ["", ""] and net.resolve(rest[2]).code is None
    # still one interchange a reader takes without a rejection; the coded places come back as they went
    parsed = parse_edifact(text.encode(), source_party="SHIPA")
    assert not parsed.rejections
    assert "AZALA" in {e.location for e in parsed.events}
    # the named places come back by their names (which resolve through the location aliases)
    assert {"Kars Logistics Centre (BTK)", "Absheron station (Baku container terminal)"} <= \
        {e.location for e in parsed.events}


def test_a_place_outside_the_network_is_never_sent_as_an_id():
    from corridor.analytics.iftsta_out import place_id
    net = load_network()
    places = {**{loc.id: loc for loc in net.locations.values()}, **{loc.ref: loc for loc in net.locations.values()}}
    assert place_id("KZAAU", places) == ["KZAAU", "139", "6"]
    assert place_id("TR_KRS", places) == ["", "", "", "Kars Logistics Centre (BTK)"]
    assert place_id("DEHAM", {}) == ["DEHAM", "139", "6"]               # shaped like a UN/LOCODE
    assert place_id("Somewhere", {}) == ["", "", "", "Somewhere"]
