"""CSV exports as carriers, platforms, terminals and railways write them (and as Excel re-saves
them): BOM, ';' with decimal commas, CRLF, headers with units, title lines, repeated headers,
Windows code pages, UTF-16, local times without an offset, and slash dates in either order."""

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from corridor.domain.events import EventKind
from corridor.ingest import csvfmt
from corridor.ingest.csvfmt import detect_profile, load_profiles, parse_csv
from corridor.ingest.service import parse

UTC4 = timezone(timedelta(hours=4))
ZONES = {"GEPTI": "Asia/Tbilisi", "AZBAK": "Asia/Baku", "KZAAU": "Asia/Aqtau", "USNYC": "America/New_York",
         "DEHAM": "Europe/Berlin", "DEKOE": "Europe/Berlin"}


def tz_for(code):
    return ZoneInfo(ZONES[code]) if code in ZONES else None


# a carrier's track-and-trace export saved by a European Excel: BOM, ';', CRLF, decimal commas,
# a quoted remark holding ';' and a line break, a row of empty cells, the header pasted again,
# a column Corridor does not know (Seal), a date without its time, a trailing blank line
CARRIER_EXPORT = (
    "Container No.;Event;Event Date (UTC);Location;Vessel;Voyage;B/L No.;Lat;Long;Remarks;Seal\r\n"
    "MSCU 123456-6;Gate In;02.03.2026 08:15;KZAAU;;;MEDU1234;43,6481;51,1722;\"pre-gate; ok\";S1\r\n"
    "MSCU 123456-6;Loaded on vessel;04.03.2026 10:15;KZAAU;PIONEER;V012;MEDU1234;;;\"two\r\nlines\";S1\r\n"
    ";;;;;;;;;;\r\n"
    "Container No.;Event;Event Date (UTC);Location;Vessel;Voyage;B/L No.;Lat;Long;Remarks;Seal\r\n"
    "TGHU7654320;Discharged;05.03.2026 22:40;AZBAK;PIONEER;V012;;40,35;49,83;;\r\n"
    "TGHU7654320;Vessel departure;05.03.2026;AZBAK;PIONEER;V012;;;;;\r\n"
    "\r\n").encode("utf-8-sig")


def test_carrier_export_from_excel_reads_as_a_person_would():
    r = parse_csv(CARRIER_EXPORT, source_party="msc")
    assert r.meta["profile"] == "track_trace_export" and r.meta["delimiter"] == ";"
    assert r.warnings == ["line 6 repeats the header; skipped"]
    gtin, load, disc = r.events
    assert (gtin.code, gtin.equipment, gtin.location, gtin.reference("BOL")) == (
        "GTIN", "MSCU1234566", "KZAAU", "MEDU1234")
    assert gtin.event_time == datetime(2026, 3, 2, 8, 15, tzinfo=timezone.utc)   # the header says UTC
    assert (gtin.lat, gtin.lon, gtin.reason) == (43.6481, 51.1722, "pre-gate; ok")
    assert (load.code, load.kind, load.reason) == ("LOAD", EventKind.EQUIPMENT, "two\r\nlines")
    assert (load.transport_call.mode, load.transport_call.vehicle, load.transport_call.voyage) == (
        "VESSEL", "PIONEER", "V012")   # a vessel's name implies the mode
    assert (disc.code, disc.equipment, disc.lat, disc.lon) == ("DISC", "TGHU7654320", 40.35, 49.83)
    [dateless] = r.rejections
    # physical line 8: the quoted remark spans lines 3 and 4
    assert (dateless.segment, dateless.element) == (8, "Event Date (UTC)")
    assert dateless.reason == "line 8, column Event Date (UTC): '05.03.2026' has a date but no time of day"
    assert r.meta["rows"] == 4   # the empty-cell row and the repeated header are not rows


def test_the_service_path_reads_the_export_too():
    r = parse(CARRIER_EXPORT, "csv", "msc", datetime(2026, 3, 6, tzinfo=timezone.utc))
    assert [e.code for e in r.events] == ["GTIN", "LOAD", "DISC"] and len(r.rejections) == 1


