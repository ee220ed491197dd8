"""DCSA Track & Trace JSON in: 2.2 event arrays (our wire contract) and the 3.0 event shape.

Each event is validated on its own against Pydantic models written from the specs
(TNT_v2.2.0-resolved.yaml; for 3.0 the conformance draft and the 2026 snapshot, whose enum
values are full words). A bad event becomes a `Rejection` that names its JSON path and what was
expected; its good siblings still pass. Valid 3.0 events that Corridor's event model cannot hold
(reefer readings, door sensors, customs codes) are skipped with a warning, not rejected. A 3.0
event sent with isRetracted becomes a `Retraction` of its sender's event of that eventID.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, ValidationError,
                      model_validator)

from corridor.domain.equipment import container_number
from corridor.domain.events import CODES, Classifier, Event, EventKind, TransportCall
from corridor.ingest.construct import slot_constructor
from corridor.ingest.results import ParseResult, Rejection, Retraction

FORMAT = "dcsa-json"
CLOCK_SKEW = timedelta(minutes=15)   # senders' clocks drift; beyond this a time is implausible

# ---- shared vocabularies (2.2 enums; documentTypeCode <-> Corridor reference kinds) ----------
EVENT_TYPES_22 = ("TRANSPORT", "SHIPMENT", "EQUIPMENT")
FACILITY_TYPES_22 = ("BOCR", "CLOC", "COFS", "COYA", "OFFD", "DEPO", "INTE", "POTE", "RAMP")
MODES_22 = ("VESSEL", "RAIL", "TRUCK", "BARGE")
DOCUMENT_TYPES_22 = ("CBR", "BKG", "SHI", "SRM", "TRD", "ARN", "VGM", "CAS", "CUS", "DGD", "OOG")
REFERENCE_TYPES_22 = ("FF", "SI", "PO", "CR", "AAO", "EQ")
# a transport document is a bill of lading (or SMGS/CIM note) in Corridor's words
DOC_TO_REF = {"TRD": "BOL"}
REF_TO_DOC = {"BOL": "TRD", "SMGS": "TRD", "CIM": "TRD"}

ISO_3166 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XZ""".split())  # XZ: UN/LOCODE's international waters

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}\Z")
DATETIME_EXPECTED = "ISO 8601 date-time with a UTC offset, e.g. 2024-03-01T10:00:00+05:00"


