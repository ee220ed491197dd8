"""DCSA Track & Trace 2.2 JSON out: one stored Event as GET /v2/events and webhooks deliver it.

The inverse of `corridor.ingest.dcsa` for 2.2: `parse_dcsa([to_dcsa_22(e, ...)])` gives back the
same Event for every field 2.2 can carry. What 2.2 cannot carry (trip, wagon, SMGS/CIM/TRN
references, IoT positions, alerts) stays in Corridor's own API. The Corridor departure travels as the
transportCallID when the sender gave none; ingest maps such an id back onto that departure. A call
that names no service of its own carries the service of the departure it was mapped to, as the
carrierServiceCode filter of GET /v2/events matches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, select

from corridor.domain.events import Event, EventKind, TransportCall
from corridor.ingest.dcsa import (DOCUMENT_TYPES_22, FACILITY_TYPES_22, MODES_22, REF_TO_DOC,
                                  REFERENCE_TYPES_22, un_location_code)

DCSA_22_KINDS = (EventKind.TRANSPORT, EventKind.SHIPMENT, EventKind.EQUIPMENT)
# Corridor facility types outside the 2.2 list: a ferry berth is part of a port terminal
_FACILITY_OUT = {"BRTH": "POTE"}
_NAMESPACE = uuid.UUID("6f0c6a52-6d1e-4c55-9f0e-8d8f3b2a7c11")  # Corridor's uuid5 namespace
# Corridor shipment codes outside the 2.2 list: a cancelled booking is a voided booking document
# (2.2's VOID; 3.0 has CANCELLED); a filter on VOID finds them (dcsa_query, outbox)
SHIPMENT_OUT_22 = {"CANC": "VOID"}
SHIPMENT_IN_22 = {"VOID": ("VOID", "CANC")}


def shipment_codes(wanted) -> list[str]:
    """The stored shipment codes a 2.2 shipmentEventTypeCode filter asks for."""
    return [c for w in wanted for c in SHIPMENT_IN_22.get(w, (w,))]


def place_names(conn: Connection) -> dict[str, str]:
    """Location id -> name of the places with no UN/LOCODE (Kars), which 2.2 can name only in words
    (read once per store and a few minutes)."""
    from corridor.store.tables import locations
    from corridor.store.tracking import cached
    return cached(conn, "dcsa-place-names", lambda c: {
        r.id: r.name for r in c.execute(select(locations.c.id, locations.c.name).where(locations.c.code.is_(None)))})


def dcsa_22_gap(event: Event) -> str | None:
    """Return why `event` cannot be expressed in DCSA 2.2, or None when it can."""
    if event.kind not in DCSA_22_KINDS:
        return f"{event.kind.value} events have no DCSA 2.2 counterpart"
    tc = event.transport_call
    if event.kind == EventKind.TRANSPORT and tc is None:
        return "a TRANSPORT event needs a transport call in DCSA 2.2"
    if tc is not None and tc.mode not in MODES_22:
        return f"mode of transport {tc.mode!r} is not one of {', '.join(MODES_22)}"
    if event.kind == EventKind.SHIPMENT and _document(event) is None:
        return "a SHIPMENT event needs a document reference (BKG, BOL or a DCSA document type)"
    return None


def to_dcsa_22(event: Event, event_id: str, created_at: datetime, *,
               departure_service: str | None = None, names: Mapping[str, str] | None = None) -> dict:
    """Return the DCSA TNT 2.2 JSON object of one stored event; ValueError names what 2.2 lacks.

    `departure_service`: the service of the timetable departure the event was mapped to (see
    `departures_to_name`), sent when the call names none of its own. `names`: `place_names`, the
    words for a place with no UN/LOCODE (else its Corridor id is the name)."""
    gap = dcsa_22_gap(event)
    if gap:
        raise ValueError(gap)
    out: dict = {"eventID": dcsa_event_id(event_id), "eventCreatedDateTime": _iso(created_at),
                 "eventType": event.kind.value, "eventClassifierCode": event.classifier.value,
                 "eventDateTime": _iso(event.event_time)}
    x = event.extra
    if event.kind == EventKind.TRANSPORT:
        out["transportEventTypeCode"] = event.code
        _put(out, "delayReasonCode", x.get("delay_reason"))
        _put(out, "changeRemark", (event.reason or "")[:250] or None)
        out["transportCall"] = _transport_call(event.transport_call, event, departure_service,
                                              with_position=True)
        _put(out, "documentReferences", _document_references(event.references))
    elif event.kind == EventKind.SHIPMENT:
        kind, value = _document(event)
        out.update(shipmentEventTypeCode=SHIPMENT_OUT_22.get(event.code, event.code), documentID=value,
                   documentTypeCode=REF_TO_DOC.get(kind, kind))
        _put(out, "reason", event.reason)
    else:
        out["equipmentEventTypeCode"] = event.code
        _put(out, "equipmentReference", event.equipment)
        if event.size_type and len(event.size_type) <= 4:   # EDIFACT may give a longer description
            out["ISOEquipmentCode"] = event.size_type
        # 2.2 requires the indicator; a container moving on the corridor is laden unless reported empty
        out["emptyIndicatorCode"] = "EMPTY" if event.empty else "LADEN"
        _put(out, "eventLocation", _event_location(event, names) or None)
        if event.transport_call is not None:
            out["transportCall"] = _transport_call(event.transport_call, event, departure_service,
                                                  with_position=False)
        _put(out, "documentReferences", _document_references(event.references))
        _put(out, "seals", x.get("seals"))
    _put(out, "references", [{"referenceType": k, "referenceValue": v[:100]}
                             for k, v in event.references if k in REFERENCE_TYPES_22] or None)
    return out


def departures_to_name(rows) -> set[str]:
    """Departure ids whose service the 2.2 JSON of these stored event rows needs: calls mapped to
    a timetable departure that name no service of their own (read them in one go per page)."""
    return {r.departure_id for r in rows if r.departure_id and not r.service}


def carrier_service_code(tc: TransportCall, departure_service: str | None) -> str | None:
    """The call's carrierServiceCode: the sender's own when it named one, else its departure's.

    2.2 allows 5 characters: a longer code (the default timetable's line names such as
    'AKTAU-ALAT FEEDER') is left out rather than cut or sent invalid."""
    code = tc.service or departure_service
    return code if code and len(code) <= 5 else None


def dcsa_event_id(event_id) -> str:
    """Return `event_id` when it is a UUID, else a stable UUID derived from it (2.2 wants a UUID)."""
    try:
        return str(uuid.UUID(str(event_id)))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, str(event_id)))


def _iso(moment: datetime) -> str:
    if moment is None or moment.tzinfo is None:
        raise ValueError("DCSA date-times need a UTC offset; got a naive or missing datetime")
    return moment.isoformat()


def _put(out: dict, key: str, value) -> None:
    if value not in (None, "", []):
        out[key] = value


def _place(code: str | None) -> str | None:
    """The UN/LOCODE when `code` is one, else None (Corridor ids such as KZ_AKX are not)."""
    try:
        return un_location_code(code) if code else None
    except ValueError:
        return None


def _degrees(value: float, max_len: int) -> str:
    text = repr(float(value))
    return text if len(text) <= max_len else f"{value:.6f}".rstrip("0").rstrip(".")


def _document(event: Event) -> tuple[str, str] | None:
    return next(((k, v) for k, v in event.references
                 if k in REF_TO_DOC or k in DOCUMENT_TYPES_22), None)


def _document_references(refs) -> list | None:
    docs = [{"documentReferenceType": "BKG" if k == "BKG" else "TRD", "documentReferenceValue": v}
            for k, v in refs if k in ("BKG", "BOL")]
    return docs or None


def _event_location(event: Event, names: Mapping[str, str] | None = None) -> dict:
    """An equipment event's eventLocation: its place and position, with the name, facility and
    address its sender gave (ingest keeps them in extra["event_location"])."""
    given = event.extra.get("event_location") or {}
    place = _place(event.location)
    where: dict = {}
    if "locationName" in given:
        where["locationName"] = given["locationName"]
    elif event.location and not place:
        # a place with no UN/LOCODE: its name (the call's otherFacility keeps the Corridor id)
        where["locationName"] = ((names or {}).get(event.location) or event.location)[:100]
    if event.lat is not None:
        where["latitude"] = _degrees(event.lat, 10)
    if event.lon is not None:
        where["longitude"] = _degrees(event.lon, 11)
    _put(where, "UNLocationCode", place)
    for key in ("facilityCode", "facilityCodeListProvider", "address"):
        if key in given:
            where[key] = given[key]
    return where


def _call_location(given: dict, lat: float | None, lon: float | None) -> dict:
    """A transport call's location as its sender gave it (extra["call_location"]), its position
    from the event's lat/lon (a transport event) or kept with it (an equipment event)."""
    out: dict = {}
    _put(out, "locationName", given.get("locationName"))
    lat = given.get("latitude", lat)
    lon = given.get("longitude", lon)
    if lat is not None:
        out["latitude"] = _degrees(lat, 10)
    if lon is not None:
        out["longitude"] = _degrees(lon, 11)
    for key in ("UNLocationCode", "facilityCode", "facilityCodeListProvider", "address"):
        if key in given:
            out[key] = given[key]
    return out