def test_local_times_without_an_offset_take_the_zone_of_their_place():
    text = ("event_code,event_time,location,equipment\n"
            "GTIN,2026-03-04 10:15:00,GEPTI,CMAU4001000\n"
            "GTOT,2026-03-04T06:00:00Z,GEPTI,CMAU4001000\n"
            "GTIN,2026-03-29 02:30,DEHAM,MSKU1234565\n"
            "GTOT,2026-10-25 02:30,DEHAM,MSKU1234565\n"
            "GTIN,2026-03-04 10:15,XXNOPE,MSKU1234565\n")
    r = parse_csv(text, tz_for=tz_for)
    gtin, gtot = r.events
    assert gtin.event_time == datetime(2026, 3, 4, 10, 15, tzinfo=ZoneInfo("Asia/Tbilisi"))
    assert gtin.event_time.utcoffset() == timedelta(hours=4)
    assert gtot.event_time == datetime(2026, 3, 4, 6, 0, tzinfo=timezone.utc)   # the Z is kept
    bad = {x.segment: x.reason for x in r.rejections}
    assert bad[4] == ("line 4, column event_time: '2026-03-29 02:30' does not exist in Europe/Berlin "
                      "(clocks changed that hour)")
    assert bad[5].endswith("'2026-10-25 02:30' happens twice in Europe/Berlin (clocks changed that hour)")
    assert bad[6].endswith("'2026-03-04 10:15' has no UTC offset and no time zone is known for XXNOPE")
    # without a zone lookup the time is held, never read as UTC
    [first, *_] = parse_csv(text).rejections
    assert first.reason.endswith("has no UTC offset and neither the header nor the profile names a time zone")


def test_a_zone_named_in_the_header_wins_over_the_place():
    text = ("Container;Status;Date/Time (UTC+4);Location\n"
            "TGHU7654320;Gate In;2026-03-04 10:15;USNYC\n")
    [e] = parse_csv(text, tz_for=tz_for).events
    assert e.event_time == datetime(2026, 3, 4, 10, 15, tzinfo=UTC4)
    local = parse_csv(text.replace("(UTC+4)", "(local time)"), tz_for=tz_for).events[0]
    assert local.event_time.utcoffset() == timedelta(hours=-5)   # New York, before its DST start
    assert detect_profile(["Event_Code", "Event Time (UTC)", "LOCATION"]) == "default"