# ---- field types --------------------------------------------------------------------------
def offset_datetime(value: Any) -> datetime:
    """Return the aware datetime of an RFC 3339 string; naive or malformed times raise."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(f"{value!r} is not an {DATETIME_EXPECTED}")
    if value[10] == "T" and value[-6] in "+-" and "." not in value:
        text = value   # the common shape: Python reads it as it is
    else:
        text = value.upper().replace("Z", "+00:00")
        head, _, rest = text.partition(".")
        if rest:  # Python takes at most 6 fraction digits
            digits = re.match(r"\d+", rest).group()
            text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date-time") from None


def un_location_code(value: Any) -> str:
    """Return a UN/LOCODE (2-letter ISO 3166 country + 3 of A-Z, 2-9) or raise the reason."""
    if not isinstance(value, str):
        raise ValueError(f"UN/LOCODE must be a string, got {type(value).__name__}")
    if not _LOCODE.match(value):
        raise ValueError(f"{value!r} is not a UN/LOCODE (5 characters: country + 3 of A-Z, 2-9)")
    if value[:2] not in ISO_3166:
        raise ValueError(f"{value!r}: {value[:2]!r} is not an ISO 3166 country code")
    return value


def _uuid(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a UUID string, got {type(value).__name__} {value!r}")
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None
    return value


# Carriers mint their own eventIDs (Maersk "6832920321", MSC "1075525830" or
# "ACT2022-11-17T04:00:00:00+09:00", HMM "CTP201116000556832011"): an id of letters, digits and
# - _ . : + / with at least one digit is kept as the sender's. A word ("incorrect", DCSA's own
# example of a wrong eventID) is still refused as not a UUID.
_CARRIER_ID = re.compile(r"(?=[^0-9]*[0-9])[A-Za-z0-9][A-Za-z0-9._:+/-]{0,499}\Z")


def _event_id_22(value: Any) -> str:
    if isinstance(value, str) and _CARRIER_ID.match(value):
        return value
    return _uuid(value)


def _container(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    return container_number(value)   # InvalidEquipment is a ValueError with the precise reason


def _degree_check(limit: float, max_len: int):
    """Return a function that turns a decimal-degree string into a float or raises the reason."""
    def check(value: Any) -> float:
        if not isinstance(value, str) or len(value) > max_len:
            raise ValueError(f"must be a decimal string of at most {max_len} characters")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not -limit <= number <= limit:
            raise ValueError(f"{value} is outside -{limit:g}..{limit:g}")
        return number
    return check


def _degrees(limit: float, max_len: int):
    return PlainValidator(_degree_check(limit, max_len))


def _s(n: int):
    return Annotated[str, Field(max_length=n)]


DateTime = Annotated[datetime, PlainValidator(offset_datetime)]
UNLocode = Annotated[str, PlainValidator(un_location_code)]
UUIDStr = Annotated[str, PlainValidator(_uuid)]


class _Strict(BaseModel):
    # strict: a number is not a string; extra keys are tolerated as the spec does not forbid them
    # defer_build: schemas are built on first use, so a file the fast path carries never pays for them
    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)


# ---- DCSA TNT 2.2 -------------------------------------------------------------------------
class Vessel22(_Strict):
    # 2.2 requires the IMO number; a vessel without one (feeders, as Hapag-Lloyd sends them with
    # "vesselIMONumber": null) is taken by its name with a warning from _repair_22
    vesselIMONumber: Annotated[str, Field(pattern=r"^\d{7}$")] | None = None
    vesselName: _s(35) | None = None
    vesselFlag: _s(2) | None = None
    vesselCallSignNumber: _s(10) | None = None
    vesselOperatorCarrierCode: _s(10) | None = None
    vesselOperatorCarrierCodeListProvider: Literal["SMDG", "NMFTA"] | None = None


class Address22(_Strict):
    name: _s(100) | None = None
    street: _s(100) | None = None
    streetNumber: _s(50) | None = None
    floor: _s(50) | None = None
    postCode: _s(10) | None = None
    city: _s(65) | None = None
    stateRegion: _s(65) | None = None
    country: _s(75) | None = None


class Location22(_Strict):
    locationName: _s(100) | None = None
    latitude: Annotated[float, _degrees(90, 10)] | None = None
    longitude: Annotated[float, _degrees(180, 11)] | None = None
    UNLocationCode: UNLocode | None = None
    facilityCode: _s(6) | None = None
    facilityCodeListProvider: Literal["BIC", "SMDG"] | None = None
    address: Address22 | None = None


class TransportCall22(_Strict):
    transportCallID: _s(100)
    carrierServiceCode: _s(5) | None = None
    carrierVoyageNumber: _s(50) | None = None
    exportVoyageNumber: _s(50) | None = None
    importVoyageNumber: _s(50) | None = None
    transportCallSequenceNumber: int | None = None
    UNLocationCode: UNLocode | None = None
    facilityCode: _s(6) | None = None
    facilityCodeListProvider: Literal["BIC", "SMDG"] | None = None
    facilityTypeCode: Literal[FACILITY_TYPES_22] | None = None
    otherFacility: _s(50) | None = None
    modeOfTransport: Literal[MODES_22]
    location: Location22 | None = None
    vessel: Vessel22 | None = None

    @model_validator(mode="after")
    def _one_place(self):
        inner = self.location.UNLocationCode if self.location else None
        if self.UNLocationCode and inner and inner != self.UNLocationCode:
            raise ValueError(f"UNLocationCode {self.UNLocationCode} contradicts "
                             f"location.UNLocationCode {inner}: one transport call is one place")
        return self


class DocumentReference22(_Strict):
    documentReferenceType: Literal["BKG", "TRD"]
    documentReferenceValue: str


class Reference22(_Strict):
    referenceType: Literal[REFERENCE_TYPES_22]
    referenceValue: _s(100)


class Seal22(_Strict):
    sealNumber: _s(15)
    sealSource: Literal["CAR", "SHI", "PHY", "VET", "CUS"] | None = None
    sealType: Literal["KLP", "BLT", "WIR"]


class Event22(_Strict):
    eventID: Annotated[str, PlainValidator(_event_id_22)] | None = None
    eventCreatedDateTime: DateTime
    eventType: Literal[EVENT_TYPES_22]
    eventClassifierCode: Literal["ACT", "PLN", "EST"]
    eventDateTime: DateTime
    references: list[Reference22] | None = None


class TransportEvent22(Event22):
    transportEventTypeCode: Literal["ARRI", "DEPA"]
    delayReasonCode: _s(3) | None = None
    changeRemark: _s(250) | None = None
    # 2.2 keeps the remark's older name beside changeRemark (DCSA's own implementation writes both);
    # a sender that gives only this one still has its remark read
    vesselScheduleChangeRemark: _s(250) | None = None
    transportCall: TransportCall22
    documentReferences: list[DocumentReference22] | None = None


class ShipmentEvent22(Event22):
    shipmentEventTypeCode: Literal["RECE", "DRFT", "PENA", "PENU", "REJE", "APPR", "ISSU", "SURR",
                                   "SUBM", "VOID", "CONF", "REQS", "CMPL", "HOLD", "RELS"]
    documentID: str
    documentTypeCode: Literal[DOCUMENT_TYPES_22]
    reason: str | None = None
    # not in 2.2's shipment event (2.3 has it; carriers send it): taken when well formed, else
    # left out by _repair_22 with a warning
    documentReferences: list[DocumentReference22] | None = None


class EquipmentEvent22(Event22):
    equipmentEventTypeCode: Literal["LOAD", "DISC", "GTIN", "GTOT", "STUF", "STRP", "PICK", "DROP",
                                    "INSP", "RSEA", "RMVD"]
    equipmentReference: Annotated[str, PlainValidator(_container)] | None = None
    ISOEquipmentCode: _s(4) | None = None
    emptyIndicatorCode: Literal["EMPTY", "LADEN"]
    eventLocation: Location22 | None = None
    transportCall: TransportCall22 | None = None
    documentReferences: list[DocumentReference22] | None = None
    seals: list[Seal22] | None = None


MODELS_22 = {"TRANSPORT": TransportEvent22, "SHIPMENT": ShipmentEvent22, "EQUIPMENT": EquipmentEvent22}


# ---- DCSA TNT 3.0 (conformance draft: 4-letter codes; 2026 snapshot: full words) ----------
class GeoCoordinate30(_Strict):
    latitude: Annotated[float, _degrees(90, 20)] | None = None
    longitude: Annotated[float, _degrees(180, 20)] | None = None


class Facility30(_Strict):
    facilityName: _s(100) | None = None
    facilityCode: _s(6) | None = None
    facilityCodeListProvider: _s(10) | None = None


class Location30(_Strict):
    locationName: _s(100) | None = None
    facilityTypeCode: Literal["BORD", "CLOC", "COFS", "OFFD", "DEPO", "INTE", "POTE", "RAMP",
                              "WAYP"] | None = None
    facilityType: Literal["BORDER", "CUSTOMER_LOCATION", "DEPOT", "CONTAINER_FREIGHT_STATION",
                          "INLAND_TERMINAL", "OFF_DOCK_STORAGE", "PORT_TERMINAL", "RAMP",
                          "WAYPOINT"] | None = None
    UNLocationCode: UNLocode | None = None
    facility: Facility30 | None = None
    geoCoordinate: GeoCoordinate30 | None = None


class Classification30(_Strict):
    eventTypeCode: str | None = None
    eventType: str | None = None
    eventClassifierCode: str | None = None
    eventClassifier: str | None = None
    shipmentEventTypeCode: str | None = None
    shipmentEventType: str | None = None
    transportEventTypeCode: str | None = None
    transportEventType: str | None = None
    equipmentEventTypeCode: str | None = None
    equipmentEventType: str | None = None
    iotEventTypeCode: str | None = None
    iotEventType: str | None = None
    reeferEventTypeCode: str | None = None
    reeferEventType: str | None = None


class DocumentReference30(_Strict):
    # the conformance draft names the type typeCode (BKG), the 2026 snapshot type (BOOKING)
    typeCode: str | None = None
    type: _s(100) | None = None
    reference: _s(100)

    @model_validator(mode="after")
    def _typed(self):
        if self.typeCode is None and self.type is None:
            raise ValueError("typeCode (or type, as the 2026 snapshot names it) is required")
        return self


class ShipmentDetails30(_Strict):
    documentReference: DocumentReference30 | None = None
    additionalDocumentReferences: list[DocumentReference30] | None = None
    shipmentReferences: list[DocumentReference30] | None = None
    reason: str | None = None


class VoyageRef30(_Strict):
    carrierVoyageNumber: str | None = None   # 3.0 sets no length (_fit_store fits it to the store)
    universalVoyageReference: _s(5) | None = None


class ServiceRef30(_Strict):
    carrierServiceCode: str | None = None    # 3.0 sets no length (_fit_store fits it to the store)
    universalServiceReference: _s(8) | None = None


class Vessel30(_Strict):
    vesselIMONumber: Annotated[str, Field(pattern=r"^\d{7,8}$")] | None = None
    vesselMMSINumber: _s(9) | None = None
    vesselName: _s(50) | None = None
    vesselFlag: _s(2) | None = None
    vesselCallSign: _s(10) | None = None
    operatorCarrierCode: _s(10) | None = None
    operatorCarrierCodeListProvider: _s(10) | None = None


class Rail30(_Strict):
    railCarReference: _s(50) | None = None
    railServiceReference: _s(50) | None = None
    departureID: _s(100) | None = None


class Vehicle30(_Strict):
    licensePlate: _s(15) | None = None
    vehicleIdentificationNumber: _s(15) | None = None


class Truck30(_Strict):
    tractorDetails: Vehicle30 | None = None
    trailerDetails: Vehicle30 | None = None


class TransportCall30(_Strict):
    transportCallReference: str | None = None
    transportCallSequenceNumber: int | None = None
    modeOfTransport: Literal["VESSEL", "RAIL", "TRUCK", "BARGE", "MULTIMODAL"] | None = None
    serviceCodeOrReference: ServiceRef30 | None = None
    exportVoyageNumberOrReference: VoyageRef30 | None = None
    importVoyageNumberOrReference: VoyageRef30 | None = None
    vesselTransport: Vessel30 | None = None
    railTransport: Rail30 | None = None
    truckTransport: Truck30 | None = None


class TransportDetails30(_Strict):
    delayReasonCodes: list[_s(3)] | None = None
    changeRemark: _s(250) | None = None
    transportCall: TransportCall30 | None = None


class Seal30(_Strict):
    number: _s(15) | None = None
    source: _s(100) | None = None      # draft: CAR, CUS, ...; snapshot: CARRIER, CUSTOMS, ...
    type: _s(100) | None = None        # draft: KLP, BLT, WIR; snapshot: KEYLESS_PADLOCK, BOLT, WIRE
    placement: _s(100) | None = None


class EquipmentDetails30(_Strict):
    equipmentReference: Annotated[str, PlainValidator(_container)] | None = None
    ISOEquipmentCode: _s(4) | None = None
    emptyIndicatorCode: Literal["EMPTY", "LADEN"] | None = None
    emptyIndicator: Literal["EMPTY", "LADEN"] | None = None
    movementType: Literal["IMPORT", "EXPORT", "TRANSSHIPMENT"] | None = None
    transportPhase: Literal["IMPORT", "EXPORT", "TRANSSHIPMENT"] | None = None
    seals: list[Seal30] | None = None


class IotDetails30(_Strict):
    iotEventCode: Literal["DRC", "DRO", "LOC"] | None = None


class Event30(_Strict):
    eventID: _s(500) | None = None
    isRetracted: bool | None = None
    eventDateTime: DateTime
    eventUpdatedDateTime: DateTime | None = None
    eventLocation: Location30 | None = None
    eventClassification: Classification30
    shipmentDetails: ShipmentDetails30 | None = None
    transportDetails: TransportDetails30 | None = None
    equipmentDetails: EquipmentDetails30 | None = None
    iotDetails: IotDetails30 | None = None
    reeferDetails: dict | None = None
    reason: _s(250) | None = None


# 3.0 vocabularies: 4-letter code or full word -> Corridor code (None: valid, not modelled here)
_CLASSIFIERS = {"ACT": "ACT", "EST": "EST", "PLN": "PLN",
                "ACTUAL": "ACT", "ESTIMATED": "EST", "PLANNED": "PLN"}
_TRANSPORT_30 = {"ARRI": "ARRI", "DEPA": "DEPA", "ARRIVED": "ARRI", "DEPARTED": "DEPA",
                 "APPROACHING": None}
_EQUIPMENT_30 = {
    **{c: c for c in ("DISC", "DROP", "GTIN", "GTOT", "INSP", "LOAD", "PICK", "RMVD", "RSEA",
                      "STRP", "STUF")},
    **dict.fromkeys(("AVDO", "AVPU", "CROS", "CUSI", "CUSR", "CUSS")),
    "DISCHARGED": "DISC", "DROPPED_OFF": "DROP", "GATED_IN": "GTIN", "GATED_OUT": "GTOT",
    "INSPECTED": "INSP", "LOADED": "LOAD", "PICKED_UP": "PICK", "REMOVED": "RMVD",
    "RESEALED": "RSEA", "STRIPPED": "STRP", "STUFFED": "STUF",
    **dict.fromkeys(("AVAILABLE_FOR_DROP_OFF", "AVAILABLE_FOR_PICKUP", "CROSSED", "CUSTOMS_RELEASED",
                     "CUSTOMS_SELECTED_FOR_INSPECTION", "CUSTOMS_SELECTED_FOR_SCAN")),
}
_SHIPMENT_30 = {
    **{c: c for c in ("APPR", "CANC", "CMPL", "CONF", "DRFT", "HOLD", "ISSU", "PENA", "PENU", "RECE",
                      "REJE", "RELS", "REQS", "SUBM", "SURR", "VOID")},
    **dict.fromkeys(("AMCF", "AMCN", "AMDC", "AMPR", "AMRE", "CACF", "CADC", "CARE", "DECL", "PENM",
                     "PSAM", "PSDL", "SUAM", "SUDL", "UPCF", "UPCN", "UPDC", "UPDT", "UPRE")),
    "APPROVED": "APPR", "CANCELLED": "CANC", "COMPLETED": "CMPL", "CONFIRMED": "CONF",
    "DRAFTED": "DRFT", "ON_HOLD": "HOLD", "ISSUED": "ISSU", "PENDING_APPROVAL": "PENA",
    "PENDING_UPDATE": "PENU", "RECEIVED": "RECE", "REJECTED": "REJE", "RELEASED": "RELS",
    "REQUESTED": "REQS", "SUBMITTED": "SUBM", "SURRENDERED": "SURR", "VOIDED": "VOID",
    **dict.fromkeys(("AMENDMENT_CANCELLED", "AMENDMENT_CONFIRMED", "AMENDMENT_DECLINED",
                     "AMENDMENT_IN_PROGRESS", "AMENDMENT_RECEIVED", "CANCELLATION_CONFIRMED",
                     "CANCELLATION_DECLINED", "CANCELLATION_RECEIVED", "DECLINED", "PENDING_AMENDMENT",
                     "PENDING_SURRENDER_FOR_AMENDMENT", "PENDING_SURRENDER_FOR_DELIVERY",
                     "SURRENDERED_FOR_AMENDMENT", "SURRENDERED_FOR_DELIVERY", "UPDATE_CANCELLED",
                     "UPDATE_CONFIRMED", "UPDATE_DECLINED", "UPDATE_IN_PROGRESS", "UPDATE_RECEIVED")),
}
# IoT: only a position fix has a Corridor counterpart (IOT/POSI); door and device codes do not
_IOT_30 = {"DETC": "?", "BREADCRUMB": "POSI", "GEOFENCE_ENTRY": "POSI", "GEOFENCE_EXIT": "POSI",
           **dict.fromkeys(("DEVICE_STATUS", "DOOR_CLOSED", "DOOR_OPENED", "MOTION_START",
                            "MOTION_STOP", "PAIRING", "UNPAIRING"))}
_REEFER_30 = dict.fromkeys(("MEAS", "ADJU", "MEASURED", "ADJUSTED"))
_FACILITY_30 = {"BORD": "BOCR", "BORDER": "BOCR", "CUSTOMER_LOCATION": "CLOC", "DEPOT": "DEPO",
                "CONTAINER_FREIGHT_STATION": "COFS", "INLAND_TERMINAL": "INTE",
                "OFF_DOCK_STORAGE": "OFFD", "PORT_TERMINAL": "POTE", "WAYPOINT": "WAYP"}
# the 2026 snapshot's words for document and shipment reference types -> the draft's codes
_DOCUMENT_WORDS_30 = {
    "ADVANCE_MANIFEST_FILING": "AMF", "ARRIVAL_NOTICE": "ARN", "BOOKING": "BKG", "CARGO_SURVEY": "CAS",
    "CARRIER_BOOKING_REQUEST": "CBR", "CERTIFICATE_OF_ANALYSIS": "CEA", "CERTIFICATE_OF_ORIGIN": "CEO",
    "CONTRACT_QUOTATION": "CQU", "CONTAINER_RELEASE_ORDER": "CRO", "CUSTOMS_CLEARANCE": "CUC",
    "DELIVERY_INSTRUCTIONS": "DEI", "DELIVERY_ORDER": "DEO", "DANGEROUS_GOODS_DECLARATION": "DGD",
    "FUMIGATION_CERTIFICATE": "FCE", "HEALTH_CERTIFICATE": "HCE", "INSPECTION_CERTIFICATE": "ICE",
    "INVOICE": "INV", "OUT_OF_GAUGE_DECLARATION": "OOG", "PHYTOSANITARY_CERTIFICATE": "PCE",
    "PROOF_OF_DELIVERY": "PFD", "SHIPPING_INSTRUCTIONS": "SHI", "TRANSPORT_DOCUMENT": "TRD",
    "TRANSPORT_ORDER": "TRO", "VERIFIED_GROSS_MASS": "VGM", "VETERINARY_CERTIFICATE": "VCE"}
_SHIPMENT_REF_WORDS_30 = {
    "CONSIGNEES_REFERENCE": "AAO", "AUTOMATED_EXPORT_SYSTEM": "AES", "BOOKING_REQUEST_ID": "BID",
    "BOOKING_PARTY_REFERENCE_NUMBER": "BPR", "CANADIAN_EXPORT_REPORTING_NUMBER": "CER",
    "CUSTOMERS_REFERENCE": "CR", "CUSTOMER_SHIPMENT_ID": "CSI", "DECLARACAO_UNICA_DE_EXPORTACAO": "DUE",
    "EMPTY_CONTAINER_RELEASE_REFERENCE": "ECR", "EQUIPMENT_REFERENCE": "EQ",
    "FREIGHT_FORWARDERS_REFERENCE": "FF", "PURCHASE_ORDER_REFERENCE": "PO",
    "REGISTRO_UNICO_DEL_CONTRIBUYENTE": "RUC", "SHIPPERS_REFERENCE": "SI"}
# 3.0 seals -> 2.2's codes (what Event.extra["seals"] holds and GET /v2/events gives back); 3.0's
# consolidator, customer and terminal seals have no 2.2 source code: their source is left out
_SEAL_SOURCES_30 = {"CAR": "CAR", "CUS": "CUS", "PHY": "PHY", "SHI": "SHI", "VET": "VET",
                    "CARRIER": "CAR", "CUSTOMS": "CUS", "PHYTOSANITARY": "PHY", "SHIPPER": "SHI",
                    "VETERINARY": "VET"}
_SEAL_TYPES_30 = {"KLP": "KLP", "BLT": "BLT", "WIR": "WIR",
                  "KEYLESS_PADLOCK": "KLP", "BOLT": "BLT", "WIRE": "WIR"}
# a MULTIMODAL call is held by the one mode whose transport it names
_MODE_OF_TRANSPORT_30 = (("vesselTransport", "VESSEL"), ("railTransport", "RAIL"), ("truckTransport", "TRUCK"))
_TYPE_FIELDS_30 = {"SHIPMENT": ("shipmentEventTypeCode", "shipmentEventType", _SHIPMENT_30),
                   "TRANSPORT": ("transportEventTypeCode", "transportEventType", _TRANSPORT_30),
                   "EQUIPMENT": ("equipmentEventTypeCode", "equipmentEventType", _EQUIPMENT_30),
                   "IOT": ("iotEventTypeCode", "iotEventType", _IOT_30),
                   "REEFER": ("reeferEventTypeCode", "reeferEventType", _REEFER_30)}


# ---- entry point --------------------------------------------------------------------------
class _Reject(Exception):
    """One event's rejection: JSON path, reason, what was expected."""

    def __init__(self, element: str, reason: str, expected: str | None = None):
        super().__init__(reason)
        self.element, self.reason, self.expected = element, reason, expected