def _transport_call(tc: TransportCall, event: Event, departure_service: str | None, *,
                    with_position: bool) -> dict:
    x = event.extra
    # an equipment event's call may be elsewhere than the event (the store keeps the event's place)
    code = x.get("call_place") or tc.location or (event.location if event.kind == EventKind.TRANSPORT else None)
    place = _place(code)
    # the carrier's own id, else the timetable departure (ingest maps it back to that departure)
    call_id = x.get("transport_call_id") or tc.departure_id or str(uuid.uuid5(
        _NAMESPACE, "|".join(str(p or "") for p in (tc.mode, code, tc.voyage, tc.vehicle, tc.service))))
    out: dict = {"transportCallID": call_id[:100]}
    _put(out, "carrierServiceCode", carrier_service_code(tc, departure_service))
    _given(out, "carrierVoyageNumber", x.get("carrier_voyage"))   # deprecated in 2.2; sent when given
    sent = x.get("voyage_sent")      # as the sender wrote it, where the store keeps it fitted (ingest.dcsa)
    _put(out, "exportVoyageNumber", sent if sent and len(sent) <= 50 else tc.voyage)
    _put(out, "importVoyageNumber", x.get("import_voyage"))
    _put(out, "transportCallSequenceNumber", x.get("call_sequence"))
    _put(out, "UNLocationCode", place)
    if tc.facility_code and len(tc.facility_code) <= 6:
        out["facilityCode"] = tc.facility_code
    _put(out, "facilityCodeListProvider", x.get("facility_code_list"))
    facility = _FACILITY_OUT.get(tc.facility_type or "", tc.facility_type)
    if facility in FACILITY_TYPES_22:
        out["facilityTypeCode"] = facility
    if x.get("other_facility") is not None:
        out["otherFacility"] = x["other_facility"]   # the sender's, beside its UN/LOCODE
    elif code and not place:
        out["otherFacility"] = code[:50]   # a Corridor location id with no UN/LOCODE
    out["modeOfTransport"] = tc.mode
    lat, lon = (event.lat, event.lon) if with_position else (None, None)
    if "call_location" in x:
        out["location"] = _call_location(x["call_location"], lat, lon)
    elif lat is not None and lon is not None:
        out["location"] = {"latitude": _degrees(lat, 10), "longitude": _degrees(lon, 11),
                           **({"UNLocationCode": place} if place else {})}
    imo = x.get("vessel_imo") or (tc.vehicle if tc.mode in ("VESSEL", "BARGE") and tc.vehicle
                                  and tc.vehicle.isdigit() and len(tc.vehicle) == 7 else None)
    if imo:
        vessel = {"vesselIMONumber": imo}
        _put(vessel, "vesselName", (x.get("vessel_name") or "")[:35] or None)
        for key, name in _VESSEL_OUT:
            _given(vessel, name, x.get(key))
        out["vessel"] = vessel
    return out


# Event.extra key -> 2.2 vessel field (ingest.dcsa keeps them as the carrier sent them)
_VESSEL_OUT = (("vessel_flag", "vesselFlag"), ("vessel_call_sign", "vesselCallSignNumber"),
               ("vessel_operator", "vesselOperatorCarrierCode"),
               ("vessel_operator_list", "vesselOperatorCarrierCodeListProvider"))


def _given(out: dict, key: str, value) -> None:
    """Put a value the sender gave (kept in extra): an empty text is a value too."""
    if value is not None:
        out[key] = value