def test_slash_dates_follow_the_files_own_evidence():
    head = "Container Number,Status,Date,Location\n"
    us = head + ("MSKU1234565,Gate In,03/04/2026 10:00,USNYC\n"
                 "MSKU1234565,Loaded,03/14/2026 2:15 PM,USNYC\n")
    r = parse_csv(us, tz_for=tz_for)
    assert [e.event_time.replace(tzinfo=None) for e in r.events] == [
        datetime(2026, 3, 4, 10, 0), datetime(2026, 3, 14, 14, 15)]
    assert r.meta["date_order"] == "MDY (line 3: 03/14/2026)"
    eu = head + ("MSKU1234565,Gate In,03/04/2026 10:00,DEHAM\n"
                 "MSKU1234565,Loaded,13/04/2026 11:00,DEHAM\n")
    assert parse_csv(eu, tz_for=tz_for).events[0].event_time == datetime(
        2026, 4, 3, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    # nothing in the file tells: every ambiguous row is held, with the reason
    silent = head + ("MSKU1234565,Gate In,03/04/2026 10:00,USNYC\n"
                     "MSKU1234565,Loaded,05/05/2026 11:00,USNYC\n")
    r = parse_csv(silent, tz_for=tz_for)
    assert [e.event_time.day for e in r.events] == [5]   # 05/05 reads the same both ways
    [held] = r.rejections
    assert held.reason == ("line 2, column Date: '03/04/2026 10:00' could be 3 April or March 4, "
                           "and no date in the file has a day above 12 to tell")
    # a file that writes both orders: the unambiguous rows pass, the ambiguous one is held
    mixed = head + ("MSKU1234565,Gate In,13/03/2026 10:00,USNYC\n"
                    "MSKU1234565,Loaded,03/14/2026 11:00,USNYC\n"
                    "MSKU1234565,Discharged,03/04/2026 11:00,USNYC\n")
    r = parse_csv(mixed, tz_for=tz_for)
    assert len(r.events) == 2 and r.rejections[0].segment == 4
    assert "day-first (line 2: '13/03/2026') and month-first (line 3: '03/14/2026')" in r.rejections[0].reason
    assert r.warnings and "dates that read both ways are held" in r.warnings[0]


def test_the_header_or_the_profile_names_the_date_order(monkeypatch):
    text = ("Container No.;Event;Date (dd/mm/yyyy);Time;Location\n"
            "TGHU7654320;Discharged;03/04/2026;22:40;AZBAK\n")
    [e] = parse_csv(text, tz_for=tz_for).events
    assert e.event_time == datetime(2026, 4, 3, 22, 40, tzinfo=ZoneInfo("Asia/Baku"))
    profiles = dict(load_profiles())
    profiles["us_tracker"] = dataclasses.replace(profiles["track_trace_export"], name="us_tracker",
                                                 date_order="MDY")
    monkeypatch.setattr(csvfmt, "load_profiles", lambda: profiles)
    r = parse_csv(text.replace(" (dd/mm/yyyy)", ""), profile="us_tracker", tz_for=tz_for)
    assert r.events[0].event_time.date() == datetime(2026, 3, 4).date()
    assert r.meta["date_order"] == "MDY (profile us_tracker)"
    # the profile's order is followed even where a row would read otherwise
    [bad] = parse_csv(text.replace("03/04/2026", "13/04/2026").replace(" (dd/mm/yyyy)", ""),
                      profile="us_tracker", tz_for=tz_for).rejections
    assert "'13/04/2026 22:40' is not a valid time (month must be in 1..12)" in bad.reason


def test_a_western_windows_1252_export_is_not_read_as_cyrillic():
    text = ("Container;Move;Date;Time;Terminal;Truck Plate;F/E;Remarks\r\n"
            "TCNU9988772;Gate In;13/03/2026;09:55;DEKOE;K-AB 123;F;Köln Eifeltor, Gleis 3\r\n"
            "TCNU9988772;Gate Out;03/04/2026;17:00;DEKOE;K-AB 123;E;Übergabe an Spedition\r\n"
            "TCNU9988772;IN;03/04/2026;18:00;DEKOE;K-AB 123;E;\r\n")
    r = parse_csv(text.encode("cp1252"), tz_for=tz_for)
    assert r.warnings == ["file is not UTF-8; read as Windows-1252"]
    gin, gout = r.events
    assert (gin.reason, gout.reason) == ("Köln Eifeltor, Gleis 3", "Übergabe an Spedition")
    # a terminal's bare IN is a discharge as often as a gate-in: held, not guessed
    [held] = r.rejections
    assert (held.segment, held.element) == (4, "Move") and "unknown event code 'IN'" in held.reason
    assert (gin.code, gout.code, gout.empty, gout.transport_call.mode) == ("GTIN", "GTOT", True, "TRUCK")
    # the terminal's zone, and 03/04 read day-first because line 2 has a 13th
    assert gout.event_time == datetime(2026, 4, 3, 17, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert gout.event_time.utcoffset() == timedelta(hours=2)
    russian = "Операция;Номер контейнера\r\nПрибытие;MSKU1234565\r\n".encode("cp1251")
    assert csvfmt._decode(russian) == (russian.decode("cp1251"), "cp1251")


def test_excel_unicode_text_is_utf16_with_tabs():
    text = ("Wagon\tContainer\tStation\tOperation\tDate/Time\tTrain\r\n"
            "95123451\tMSKU1234565\tAZBAK\tTrain arrival\t2026-03-04 10:15\tX8024\r\n")
    r = parse_csv(text.encode("utf-16"), tz_for=tz_for)
    assert (r.meta["encoding"], r.meta["delimiter"]) == ("utf-16", "\t")
    [e] = r.events
    assert (e.code, e.kind, e.transport_call.mode, e.transport_call.voyage, e.transport_call.wagon) == (
        "ARRI", EventKind.TRANSPORT, "RAIL", "X8024", "95123451")
    assert e.event_time == datetime(2026, 3, 4, 10, 15, tzinfo=ZoneInfo("Asia/Baku"))


def test_title_lines_and_excel_sep_line_above_the_header():
    report = ("Container moves, Port of Baku\r\n"
              "Generated 06.12.2026 07:00\r\n"
              "\r\n"
              "Container No.;Event;Date;Time;Location;Lat;Long\r\n"
              "TGHU7654320;Discharged;13.03.2026;22:40;AZBAK;40.35° N;49,83 E\r\n"
              "TGHU7654320;Gate-Out;14.03.2026;8:05 AM;AZBAK;33.9 S;18.4 W\r\n"
              "Total: 2;;;;;;\r\n")
    r = parse_csv(report, tz_for=tz_for)
    assert r.warnings == ["lines 1-3 before the header skipped"]
    disc, gtot = r.events
    assert (disc.code, disc.lat, disc.lon) == ("DISC", 40.35, 49.83)
    assert (gtot.code, gtot.lat, gtot.lon) == ("GTOT", -33.9, -18.4)
    assert gtot.event_time == datetime(2026, 3, 14, 8, 5, tzinfo=ZoneInfo("Asia/Baku"))
    [total] = r.rejections
    assert (total.segment, total.element, total.reason) == (7, "Event", "line 7, column Event: event code is empty")
    sep = "sep=;\r\nevent_code;event_time;equipment\r\nGTIN;2026-03-04T10:15:00+04:00;TGHU7654320\r\n"
    r = parse_csv(sep)
    assert r.meta["delimiter"] == ";" and [e.code for e in r.events] == ["GTIN"]
    assert r.warnings == ["line 1 (sep=;) names the delimiter; the header is line 2"]


def test_trailing_empty_cells_pass_and_line_numbers_count_physical_lines():
    text = ("event_code;event_time;equipment;reason\n"
            "GTIN;2026-03-04T10:15:00+04:00;TGHU7654320;\"first\nsecond\nthird\";;\n"
            "LODE;2026-03-04T11:00:00+04:00;TGHU7654320;x\n")
    r = parse_csv(text)
    assert r.events[0].reason == "first\nsecond\nthird"
    [bad] = r.rejections
    assert (bad.segment, bad.element) == (5, "event_code") and bad.reason.startswith("line 5,")


def test_header_that_fits_no_profile_names_the_closest():
    [bad] = parse_csv("Container No.;Event;Location\nTGHU7654320;Gate In;AZBAK\n").rejections
    assert bad.reason.endswith("; closest: profile track_trace_export, which lacks event_time")


def test_event_words_and_what_spreadsheets_do_to_numbers():
    text = ("Container,Event,Event Date,Event Time,Location,Vessel,Train No,Wagon\n"
            "TGHU7654320,Vessel Departure,04.03.2026,10:15,AZBAK,PIONEER,,\n"
            "TGHU7654320,gate-in,04.03.2026,11:15,AZBAK,,,\n"
            "TGHU7654320,Rolled,04.03.2026,12:15,AZBAK,,,\n"
            "TGHU7654320,Train arrival,04.03.2026,13:15,AZBAK,,X8024,9.51235E+11\n")
    r = parse_csv(text, tz_for=tz_for)
    depa, gtin = r.events
    assert (depa.code, depa.kind, depa.transport_call.mode, depa.transport_call.vehicle) == (
        "DEPA", EventKind.TRANSPORT, "VESSEL", "PIONEER")
    assert gtin.code == "GTIN"
    rolled, wagon = r.rejections
    assert (rolled.segment, rolled.element) == (4, "Event") and "unknown event code 'Rolled'" in rolled.reason
    assert wagon.element == "Wagon" and "scientific notation" in wagon.reason
    # an export with both an event column and a status one: the event column is the event
    [e] = parse_csv("Status,Container,Event,Event Date (UTC)\n"
                    "Actual,MSKU1234565,Gate In,04.03.2026 10:15\n").events
    assert (e.code, e.event_time) == ("GTIN", datetime(2026, 3, 4, 10, 15, tzinfo=timezone.utc))


def test_dates_with_the_months_name_as_carrier_portals_write_them():
    text = ("Container,Event,Event Date (UTC)\n"
            "MSKU1234565,Gate In,04-Mar-2026 10:15\n"
            "MSKU1234565,Loaded,04 MAR 2026 22:40\n"
            "MSKU1234565,Discharged,\"Mar 9, 2026 2:15 PM\"\n"
            "MSKU1234565,Gate Out,04-Foo-2026 10:00\n")
    r = parse_csv(text)
    assert [e.event_time for e in r.events] == [
        datetime(2026, 3, 4, 10, 15, tzinfo=timezone.utc), datetime(2026, 3, 4, 22, 40, tzinfo=timezone.utc),
        datetime(2026, 3, 9, 14, 15, tzinfo=timezone.utc)]
    [bad] = r.rejections
    assert bad.segment == 5 and "'04-Foo-2026 10:00' is not a time in the form" in bad.reason


def test_a_profiles_date_order_is_checked_when_read(tmp_path):
    spec = ("us_tracker:\n  columns: {Container: equipment, Event: event_code, Date: event_time}\n"
            "  required: [equipment, event_code, event_time]\n  time_format: auto\n  date_order: ORDER\n")
    (tmp_path / "ok.yaml").write_text(spec.replace("ORDER", "mdy"))
    assert load_profiles(tmp_path / "ok.yaml")["us_tracker"].date_order == "MDY"
    (tmp_path / "bad.yaml").write_text(spec.replace("ORDER", "ymd"))
    with pytest.raises(ValueError, match="profile us_tracker: date_order 'ymd' is neither DMY nor MDY"):
        load_profiles(tmp_path / "bad.yaml")