def parse_dcsa(raw: bytes | str | list | dict, *, source_party: str = "",
               received_at: datetime | None = None, message_id: str | None = None) -> ParseResult:
    """Return the Events of a DCSA TNT 2.2 or 3.0 payload, one Rejection per bad event; never raises.

    `message_id`: the kept raw message's id, stamped on the events it can be (the ingest path
    then need not copy them to link them to it)."""
    return _parse(raw, source_party, received_at, fast=True, message_id=message_id)


def _parse(raw, source_party: str, received_at: datetime | None, *, fast: bool,
           message_id: str | None = None) -> ParseResult:
    """Return parse_dcsa's result; fast=False validates every event with the Pydantic models alone."""
    received_at = received_at or datetime.now(timezone.utc)
    if received_at.tzinfo is None:   # a caller's naive clock is taken as UTC rather than failing every event
        received_at = received_at.replace(tzinfo=timezone.utc)
    result = ParseResult(format=FORMAT, events=[], rejections=[], warnings=[], schedule=[],
                         stowage=[], meta={"source_party": source_party})
    try:
        items, prefix = _unwrap(raw, result.warnings)
    except _Reject as r:
        result.rejections.append(Rejection(reason=r.reason, element=r.element or None,
                                           expected=r.expected))
        return result
    parties = frozenset({source_party}) if source_party else frozenset()
    seen_ids: dict[str, str] = {}
    versions: set[str] = set()
    once: dict[str, list] = {}   # tolerated deviations, warned once per message (_ONCE)
    one = isinstance(prefix, _One)
    for i, item in enumerate(items):
        path = prefix if one else f"{prefix}[{i}]" if prefix is not None else ""
        ref = item.get("eventID") if isinstance(item, dict) else None
        ref = ref if isinstance(ref, str) else None
        try:
            version, event = _parse_one(item, path, source_party, parties, received_at, result,
                                        fast, message_id, once)
            versions.add(version)
            if event is None:
                continue
            event = _fit_store(event, path, result.warnings)
            if event.event_id and event.event_id in seen_ids:
                raise _Reject(_join(path, "eventID"),
                              f"eventID {event.event_id} repeats event {seen_ids[event.event_id]}",
                              "a unique eventID per event")
            if event.event_id:
                seen_ids[event.event_id] = path or "0"
            result.events.append(event)
        except _Reject as r:
            result.rejections.append(Rejection(reason=r.reason, segment=i, element=r.element,
                                               expected=r.expected, message_ref=ref))
        except Exception as exc:  # never raise on input: an unforeseen shape is still a rejection
            result.rejections.append(Rejection(reason=f"{path or 'event'}: unreadable ({exc})",
                                               segment=i, element=path or None, message_ref=ref))
    for key, seen in once.items():
        result.warnings.append(_once_warning(key, seen))
    result.meta.update(dcsa_versions=sorted(versions), received=len(items),
                       accepted=len(result.events))
    return result


# Deviations a tolerant reading takes without doubt, each warned once per message, not per event
# (a feed of 1,000 events with carrier-minted ids would otherwise give 1,000 warnings)
_ONCE = {
    "unknown": "fields DCSA does not define, kept in each event's extra unknown_fields",
    "event_id": "eventIDs that are the sender's own ids, not the UUIDs 2.2 requires: kept as sent",
    "event_id_key": "eventId read as eventID (2.2's spelling)",
    "time": "date-times without seconds, with a space for T or with an offset without a colon "
            "(+0000) read as RFC 3339",
    "locode": "UN/LOCODEs written with a space read without it",
    "empty": "empty strings for coded fields read as absent",
    "imo": "vesselIMONumber given as a JSON number read as its 7 digits",
}


def _note_once(once: dict | None, key: str, path: str, what: str) -> None:
    if once is not None:
        once.setdefault(key, []).append((path or "event", what))


def _once_warning(key: str, seen: list) -> str:
    """One warning for every event of the message that had the deviation `key`."""
    whats = list(dict.fromkeys(what for _, what in seen))
    shown = ", ".join(whats[:8]) + (f" and {len(whats) - 8} more" if len(whats) > 8 else "")
    events = len(dict.fromkeys(p for p, _ in seen))
    return f"{_ONCE[key]}: {shown} ({events} event{'s' if events != 1 else ''}, first at {seen[0][0]})"


class _One(str):
    """The JSON path of the one event a wrapper holds (not an index into an array)."""


# Widths of the events table's columns (store/tables.py) that a spec-valid DCSA value can exceed:
# 2.2 voyage numbers run to 50 characters, 3.0 eventIDs to 500 and railCarReference to 50, 2.2
# document references and 3.0 voyage numbers and service codes have no limit. Past its width a
# value is kept whole in extra and stored as its head and a digest (PostgreSQL refuses the row,
# and with it the whole file, otherwise).
_STORED_WIDTHS = {"voyage": 40, "service": 60, "vehicle": 80, "wagon": 12, "event_id": 100, "booking_ref": 40}
_WIDTH_NAMES = {"voyage": "voyage", "service": "service code", "vehicle": "vehicle", "wagon": "rail car",
                "event_id": "eventID", "booking_ref": "booking reference"}
_CALL_WIDTHS = tuple((name, _STORED_WIDTHS[name]) for name in ("voyage", "service", "vehicle", "wagon"))
assert _STORED_WIDTHS == {"voyage": 40, "service": 60, "vehicle": 80, "wagon": 12, "event_id": 100,
                          "booking_ref": 40}, "_fit_store's quick check spells these widths out"


def _fitted(value: str, width: int) -> str:
    """Return `value` cut to `width` characters, its end replaced by ~ and 8 hex digits of its
    SHA-256: stable, and (but for a 1 in 4 billion chance) distinct for distinct values."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{value[:width - 9]}~{digest}"


def _fit_store(e: Event, path: str, notes: list[str]) -> Event:
    """Return the event with every value the store's columns cannot hold fitted (_STORED_WIDTHS),
    the whole value in extra["<field>_sent"] and a warning each; the event itself when all fit."""
    tc = e.transport_call
    if ((tc is None or ((tc.voyage is None or len(tc.voyage) <= 40) and (tc.service is None or len(tc.service) <= 60)
                        and (tc.vehicle is None or len(tc.vehicle) <= 80) and (tc.wagon is None or len(tc.wagon) <= 12)))
            and (e.event_id is None or len(e.event_id) <= 100)
            and all(len(v) <= 40 for k, v in e.references if k == "BKG")):
        return e                  # (every event but a rare one: checked without building anything)
    long = [(name, getattr(tc, name)) for name, width in _CALL_WIDTHS
            if tc is not None and getattr(tc, name) is not None and len(getattr(tc, name)) > width]
    if e.event_id is not None and len(e.event_id) > _STORED_WIDTHS["event_id"]:
        long.append(("event_id", e.event_id))
    if any(kind == "BKG" and len(value) > _STORED_WIDTHS["booking_ref"] for kind, value in e.references):
        long.append(("booking_ref", next(v for k, v in e.references if k == "BKG"
                                         and len(v) > _STORED_WIDTHS["booking_ref"])))
    if not long:
        return e
    extra, changes, call_changes = dict(e.extra), {}, {}
    for name, value in long:
        width = _STORED_WIDTHS[name]
        kept = _fitted(value, width)
        extra[f"{name}_sent"] = value
        notes.append(f"{path or 'event'}: {_WIDTH_NAMES[name]} {value[:60]!r}{'…' if len(value) > 60 else ''} "
                     f"is longer than the {width} characters Corridor stores: stored as {kept!r}, "
                     f"the whole value kept in extra {name}_sent")
        if name == "event_id":
            changes["event_id"] = kept
        elif name == "booking_ref":
            changes["references"] = tuple(
                (k, _fitted(v, width) if k == "BKG" and len(v) > width else v) for k, v in e.references)
        else:
            call_changes[name] = kept
    if call_changes:
        changes["transport_call"] = replace(tc, **call_changes)
    return replace(e, extra=extra, **changes)


_PAYLOAD_EXPECTED = 'a JSON array of events, one event object, or {"events": [...]}'
# UTF-16 and UTF-32 with their byte order mark: what Windows tools write when asked for "Unicode"
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
              (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _unwrap(raw, notes: list[str] | None = None) -> tuple[list, str | None]:
    """Return the list of event objects and their JSON path prefix; `notes` gets what was tolerated."""
    notes = [] if notes is None else notes
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw)
        wide = next((enc for bom, enc in _WIDE_BOMS if raw.startswith(bom)), None)
        try:
            if wide:
                raw = raw.decode(wide)
                notes.append(f"payload is {wide.upper()} text, not UTF-8 as JSON should be: read as {wide.upper()}")
            else:
                raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            told = f", nor the {wide.upper()} its byte order mark announces" if wide else ""
            raise _Reject("", f"not UTF-8 text{told} (byte {exc.start})", "UTF-8 JSON") from None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            raise _Reject("", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          "a JSON array of DCSA events") from None
        except RecursionError:
            raise _Reject("", "not readable JSON: arrays or objects nested too deeply",
                          "a JSON array of DCSA events") from None
        except ValueError as exc:   # e.g. an integer of more than 4300 digits
            raise _Reject("", f"not readable JSON: {str(exc).split(':')[0]}",
                          "a JSON array of DCSA events") from None
    if isinstance(raw, list):
        return raw, ""
    if isinstance(raw, dict):
        if isinstance(raw.get("events"), list):
            return raw["events"], "events"
        wrapped = _wrapped(raw)
        if wrapped is not None:
            key, items, prefix = wrapped
            notes.append(f"events read from the notification's {key!r} (a wrapper DCSA does not define); "
                         f"its other keys ({', '.join(k for k in list(raw)[:6] if k != key) or 'none'}) are not kept")
            return items, prefix
        if "eventType" in raw or "eventClassification" in raw or raw.get("isRetracted") is True:
            return [raw], None
        if "events" in raw:
            raise _Reject("events", f"events is {_json_kind(raw['events'])}, not an array of events",
                          _PAYLOAD_EXPECTED)
        if _is_beta_event(raw):
            _reject_beta("")
        if isinstance(raw.get("feedbackElements"), list):   # a 3.0 GET response with no events
            notes.append(f"no events: a DCSA 3.0 response with {len(raw['feedbackElements'])} "
                         "feedback element(s) only")
            return [], "events"
        keys = ", ".join(list(raw)[:6]) or "none"
        raise _Reject("", f"not a DCSA event payload: a JSON object with keys {keys}, and no eventType "
                      "(2.2), eventClassification (3.0) or events array", _PAYLOAD_EXPECTED)
    raise _Reject("", f"not a DCSA event payload: {_json_kind(raw)}", _PAYLOAD_EXPECTED)


_WRAPPER_KEYS = ("data", "payload", "notification", "body", "content")
_OWN_EVENT_KEYS = ("eventDateTime", "eventClassifierCode", "eventClassification", "eventCreatedDateTime")


def _is_event(value: Any) -> bool:
    return type(value) is dict and ("eventClassification" in value or (
        type(value.get("eventType")) is str and value["eventType"].upper() in MODELS_22))


def _wrapped(raw: dict) -> tuple[str, list, str] | None:
    """(key, events, path prefix) of a webhook notification that wraps DCSA events under one of
    _WRAPPER_KEYS (a list of events, {"events": [...]} or one event), as platforms' callbacks do;
    None when `raw` is itself an event or wraps none (its reader says what it is)."""
    if any(k in raw for k in _OWN_EVENT_KEYS):
        return None
    found = []
    for key in _WRAPPER_KEYS:
        v = raw.get(key)
        if type(v) is list and v and any(_is_event(x) for x in v):
            found.append((key, v, key))
        elif type(v) is dict and type(v.get("events")) is list:
            found.append((key, v["events"], f"{key}.events"))
        elif _is_event(v):
            found.append((key, [v], _One(key)))
    return found[0] if len(found) == 1 else None   # two candidates: which one is meant is not guessed


def _json_kind(value: Any) -> str:
    if value is None:
        return "JSON null"
    if isinstance(value, bool):
        return f"the JSON boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    return "a JSON object" if isinstance(value, dict) else "a JSON array"


def _is_beta_event(item: dict) -> bool:
    """True for the 3.0.0-Beta-1 shape: {"metadata": {eventType, ...}, "payload": {...}}."""
    return isinstance(item.get("metadata"), dict) and "eventType" in item["metadata"] and "eventType" not in item


def _reject_beta(path: str):
    raise _Reject(_join(path, "metadata"), "a DCSA TNT 3.0.0-Beta-1 event (metadata + payload): that "
                  "superseded draft's shape is not taken", "a DCSA 2.2 event (eventType at the top) or the "
                  "3.0 shape (eventClassification)")


def _join(path: str, *parts) -> str:
    out = path
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _validate(model: type[BaseModel], item: dict, path: str) -> BaseModel:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        details = [(_join(path, *e["loc"]), _message(e)) for e in errors]
        first_path, first = details[0]
        reason = "; ".join(f"{p}: {m}" for p, m in details)
        raise _Reject(first_path, reason, _expected(errors[0])) from None


def _message(error: dict) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    got = error.get("input")
    if isinstance(got, (dict, list)):
        return msg
    hint = ""
    if kind == "literal_error" and isinstance(got, str) and got != got.upper() and \
            f"'{got.upper()}'" in str((error.get("ctx") or {}).get("expected", "")):
        hint = f"; the codes are upper case: {got.upper()}"   # "act", "Truck": a code is not guessed
    return f"{msg[0].lower()}{msg[1:]} (got {got!r}{hint})"


def _expected(error: dict) -> str | None:
    ctx = error.get("ctx") or {}
    if error["type"] == "missing":
        name = str(error["loc"][-1])
        return DATETIME_EXPECTED if name.endswith("DateTime") else f"{name} (required)"
    if error["type"] == "literal_error":
        return "one of " + ctx.get("expected", "").replace("'", "")
    if error["type"] == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if error["type"] == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    if error["type"] == "value_error":
        text = str(ctx.get("error", ""))
        if "date-time" in text:
            return DATETIME_EXPECTED
        if "container number" in text:
            return "an ISO 6346 container number (4 letters, 7 digits, valid check digit)"
        if "UN/LOCODE" in text or "ISO 3166" in text:
            return "a UN/LOCODE such as KZAAU"
        if "UUID" in text:
            return "a UUID"
    return error["type"].replace("_", " ")


def _parse_one(item, path, source_party, parties, received_at, result,
               fast: bool = False, message_id: str | None = None,
               once: dict | None = None) -> tuple[str, Event | None]:
    """Return ("2.2"|"3.0", Event or None when skipped) or raise _Reject; `once` collects the
    tolerated deviations warned once per message."""
    if not isinstance(item, dict):
        raise _Reject(path, f"{path or 'event'} is a JSON {type(item).__name__}, not an event object",
                      "a DCSA event object")
    if item.get("isRetracted") is True and "eventType" not in item:
        return "3.0", _retraction_30(item, path, result)
    if "eventClassification" in item:
        m = _validate(Event30, _repair_30(item, path, once), path)
        event = _event_30(m, path, source_party, parties, received_at, result)
        if event is not None:
            _keep_unknown(event, m, path, once)
        return "3.0", event
    event_type = item.get("eventType")
    if event_type is None and _is_beta_event(item):
        _reject_beta(path)
    if event_type is None:
        keys = ", ".join(list(item)[:5]) or "none"
        raise _Reject(_join(path, "eventType"), f"not a DCSA event: no eventType (2.2) or "
                      f"eventClassification (3.0); keys found: {keys}",
                      "eventType TRANSPORT, SHIPMENT or EQUIPMENT")
    model = MODELS_22.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        hint = (f" (the codes are upper case: {event_type.upper()})"
                if isinstance(event_type, str) and event_type.upper() in MODELS_22 else "")
        raise _Reject(_join(path, "eventType"), f"eventType {event_type!r} is not a DCSA 2.2 event type{hint}",
                      "one of " + ", ".join(EVENT_TYPES_22))
    if fast:
        event = _fast_22(item, event_type, path, source_party, parties, received_at, message_id)
        if event is not None:
            return "2.2", event
    # the fast path takes no item _repair_22 would change, so both ways give the same result
    item, notes = _repair_22(item, path, once)
    m = _validate(model, item, path)
    event = _event_22(m, path, source_party, parties, received_at)
    if m.eventID is not None and not _UUID_TEXT.match(m.eventID):
        _note_once(once, "event_id", path, repr(m.eventID))
    _keep_unknown(event, m, path, once)
    result.warnings.extend(notes)
    return "2.2", event


def _unknown_fields(m: BaseModel, where: str = "") -> dict:
    """{dotted path: value} of the keys a validated event (and its parts) has that the spec does
    not define: vendor fields such as _links, carrierCode, description or metadata; nulls carry
    nothing and are left out."""
    out = {_join(where, k): v for k, v in (m.model_extra or {}).items() if v is not None}
    for name in type(m).model_fields:
        value = getattr(m, name)
        if isinstance(value, BaseModel):
            out.update(_unknown_fields(value, _join(where, name)))
        elif type(value) is list:
            for i, part in enumerate(value):
                if isinstance(part, BaseModel):
                    out.update(_unknown_fields(part, _join(where, name, i)))
    return out


def _keep_unknown(event: Event, m: BaseModel, path: str, once: dict | None) -> None:
    """Keep the vendor fields of the event in its extra["unknown_fields"] (warned once per message)."""
    unknown = _unknown_fields(m)
    if unknown:
        event.extra["unknown_fields"] = unknown
        for name in unknown:
            _note_once(once, "unknown", path, name)


# a date-time RFC 3339 does not write but whose instant is certain: no seconds, a space for T,
# an offset without its colon (+0000) or of hours alone (+05). Without an offset it stays refused.
_LOOSE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)\Z")
_SPACED_LOCODE = re.compile(r"[A-Z]{2} [A-Z2-9]{3}\Z")


def _loose_time(value: Any) -> str | None:
    """The RFC 3339 spelling of a date-time in a _LOOSE_TIME form, else None."""
    if type(value) is not str or _RFC3339.match(value):
        return None
    m = _LOOSE_TIME.match(value)
    if m is None:
        return None
    day, hours_minutes, seconds, offset = m.groups()
    if offset not in ("Z", "z"):
        offset = f"{offset[:3]}:{offset[-2:] if len(offset) > 3 else '00'}"
    return f"{day}T{hours_minutes}{seconds or ':00'}{offset}"


# Fields whose "" would be refused (a code, a UN/LOCODE, a container or IMO number, degrees, an
# eventID): "" is read as the field's absence. Free texts keep their "" as sent (both paths alike).
_EMPTY_AS_ABSENT = frozenset((
    "eventID", "eventClassifierCode", "transportEventTypeCode", "shipmentEventTypeCode", "equipmentEventTypeCode",
    "documentTypeCode", "emptyIndicatorCode", "equipmentReference", "UNLocationCode", "unLocationCode",
    "facilityCodeListProvider", "facilityTypeCode", "modeOfTransport", "vesselIMONumber",
    "vesselOperatorCarrierCodeListProvider", "latitude", "longitude", "sealSource", "sealType",
    "documentReferenceType", "referenceType"))


def _without_empties(value: Any, where: str, found: list[str]) -> Any:
    """`value` without the _EMPTY_AS_ABSENT fields of its objects that are "" (a copy when
    changed); `found` gets their paths."""
    if type(value) is dict:
        out = None
        for k, v in value.items():
            if v == "" and k in _EMPTY_AS_ABSENT:   # left out: a required field is then "required"
                found.append(_join(where, k))
                out = dict(value) if out is None else out
                del out[k]
                continue
            new = _without_empties(v, _join(where, k), found) if type(v) in (dict, list) else v
            if new is not v:
                out = dict(value) if out is None else out
                out[k] = new
        return value if out is None else out
    if type(value) is list:
        parts = [_without_empties(v, _join(where, i), found) if type(v) is dict else v for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(parts, value)) else parts
    return value


def _repair_30(item: dict, path: str, once: dict | None) -> dict:
    """Return the 3.0 event with loose date-times and a spaced UN/LOCODE read (noted once)."""
    out = item
    for key in ("eventDateTime", "eventUpdatedDateTime"):
        fixed = _loose_time(item.get(key))
        if fixed is not None:
            out = dict(out) if out is item else out
            out[key] = fixed
            _note_once(once, "time", path, f"{key} {item[key]!r}")
    where = item.get("eventLocation")
    if type(where) is dict and type(where.get("UNLocationCode")) is str and _SPACED_LOCODE.match(where["UNLocationCode"]):
        out = dict(out) if out is item else out
        out["eventLocation"] = {**where, "UNLocationCode": where["UNLocationCode"].replace(" ", "")}
        _note_once(once, "locode", path, repr(where["UNLocationCode"]))
    return out


def _retraction_30(item: dict, path: str, result: ParseResult) -> None:
    """A 3.0 event with isRetracted: its data "must be discarded or ignored" (it may carry its
    eventID alone), so no event comes of it but a `Retraction` of the sender's event of that
    eventID (store.retractions withdraws it); _Reject when it names no eventID. Its time is
    eventUpdatedDateTime when that is readable (anything else in it is irrelevant, says 3.0)."""
    event_id = item.get("eventID")
    if type(event_id) is not str or not event_id or len(event_id) > 500:
        raise _Reject(_join(path, "eventID"), "a retracted event (isRetracted true) must name the eventID it "
                      f"retracts, got {event_id!r:.60}", "eventID: text of 1 to 500 characters")
    try:
        at = offset_datetime(item["eventUpdatedDateTime"]) if "eventUpdatedDateTime" in item else None
    except ValueError:
        at = None
    # the key the events table holds it under: a long eventID is stored fitted (_fit_store)
    stored = _fitted(event_id, _STORED_WIDTHS["event_id"]) if len(event_id) > _STORED_WIDTHS["event_id"] \
        else event_id
    result.retractions.append(Retraction(event_id=stored, path=path or None, retracted_at=at))
    result.warnings.append(f"{path or 'event'}: DCSA 3.0 event {event_id!r} is retracted by its sender: its "
                           "data is withdrawn, not stored as an event")
    return None


# ---- 2.2 as carriers send it: repairs whose meaning is certain, each with a warning ----------
# Spellings seen in carriers' published 2.2 feeds (MSC: unLocationCode; Hapag-Lloyd:
# transportCallId). Taken only where the spec's own key is absent or null.
_KEY_ALIASES = {"unLocationCode": "UNLocationCode", "transportCallId": "transportCallID"}


def _repair_22(item: dict, path: str, once: dict | None = None) -> tuple[dict, list[str]]:
    """Return the event with the known real-world deviations of 2.2 repaired, and one warning each.

    - `unLocationCode`, `transportCallId` for `UNLocationCode`, `transportCallID` (else the place
      would be dropped as an unknown key, or a valid call refused);
    - a `facilityCode` that starts with its place's UN/LOCODE (a 9-character BIC/SMDG code such as
      DEHAMSRJQ): 2.2 defines the code without it, so the UN/LOCODE is cut off;
    - a `vessel` without `vesselIMONumber` (null): taken by its name;
    - a seal without `sealType`: left out (the raw message keeps it), the event is kept;
    - an `eventID` that is a SHA-1 or SHA-256 hex digest (CMA CGM): kept as the UUID of its first
      128 bits (the same digest, the same id).
    Read without doubt, and noted once per message (`once`, see _ONCE):
    - "" for a field: as absent (a required field is then refused as missing);
    - `eventId` for `eventID`;
    - a date-time without seconds, with a space for T or an offset without its colon (+0000);
    - a UN/LOCODE written with a space ("CN SHA");
    - a vesselIMONumber sent as a 7-digit JSON number.
    The input is not changed: what is repaired is copied.
    """
    notes: list[str] = []
    item = _repair_22_loose(item, path, once)
    out = item
    tc = item.get("transportCall")
    where = item.get("eventLocation")
    if type(tc) is dict:
        tc = _aliased(tc, _join(path, "transportCall"), notes)
        loc = tc.get("location")
        if type(loc) is dict:
            loc = _aliased(loc, _join(path, "transportCall", "location"), notes)
            if loc is not tc["location"]:
                tc = {**tc, "location": loc}
        vessel = tc.get("vessel")
        if type(vessel) is dict and vessel.get("vesselIMONumber") in (None, ""):
            notes.append(f"{_join(path, 'transportCall', 'vessel')}: no vesselIMONumber (2.2 requires one): "
                         f"the vessel is taken by its name {vessel.get('vesselName') or '(none given)'!r}")
            if "vesselIMONumber" in vessel:
                tc = {**tc, "vessel": {k: v for k, v in vessel.items() if k != "vesselIMONumber"}}
    if type(where) is dict:
        where = _aliased(where, _join(path, "eventLocation"), notes)
    places = {p for o in (tc, tc.get("location") if type(tc) is dict else None, where) if type(o) is dict
              for p in [o.get("UNLocationCode")] if type(p) is str}
    if type(tc) is dict:
        tc = _facility(tc, places, _join(path, "transportCall"), notes)
        if type(tc.get("location")) is dict:
            loc = _facility(tc["location"], places, _join(path, "transportCall", "location"), notes)
            if loc is not tc["location"]:
                tc = {**tc, "location": loc}
    if type(where) is dict:
        where = _facility(where, places, _join(path, "eventLocation"), notes)
    if tc is not item.get("transportCall") or where is not item.get("eventLocation"):
        out = dict(item)
        if tc is not item.get("transportCall"):
            out["transportCall"] = tc
        if where is not item.get("eventLocation"):
            out["eventLocation"] = where
    seals = item.get("seals")
    if type(seals) is list and any(type(x) is dict and x.get("sealType") is None and x.get("sealNumber")
                                   for x in seals):
        kept = []
        for i, x in enumerate(seals):
            if type(x) is dict and x.get("sealType") is None and x.get("sealNumber"):
                notes.append(f"{_join(path, 'seals', i)}: seal {x['sealNumber']!r} has no sealType "
                             "(2.2 requires one): left out, the event is kept")
            else:
                kept.append(x)
        out = dict(out) if out is item else out
        out["seals"] = kept or None
    docs = item.get("documentReferences") if item.get("eventType") == "SHIPMENT" else None
    if docs is not None:
        # 2.2 gives a shipment event no documentReferences: the well-formed ones are taken, the
        # rest cannot refuse an event whose 2.2 fields are right
        kept = []
        for i, d in enumerate(docs if type(docs) is list else [docs]):
            try:
                DocumentReference22.model_validate(d)
                kept.append(d)
            except ValidationError:
                where = _join(path, "documentReferences", i) if type(docs) is list else _join(path, "documentReferences")
                notes.append(f"{where}: {d!r:.120} is not a document reference (documentReferenceType BKG or TRD "
                             "and its documentReferenceValue), which 2.2's shipment event does not define: "
                             "left out, the event is kept")
        if len(kept) != len(docs if type(docs) is list else [docs]):
            out = dict(out) if out is item else out
            out["documentReferences"] = kept or None
    eid = item.get("eventID")
    if type(eid) is str and _HASH_ID.fullmatch(eid):
        # CMA CGM's feed names events by a 40-hex digest: a stable id, only not a UUID
        kept_as = str(uuid.UUID(eid[:32]))
        notes.append(f"{_join(path, 'eventID')}: {eid!r} is a hex digest, not the UUID 2.2 requires: kept as "
                     f"{kept_as} (its first 128 bits)")
        out = dict(out) if out is item else out
        out["eventID"] = kept_as
    return out, notes


_HASH_ID = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def _repair_22_loose(item: dict, path: str, once: dict | None) -> dict:
    """The tolerant readings _repair_22 notes once per message (a copy when any applies)."""
    empties: list[str] = []
    item = _without_empties(item, "", empties)
    for name in empties:
        _note_once(once, "empty", path, name)
    if item.get("eventID") is None and "eventId" in item:
        item = {("eventID" if k == "eventId" else k): v for k, v in item.items() if k != "eventID"}
        if item["eventID"] is not None:
            _note_once(once, "event_id_key", path, repr(item["eventID"]))
    for key in ("eventDateTime", "eventCreatedDateTime"):
        fixed = _loose_time(item.get(key))
        if fixed is not None:
            _note_once(once, "time", path, f"{key} {item[key]!r}")
            item = {**item, key: fixed}
    for obj_path in (("transportCall",), ("transportCall", "location"), ("eventLocation",)):
        parent, obj = None, item
        for key in obj_path:
            parent, obj = obj, obj.get(key) if type(obj) is dict else None
        if type(obj) is not dict:
            continue
        for key in ("UNLocationCode", "unLocationCode"):
            code = obj.get(key)
            if type(code) is str and _SPACED_LOCODE.match(code):
                _note_once(once, "locode", path, repr(code))
                item = _replaced(item, obj_path + (key,), code.replace(" ", ""))
    tc = item.get("transportCall")
    vessel = tc.get("vessel") if type(tc) is dict else None
    imo = vessel.get("vesselIMONumber") if type(vessel) is dict else None
    if type(imo) is int and 1_000_000 <= imo <= 9_999_999:
        _note_once(once, "imo", path, str(imo))
        item = _replaced(item, ("transportCall", "vessel", "vesselIMONumber"), str(imo))
    return item


def _replaced(obj: dict, keys: tuple, value: Any) -> dict:
    """A copy of `obj` with the value at `keys` (a path of object keys) replaced."""
    head, *rest = keys
    return {**obj, head: _replaced(obj[head], tuple(rest), value) if rest else value}


def _aliased(obj: dict, where: str, notes: list[str]) -> dict:
    """Return obj with the _KEY_ALIASES spellings under the spec's key (a copy when changed)."""
    found = [k for k in _KEY_ALIASES if k in obj]
    if not found:
        return obj
    obj = dict(obj)
    for wrong in found:
        right = _KEY_ALIASES[wrong]
        if obj.get(right) is None:
            value = obj.pop(wrong)
            obj[right] = value
            if value is not None:
                notes.append(f"{_join(where, wrong)}: read as {right} (2.2's spelling)")
        elif obj[wrong] is None or obj[wrong] == obj[right]:
            del obj[wrong]
    return obj


def _facility(obj: dict, places: set[str], where: str, notes: list[str]) -> dict:
    """Return obj with a facilityCode that repeats its UN/LOCODE cut to the code proper."""
    code = obj.get("facilityCode")
    if type(code) is not str or len(code) <= 6 or code[:5] not in places or not 1 <= len(code) - 5 <= 6:
        return obj
    notes.append(f"{_join(where, 'facilityCode')}: {code!r} includes the UN/LOCODE {code[:5]}, which "
                 f"2.2 keeps apart: read as {code[5:]!r}")
    return {**obj, "facilityCode": code[5:]}


# ---- 2.2 -> Event -------------------------------------------------------------------------
def _more_equipment_extra(extra: dict, place: str | None, call: TransportCall | None,
                          where: dict | None) -> None:
    """Add to an equipment event's extra its call's own place when the event happened elsewhere
    (the store keeps one place per event), and its eventLocation's name, facility and address."""
    if call is not None and call.location is not None and call.location != place:
        extra["call_place"] = call.location
    if where is not None:
        kept = _location_extra(where, None, None, keep_position=False)
        kept.pop("UNLocationCode", None)   # the event's place
        if kept:
            extra["event_location"] = kept


def _plausible(e: Event, path: str, received_at: datetime) -> list[tuple[str, str]]:
    """Return (element, reason) for times that cannot be true; empty when plausible."""
    problems = []
    if e.created_at and e.created_at > received_at + CLOCK_SKEW:
        problems.append(("eventCreatedDateTime", f"eventCreatedDateTime {e.created_at.isoformat()} "
                         f"lies in the future (received {received_at.isoformat(timespec='seconds')})"))
    if e.classifier == Classifier.ACT:
        if e.event_time > received_at + CLOCK_SKEW:
            problems.append(("eventDateTime", f"an actual (ACT) event cannot lie in the future: "
                             f"eventDateTime {e.event_time.isoformat()}"))
        if e.created_at and e.created_at + CLOCK_SKEW < e.event_time:
            problems.append(("eventCreatedDateTime", f"an actual (ACT) event cannot be created "
                             f"({e.created_at.isoformat()}) before it happened "
                             f"({e.event_time.isoformat()})"))
    return problems


def _transport_call_22(tc: TransportCall22, *, with_position: bool) -> tuple[TransportCall, dict]:
    """The call and its extra; `with_position`: the event's lat/lon are this call's location's
    (a transport event), so its extra leaves them out."""
    vessel = tc.vessel
    # otherFacility carries a Corridor location id that has no UN/LOCODE (see dcsa_out)
    place = (tc.UNLocationCode or (tc.location.UNLocationCode if tc.location else None)
             or tc.otherFacility)
    call = TransportCall(
        mode=tc.modeOfTransport, location=place, facility_code=tc.facilityCode,
        facility_type=tc.facilityTypeCode, voyage=tc.exportVoyageNumber or tc.carrierVoyageNumber,
        service=tc.carrierServiceCode,
        vehicle=(vessel.vesselIMONumber or vessel.vesselName) if vessel else None)
    extra = {"transport_call_id": tc.transportCallID, "import_voyage": tc.importVoyageNumber,
             "vessel_name": vessel.vesselName if vessel else None,
             "facility_code_list": tc.facilityCodeListProvider,
             "call_sequence": tc.transportCallSequenceNumber}
    inner = tc.location
    _more_call_extra(extra, tc.carrierVoyageNumber,
                     tc.otherFacility if tc.UNLocationCode or (inner and inner.UNLocationCode) else None,
                     vessel.vesselIMONumber if vessel else None, tc.modeOfTransport,
                     (vessel.vesselFlag, vessel.vesselCallSignNumber, vessel.vesselOperatorCarrierCode,
                      vessel.vesselOperatorCarrierCodeListProvider) if vessel else None)
    if inner is not None:
        extra["call_location"] = _location_extra(inner.model_dump(exclude_none=True), inner.latitude,
                                                 inner.longitude, keep_position=not with_position)
    return call, {k: v for k, v in extra.items() if v is not None}


# DCSA 2.2 fields Corridor's event model has no column for travel in Event.extra, under these
# names, so GET /v2/events gives back what the carrier sent (tracking.dcsa_out reads them)
_VESSEL_EXTRA = ("vessel_flag", "vessel_call_sign", "vessel_operator", "vessel_operator_list")
_LOCATION_FIELDS = ("locationName", "latitude", "longitude", "UNLocationCode", "facilityCode",
                    "facilityCodeListProvider", "address")
_ADDRESS_FIELDS = ("name", "street", "streetNumber", "floor", "postCode", "city", "stateRegion", "country")


def _more_call_extra(extra: dict, carrier_voyage, other_facility, imo, mode, vessel_details) -> None:
    """Add to a transport call's extra what its TransportCall cannot hold (the same on both paths):
    the deprecated carrierVoyageNumber beside the export voyage, otherFacility beside a UN/LOCODE,
    the vessel's flag, call sign and operator, and a vessel named on a call that is not a ship's."""
    extra["carrier_voyage"] = carrier_voyage
    extra["other_facility"] = other_facility
    if vessel_details is not None:
        extra.update(zip(_VESSEL_EXTRA, vessel_details))
        if mode not in ("VESSEL", "BARGE"):
            extra["vessel_imo"] = imo   # a ship's call is its vessel; another mode's vehicle is not


def _location_extra(loc: dict, lat: float | None, lon: float | None, *, keep_position: bool) -> dict:
    """The 2.2 location object as Event.extra keeps it: the spec's keys only, in the spec's order,
    no nulls, degrees as numbers; without latitude/longitude when the event's lat/lon hold them."""
    out = {}
    for key in _LOCATION_FIELDS:
        if key == "latitude" or key == "longitude":
            value = (lat if key == "latitude" else lon) if keep_position else None
        else:
            value = loc.get(key)
            if key == "address" and value is not None:
                value = {k: value[k] for k in _ADDRESS_FIELDS if value.get(k) is not None}
        if value is not None:
            out[key] = value
    return out


def _document_refs(m) -> tuple[tuple[str, str], ...]:
    docs = tuple((DOC_TO_REF.get(d.documentReferenceType, d.documentReferenceType),
                  d.documentReferenceValue) for d in (getattr(m, "documentReferences", None) or ()))
    refs = tuple((r.referenceType, r.referenceValue) for r in (m.references or ()))
    return docs + refs


def _remarks(change: str | None, schedule_change: str | None) -> tuple[str | None, str | None]:
    """Return a 2.2 transport event's remark (changeRemark, else the deprecated
    vesselScheduleChangeRemark) and the deprecated one when it says something else."""
    if change is None:
        return schedule_change, None
    return change, schedule_change if schedule_change not in (None, change) else None


def _event_22(m: Event22, path, source_party, parties, received_at) -> Event:
    common = dict(classifier=Classifier(m.eventClassifierCode), event_time=m.eventDateTime,
                  source_party=source_party, parties=parties, created_at=m.eventCreatedDateTime,
                  event_id=m.eventID)
    extra: dict = {"dcsa_version": "2.2"}
    if isinstance(m, TransportEvent22):
        call, extra_tc = _transport_call_22(m.transportCall, with_position=True)
        loc = m.transportCall.location
        remark, other_remark = _remarks(m.changeRemark, m.vesselScheduleChangeRemark)
        extra.update(extra_tc, delay_reason=m.delayReasonCode, vessel_schedule_change_remark=other_remark)
        event = Event(kind=EventKind.TRANSPORT, code=m.transportEventTypeCode, location=call.location,
                      transport_call=call, references=_document_refs(m), reason=remark,
                      lat=loc.latitude if loc else None, lon=loc.longitude if loc else None,
                      extra=extra, **common)
    elif isinstance(m, ShipmentEvent22):
        doc = (DOC_TO_REF.get(m.documentTypeCode, m.documentTypeCode), m.documentID)
        event = Event(kind=EventKind.SHIPMENT, code=m.shipmentEventTypeCode,
                      references=(doc,) + _document_refs(m), reason=m.reason, extra=extra, **common)
    else:
        call, extra_tc = (_transport_call_22(m.transportCall, with_position=False) if m.transportCall
                          else (None, {}))
        where = m.eventLocation
        place = (where.UNLocationCode if where else None) or (call.location if call else None)
        extra.update(extra_tc, seals=[s.model_dump(exclude_none=True) for s in m.seals or ()] or None)
        _more_equipment_extra(extra, place, call,
                              where.model_dump(exclude_none=True) if where is not None else None)
        event = Event(kind=EventKind.EQUIPMENT, code=m.equipmentEventTypeCode,
                      location=place,
                      equipment=m.equipmentReference, size_type=m.ISOEquipmentCode,
                      empty=m.emptyIndicatorCode == "EMPTY", transport_call=call,
                      references=_document_refs(m), lat=where.latitude if where else None,
                      lon=where.longitude if where else None, extra=extra, **common)
    for key in [k for k, v in event.extra.items() if v is None]:
        del event.extra[key]   # extra is the one mutable field; keep it free of empty keys
    problems = _plausible(event, path, received_at)
    if problems:
        element, _ = problems[0]
        raise _Reject(_join(path, element), "; ".join(p for _, p in problems),
                      "times that can be true: ACT events in the past, created after they happened")
    return event


# ---- 2.2 fast path: plain checks for the common, valid event ------------------------------
# Pydantic validation is half the cost of a DCSA file. A valid 2.2 event with only the spec's
# keys is checked here with the same rules and mapped as _event_22 maps it; anything this path
# cannot vouch for (unknown keys, odd types, any failed check) goes to the models, so every
# rejection keeps the models' reason.
class _Decline(Exception):
    """The fast path cannot vouch for this event; the Pydantic models decide."""


_SURROGATE = re.compile("[\ud800-\udfff]")   # pydantic refuses lone surrogates in str fields
_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_IMO_22 = re.compile(r"[0-9]{7}\Z")   # the model's \d also takes other scripts' digits: those go slow
_BOX = re.compile(r"[A-Z]{3}[UJZR][0-9]{7}\Z")   # already normalised: container_number returns it as is
# ISO 6346 letter values run from A=10 and skip the multiples of 11
_BOX_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (v for v in range(10, 39) if v % 11)))}
_LATITUDE_22, _LONGITUDE_22 = _degree_check(90, 10), _degree_check(180, 11)
_KEYS_22 = {name: frozenset(model.model_fields) for name, model in MODELS_22.items()}
_KEYS_CALL = frozenset(TransportCall22.model_fields)
_KEYS_LOCATION = frozenset(Location22.model_fields)
_KEYS_ADDRESS = frozenset(Address22.model_fields)
_KEYS_VESSEL = frozenset(Vessel22.model_fields)
_KEYS_REFERENCE = frozenset(Reference22.model_fields)
_KEYS_DOCUMENT = frozenset(DocumentReference22.model_fields)
_KEYS_SEAL = frozenset(Seal22.model_fields)
_ADDRESS_LIMITS = (("name", 100), ("street", 100), ("streetNumber", 50), ("floor", 50),
                   ("postCode", 10), ("city", 65), ("stateRegion", 65), ("country", 75))
_CLASSIFIERS_22 = frozenset(("ACT", "PLN", "EST"))
# only codes Event takes: any other goes the models' way, where Event itself refuses it
_TRANSPORT_CODES_22 = frozenset(("ARRI", "DEPA")) & CODES[EventKind.TRANSPORT]
_SHIPMENT_CODES_22 = (frozenset(ShipmentEvent22.model_fields["shipmentEventTypeCode"].annotation.__args__)
                      & CODES[EventKind.SHIPMENT])
_EQUIPMENT_CODES_22 = (frozenset(EquipmentEvent22.model_fields["equipmentEventTypeCode"].annotation.__args__)
                       & CODES[EventKind.EQUIPMENT])
_FACILITY_TYPES, _MODES = frozenset(FACILITY_TYPES_22), frozenset(MODES_22)
_DOCUMENT_TYPES, _REFERENCE_TYPES = frozenset(DOCUMENT_TYPES_22), frozenset(REFERENCE_TYPES_22)
_CODE_LISTS, _CARRIER_LISTS = frozenset(("BIC", "SMDG")), frozenset(("SMDG", "NMFTA"))
_SEAL_SOURCES, _SEAL_TYPES = frozenset(("CAR", "SHI", "PHY", "VET", "CUS")), frozenset(("KLP", "BLT", "WIR"))
_EMPTY_LADEN = frozenset(("EMPTY", "LADEN"))
_CLASSIFIER_OF = {c.value: c for c in Classifier}


# Event(...) by keyword for values the fast path has checked as Event.__post_init__ checks them
# (a code of the kind's set, an aware time)
_make_event = slot_constructor(Event, post_init=False, none_is_default=True)


def _text(d: dict, key: str, max_len: int | None = None, required: bool = False) -> str | None:
    """Return d[key] when a string the model would take (None when absent and optional)."""
    v = d.get(key)
    if v is None:
        if required:
            raise _Decline
        return None
    if type(v) is not str or (max_len is not None and len(v) > max_len) or (
            not v.isascii() and _SURROGATE.search(v)):
        raise _Decline
    return v


def _code(d: dict, key: str, allowed: frozenset, required: bool = False) -> str | None:
    """Return d[key] when one of the allowed codes (None when absent and optional)."""
    v = d.get(key)
    if v is None:
        if required:
            raise _Decline
        return None
    if type(v) is not str or v not in allowed:
        raise _Decline
    return v


def _obj(v: Any, keys: frozenset) -> dict | None:
    """Return v when None or a JSON object with only the spec's keys."""
    if v is not None and (type(v) is not dict or not keys.issuperset(v)):
        raise _Decline
    return v


def _objs(v: Any, keys: frozenset) -> list[dict]:
    """Return the objects of a JSON array (empty when None) with only the spec's keys."""
    if v is None:
        return []
    if type(v) is not list:
        raise _Decline
    for o in v:
        _obj(o, keys)
        if o is None:
            raise _Decline
    return v


def _box_check_digit(box: str) -> str:
    """Return the ISO 6346 check digit of a container number's first ten characters."""
    values = _BOX_VALUES
    return str(sum(values[c] << i for i, c in enumerate(box[:10])) % 11 % 10)


@lru_cache(maxsize=65536)   # a feed repeats its containers event after event
def _normalised_box(box: str) -> bool:
    """True when `box` is a normalised ISO 6346 number with its right check digit."""
    return _BOX.match(box) is not None and _box_check_digit(box) == box[10]


@lru_cache(maxsize=4096)
def _checked_locode(code: str) -> str:
    """un_location_code, remembered: a feed names the same few places event after event. (For the
    fast path only: a JSON array or object raises TypeError here, and the models give the reason.)"""
    return un_location_code(code)


def _optional(d: dict, key: str, check) -> Any:
    v = d.get(key)
    return None if v is None else check(v)


def _location_22(loc: dict) -> tuple[str | None, float | None, float | None]:
    """Return (UN/LOCODE, latitude, longitude) of a checked 2.2 location."""
    if len(loc) == 1 and "UNLocationCode" in loc:   # the usual location: a UN/LOCODE alone
        return _optional(loc, "UNLocationCode", _checked_locode), None, None
    _text(loc, "locationName", 100)
    _text(loc, "facilityCode", 6)
    _code(loc, "facilityCodeListProvider", _CODE_LISTS)
    address = _obj(loc.get("address"), _KEYS_ADDRESS)
    if address is not None:
        for name, limit in _ADDRESS_LIMITS:
            _text(address, name, limit)
    return (_optional(loc, "UNLocationCode", _checked_locode), _optional(loc, "latitude", _LATITUDE_22),
            _optional(loc, "longitude", _LONGITUDE_22))


def _fast_call_22(tc: dict, with_position: bool) -> tuple[TransportCall, dict, tuple | None]:
    """Return what _transport_call_22 returns, plus the checked inner location (or None)."""
    call_id = _text(tc, "transportCallID", 100, required=True)
    service = _text(tc, "carrierServiceCode", 5)
    carrier_voyage = _text(tc, "carrierVoyageNumber", 50)
    export_voyage = _text(tc, "exportVoyageNumber", 50)
    import_voyage = _text(tc, "importVoyageNumber", 50)
    sequence = tc.get("transportCallSequenceNumber")
    if sequence is not None and type(sequence) is not int:   # strict: no bool, no float
        raise _Decline
    un_code = _optional(tc, "UNLocationCode", _checked_locode)
    facility = _text(tc, "facilityCode", 6)
    code_list = _code(tc, "facilityCodeListProvider", _CODE_LISTS)
    facility_type = _code(tc, "facilityTypeCode", _FACILITY_TYPES)
    other = _text(tc, "otherFacility", 50)
    mode = _code(tc, "modeOfTransport", _MODES, required=True)
    loc = _obj(tc.get("location"), _KEYS_LOCATION)
    checked = _location_22(loc) if loc is not None else None
    inner = checked[0] if checked else None
    if un_code and inner and inner != un_code:
        raise _Decline   # the model names the contradiction
    vessel = _obj(tc.get("vessel"), _KEYS_VESSEL)
    imo = vessel_name = details = None
    if vessel is not None:
        imo = _text(vessel, "vesselIMONumber", required=True)
        if not _IMO_22.match(imo):
            raise _Decline
        vessel_name = _text(vessel, "vesselName", 35)
        details = (_text(vessel, "vesselFlag", 2), _text(vessel, "vesselCallSignNumber", 10),
                   _text(vessel, "vesselOperatorCarrierCode", 10),
                   _code(vessel, "vesselOperatorCarrierCodeListProvider", _CARRIER_LISTS))
    call = TransportCall(mode=mode, location=un_code or inner or other, facility_code=facility,
                         facility_type=facility_type, voyage=export_voyage or carrier_voyage,
                         service=service, vehicle=(imo or vessel_name) if vessel is not None else None)
    extra = {"transport_call_id": call_id, "import_voyage": import_voyage, "vessel_name": vessel_name,
             "facility_code_list": code_list, "call_sequence": sequence}
    _more_call_extra(extra, carrier_voyage, other if un_code or inner else None, imo, mode, details)
    if loc is not None:
        extra["call_location"] = _location_extra(loc, checked[1], checked[2], keep_position=not with_position)
    return call, {k: v for k, v in extra.items() if v is not None}, checked


def _fast_refs_22(item: dict, documents: bool) -> tuple[tuple[str, str], ...]:
    """Return _document_refs of the event: document references, then references."""
    out = []
    if documents:
        for d in _objs(item.get("documentReferences"), _KEYS_DOCUMENT):
            kind = _code(d, "documentReferenceType", _BKG_TRD, required=True)
            out.append((DOC_TO_REF.get(kind, kind), _text(d, "documentReferenceValue", required=True)))
    for r in _objs(item.get("references"), _KEYS_REFERENCE):
        out.append((_code(r, "referenceType", _REFERENCE_TYPES, required=True),
                    _text(r, "referenceValue", 100, required=True)))
    return tuple(out)


_BKG_TRD = frozenset(("BKG", "TRD"))


def _fast_22(item: dict, event_type: str, path: str, source_party: str, parties: frozenset,
             received_at: datetime, message_id: str | None = None) -> Event | None:
    """Return the Event _event_22 would make of a plain valid 2.2 event (of message `message_id`),
    or None to use the models."""
    try:
        return _fast_event_22(item, event_type, path, source_party, parties, received_at, message_id)
    except Exception:   # _Decline, or any check that raised: the models give the exact reason
        return None


def _fast_event_22(item, event_type, path, source_party, parties, received_at, message_id) -> Event | None:
    if not _KEYS_22[event_type].issuperset(item):   # twice as fast as item.keys() <= the set
        return None
    event_id = item.get("eventID")
    if event_id is not None and (type(event_id) is not str or not _UUID_TEXT.match(event_id)):
        return None
    classifier = _CLASSIFIER_OF[_code(item, "eventClassifierCode", _CLASSIFIERS_22, required=True)]
    when = item.get("eventDateTime")
    event_time = offset_datetime(when)
    made = item.get("eventCreatedDateTime")
    # what _plausible finds, as one test: the models' path words the rejection
    limit = received_at + CLOCK_SKEW
    if made == when:   # senders often repeat the time: then the one test left is the future
        created = event_time
        if event_time > limit:
            return None
    else:
        created = offset_datetime(made)
        if created > limit or (classifier is Classifier.ACT
                               and (event_time > limit or created + CLOCK_SKEW < event_time)):
            return None
    extra: dict = {"dcsa_version": "2.2"}   # keys in _event_22's order: the stored JSON is the same
    if event_type == "TRANSPORT":
        code = _code(item, "transportEventTypeCode", _TRANSPORT_CODES_22, required=True)
        delay = _text(item, "delayReasonCode", 3)
        remark, other_remark = _remarks(_text(item, "changeRemark", 250),
                                        _text(item, "vesselScheduleChangeRemark", 250))
        tc = _obj(item.get("transportCall"), _KEYS_CALL)
        if tc is None:
            return None
        call, extra_tc, loc = _fast_call_22(tc, True)
        extra.update(extra_tc)
        if delay is not None:
            extra["delay_reason"] = delay
        if other_remark is not None:
            extra["vessel_schedule_change_remark"] = other_remark
        return _make_event(kind=EventKind.TRANSPORT, code=code, classifier=classifier, event_time=event_time,
                           location=call.location, transport_call=call, references=_fast_refs_22(item, True),
                           lat=loc[1] if loc else None, lon=loc[2] if loc else None, source_party=source_party,
                           parties=parties, message_id=message_id, created_at=created, reason=remark,
                           event_id=event_id, extra=extra)
    if event_type == "SHIPMENT":
        code = _code(item, "shipmentEventTypeCode", _SHIPMENT_CODES_22, required=True)
        document_id = _text(item, "documentID", required=True)
        doc_type = _code(item, "documentTypeCode", _DOCUMENT_TYPES, required=True)
        reason = _text(item, "reason")
        refs = ((DOC_TO_REF.get(doc_type, doc_type), document_id),) + _fast_refs_22(item, True)
        return _make_event(kind=EventKind.SHIPMENT, code=code, classifier=classifier, event_time=event_time,
                           references=refs, source_party=source_party, parties=parties, message_id=message_id,
                           created_at=created, reason=reason, event_id=event_id, extra=extra)
    code = _code(item, "equipmentEventTypeCode", _EQUIPMENT_CODES_22, required=True)
    box = item.get("equipmentReference")
    if box is not None:
        if type(box) is not str:
            return None
        if not _normalised_box(box):
            box = container_number(box)   # normalises, or raises and the models decide
    size_type = _text(item, "ISOEquipmentCode", 4)
    empty = _code(item, "emptyIndicatorCode", _EMPTY_LADEN, required=True)
    where = _obj(item.get("eventLocation"), _KEYS_LOCATION)
    place, lat, lon = _location_22(where) if where is not None else (None, None, None)
    tc = _obj(item.get("transportCall"), _KEYS_CALL)
    call = None
    if tc is not None:
        call, extra_tc, _ = _fast_call_22(tc, False)
        extra.update(extra_tc)
    seals = []
    for s in _objs(item.get("seals"), _KEYS_SEAL):
        seal = {"sealNumber": _text(s, "sealNumber", 15, required=True),
                "sealSource": _code(s, "sealSource", _SEAL_SOURCES),
                "sealType": _code(s, "sealType", _SEAL_TYPES, required=True)}
        seals.append({k: v for k, v in seal.items() if v is not None})
    if seals:
        extra["seals"] = seals
    if call is not None or where is not None and not (len(where) == 1 and "UNLocationCode" in where):
        # (the usual event has neither a call nor more than a UN/LOCODE for its place)
        place = place or (call.location if call else None)
        _more_equipment_extra(extra, place, call, where)
    return _make_event(kind=EventKind.EQUIPMENT, code=code, classifier=classifier, event_time=event_time,
                       location=place or (call.location if call else None), equipment=box, size_type=size_type,
                       empty=empty == "EMPTY", transport_call=call, references=_fast_refs_22(item, True),
                       lat=lat, lon=lon, source_party=source_party, parties=parties, message_id=message_id,
                       created_at=created, event_id=event_id, extra=extra)


# ---- 3.0 -> Event -------------------------------------------------------------------------
def _classify_30(c: Classification30, path: str) -> tuple[str, str, str | None]:
    """Return (eventType, classifier, Corridor code or None when not modelled) or raise _Reject."""
    where = _join(path, "eventClassification")
    kind = c.eventTypeCode or c.eventType
    if kind not in _TYPE_FIELDS_30:
        raise _Reject(_join(where, "eventTypeCode"), f"eventTypeCode {kind!r} is not a DCSA 3.0 event type",
                      "one of " + ", ".join(_TYPE_FIELDS_30))
    classifier = _CLASSIFIERS.get(c.eventClassifierCode or c.eventClassifier or "")
    if classifier is None:
        raise _Reject(_join(where, "eventClassifierCode"),
                      f"eventClassifierCode {c.eventClassifierCode or c.eventClassifier!r} "
                      "is not ACT, EST or PLN",
                      "one of ACT, EST, PLN (or ACTUAL, ESTIMATED, PLANNED)")
    code_field, word_field, vocabulary = _TYPE_FIELDS_30[kind]
    value = getattr(c, code_field) or getattr(c, word_field)
    if value not in vocabulary:
        raise _Reject(_join(where, code_field), f"{code_field} {value!r} is not a DCSA 3.0 "
                      f"{kind.lower()} event type code", "one of " + ", ".join(vocabulary))
    return kind, classifier, vocabulary[value]


def _transport_call_30(td: TransportDetails30 | None) -> tuple[TransportCall | None, dict]:
    """Return the call and its extra; (None, {"multimodal": True}) for a MULTIMODAL call that
    names no single vessel, rail or truck transport (Corridor's calls are by one mode)."""
    tc = td.transportCall if td else None
    if tc is None or tc.modeOfTransport is None:
        return None, {}
    mode = tc.modeOfTransport
    if mode == "MULTIMODAL":
        named = [m for field, m in _MODE_OF_TRANSPORT_30 if getattr(tc, field) is not None]
        if len(named) != 1:
            return None, {"multimodal": True}
        mode = named[0]
    vessel, rail, truck = tc.vesselTransport, tc.railTransport, tc.truckTransport
    vehicle = ((vessel.vesselIMONumber or vessel.vesselName) if vessel else None) or (
        truck.tractorDetails.licensePlate if truck and truck.tractorDetails else None)
    voyage = tc.exportVoyageNumberOrReference.carrierVoyageNumber if tc.exportVoyageNumberOrReference else None
    if rail and rail.railServiceReference and not voyage:
        voyage = rail.railServiceReference   # the train is the rail "voyage"
    service = tc.serviceCodeOrReference
    call = TransportCall(mode=mode, voyage=voyage, vehicle=vehicle,
                         service=(service.carrierServiceCode or service.universalServiceReference) if service else None,
                         wagon=rail.railCarReference if rail else None)
    extra = {"transport_call_id": tc.transportCallReference,
             "call_sequence": tc.transportCallSequenceNumber,
             "vessel_name": vessel.vesselName if vessel else None,
             "import_voyage": tc.importVoyageNumberOrReference.carrierVoyageNumber
             if tc.importVoyageNumberOrReference else None,
             "rail_departure_id": rail.departureID if rail else None,
             "delay_reasons": td.delayReasonCodes,
             "dcsa_mode": "MULTIMODAL" if mode != tc.modeOfTransport else None}
    if vessel is not None:   # under 2.2's names, so GET /v2/events gives them back
        extra.update(vessel_flag=vessel.vesselFlag, vessel_call_sign=vessel.vesselCallSign,
                     vessel_operator=vessel.operatorCarrierCode,
                     vessel_operator_list=vessel.operatorCarrierCodeListProvider
                     if vessel.operatorCarrierCodeListProvider in _CARRIER_LISTS else None,
                     vessel_mmsi=vessel.vesselMMSINumber)
    return call, {k: v for k, v in extra.items() if v is not None}


def _seals_30(seals: list[Seal30], path: str, notes: list[str]) -> list[dict] | None:
    """Return 3.0 seals as 2.2 writes them (sealNumber, sealSource, sealType); a seal without a
    number, or without a type 2.2 has a code for, is left out with a warning."""
    out = []
    for i, seal in enumerate(seals):
        kind = _SEAL_TYPES_30.get(seal.type or "")
        if seal.number is None or kind is None:
            notes.append(f"{_join(path, i)}: seal {seal.number!r} with type {seal.type!r}: a seal needs its "
                         "number and type (KLP, BLT, WIR or their words): left out, the event is kept")
            continue
        source = _SEAL_SOURCES_30.get(seal.source or "")
        out.append({"sealNumber": seal.number, **({"sealSource": source} if source else {}), "sealType": kind})
    return out or None


def _event_30(m: Event30, path, source_party, parties, received_at, result) -> Event | None:
    kind, classifier, code = _classify_30(m.eventClassification, path)
    iot_code = m.iotDetails.iotEventCode if m.iotDetails else None
    if kind == "IOT" and code == "?":   # DETC: only a location update is a position
        code = "POSI" if iot_code == "LOC" else None
    if code is None or kind == "REEFER":
        what = {k: v for k, v in m.eventClassification.model_dump(exclude_none=True).items()
                if k not in ("eventTypeCode", "eventType")}
        what.update({"iotEventCode": iot_code} if iot_code else {})
        result.warnings.append(f"{path or 'event'}: valid DCSA 3.0 {kind} event {what} skipped: "
                               f"Corridor's event model has no counterpart")
        return None
    label = f"{path or 'event'} ({kind} {code})"
    where, eq = m.eventLocation, m.equipmentDetails
    geo = where.geoCoordinate if where else None
    call, extra = _transport_call_30(m.transportDetails)
    if extra.pop("multimodal", False):
        named = ("a transport event" if kind == "TRANSPORT" else "its transport call")
        result.warnings.append(
            f"{label}: modeOfTransport MULTIMODAL names no single vesselTransport, railTransport or "
            f"truckTransport: Corridor holds a call by one mode, so {named} is skipped")
        if kind == "TRANSPORT":
            return None
    elif kind == "TRANSPORT" and call is None:
        raise _Reject(_join(path, "transportDetails", "transportCall", "modeOfTransport"),
                      "a transport event needs its transport call and mode of transport",
                      "one of VESSEL, RAIL, TRUCK, BARGE, MULTIMODAL")
    if kind == "IOT" and (geo is None or geo.latitude is None or geo.longitude is None):
        raise _Reject(_join(path, "eventLocation", "geoCoordinate"),
                      "an IoT location update needs eventLocation.geoCoordinate latitude and longitude",
                      "latitude and longitude as decimal strings")
    place = where.UNLocationCode if where else None
    facility_type = (where.facilityTypeCode or where.facilityType) if where else None
    if call is not None:
        call = replace(call, location=place, facility_type=_FACILITY_30.get(facility_type, facility_type),
                       facility_code=where.facility.facilityCode if where and where.facility else None)
    refs: tuple[tuple[str, str], ...] = ()
    sd = m.shipmentDetails
    if sd:
        docs = ([sd.documentReference] if sd.documentReference else []) + list(sd.additionalDocumentReferences or [])
        for d in docs:
            doc_type = d.typeCode or _DOCUMENT_WORDS_30.get(d.type, d.type)
            refs += ((DOC_TO_REF.get(doc_type, doc_type), d.reference),)
        refs += tuple((r.typeCode or _SHIPMENT_REF_WORDS_30.get(r.type, r.type), r.reference)
                      for r in sd.shipmentReferences or ())
    if kind == "SHIPMENT" and not refs:
        raise _Reject(_join(path, "shipmentDetails", "documentReference"),
                      "a shipment event needs the document it is about", "typeCode (or type) and reference")
    extra.update(dcsa_version="3.0",
                 transport_phase=(eq.transportPhase or eq.movementType) if eq else None,
                 facility_name=where.locationName if where else None,
                 iot_event_code=iot_code,
                 seals=_seals_30(eq.seals, _join(path, "equipmentDetails", "seals"), result.warnings)
                 if eq and eq.seals else None)
    empty = (eq.emptyIndicatorCode or eq.emptyIndicator) if eq else None
    event = Event(kind=EventKind(kind), code=code, classifier=Classifier(classifier),
                  event_time=m.eventDateTime, location=place,
                  equipment=eq.equipmentReference if eq else None,
                  size_type=eq.ISOEquipmentCode if eq else None,
                  empty=None if empty is None else empty == "EMPTY",
                  transport_call=call, references=refs,
                  lat=geo.latitude if geo else None, lon=geo.longitude if geo else None,
                  source_party=source_party, parties=parties, created_at=m.eventUpdatedDateTime,
                  reason=(sd.reason if sd else None) or m.reason or (
                      m.transportDetails.changeRemark if m.transportDetails else None),
                  event_id=m.eventID, extra={k: v for k, v in extra.items() if v is not None})
    problems = _plausible(event, path, received_at)
    for element, reason in problems:
        if element == "eventCreatedDateTime":
            # 3.0 has only eventUpdatedDateTime, and DCSA's own examples set it before the event
            result.warnings.append(f"{label}: {reason.replace('eventCreatedDateTime', 'eventUpdatedDateTime')}")
        else:
            raise _Reject(_join(path, element), reason, "an ACT event in the past")
    return event
