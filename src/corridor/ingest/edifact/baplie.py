"""BAPLIE (bay plan): which containers are on board which sailing, and where, as Stowage records.

The header TDT+20 names the voyage (else RFF+VON) and the vessel (C222: call sign or IMO, and
name); LOC+5 is the port the plan was made for. Each LOC+147 (stowage cell, BBBRRTT) opens a
group with the container (EQD), its ports (LOC+9 loading, LOC+11/12 discharge), its weight
(MEA+WT/VGM in KGM, LBR or TNE) and operator (NAD+CA; SMDG BAPLIE 3 sends NAD+CF, container
operator). Cells without EQD (break-bulk) or with an EQD that names no container (a slot
reserved for an empty still to come) are skipped. A message that puts each EQD before its
LOC+147 is grouped from the EQD instead (warned).
"""

from __future__ import annotations

from corridor.ingest.results import Stowage

from .common import Context, Reject, find, loc

_LB = 0.45359237
# 6411 measurement units of a weight -> kilograms per unit ('KG' is written by some generators for KGM)
_KG_PER = {"KGM": 1.0, "KG": 1.0, "": 1.0, "LBR": _LB, "TNE": 1000.0}


def map_message(ctx: Context) -> list[Stowage]:
    """Return the stowage records of one BAPLIE message; bad cells are rejected one by one."""
    body = ctx.msg.body
    first_cell = next((i for i, s in enumerate(body) if s.tag == "LOC" and s.el(0) == "147"), len(body))
    first_eqd = next((i for i, s in enumerate(body) if s.tag == "EQD"), len(body))
    eqd_first = first_eqd < first_cell   # 'EQD ... LOC+147' (COARRI-like order) instead of SMDG's 'LOC+147 ... EQD'
    if eqd_first:
        ctx.warn(f"BAPLIE message {ctx.msg.ref!r}: each EQD comes before its LOC+147; groups read from the EQD")
    head, groups = [], []
    for s in body:
        if (s.tag == "EQD") if eqd_first else (s.tag == "LOC" and s.el(0) == "147"):
            groups.append([s])
        elif groups:
            groups[-1].append(s)
        else:
            head.append(s)
    tdt = find(head, "TDT", "20") or find(head, "TDT")
    if tdt is None:
        raise Reject("BAPLIE without TDT+20 (the vessel voyage)", ctx.msg.unh, "TDT+20",
                     "TDT+20+<voyage>+++<carrier>:172:20+++<call sign>:103::<vessel name>")
    von = find(head, "RFF", "VON")
    voyage = tdt.el(1) or (von.el(0, 1) if von else None) or None
    vessel_id = tdt.el(7) or None
    vessel = tdt.el(7, 3) or vessel_id
    departure, _ = loc(find(head, "LOC", "5"))
    out, empty_cells = [], 0
    for group in groups:
        try:
            eqd = find(group, "EQD")
            if eqd is None or not eqd.el(1).strip():   # no EQD, or a slot reserved for a box not yet named
                empty_cells += 1
                continue
            cell = find(group, "LOC", "147")
            eq, size, empty = ctx.equipment(eqd)
            pol, _ = loc(find(group, "LOC", "9"))
            pod, _ = loc(find(group, "LOC", ("11", "12")))
            operator = find(group, "NAD", "CA") or find(group, "NAD", "CF")
            out.append(Stowage(
                equipment=eq, vessel=vessel, vessel_id=vessel_id, voyage=voyage, size_type=size,
                position=(cell.el(1).strip() or None) if cell is not None else None,
                port_of_loading=pol, port_of_discharge=pod,
                port_of_departure=departure, weight_kg=_weight(ctx, group), empty=empty,
                operator=operator.el(1) if operator is not None else None, message_ref=ctx.msg.ref))
        except Reject as r:
            ctx.reject(r)
    if not out and empty_cells == len(groups) and not any(r.message_ref == ctx.msg.ref for r in ctx.result.rejections):
        raise Reject(f"BAPLIE message {ctx.msg.ref!r} places no container (no LOC+147 group with an EQD)",
                     ctx.msg.unh, "EQD", "LOC+147+<cell>::5 followed by EQD+CN+<container number>")
    if empty_cells:
        ctx.warn(f"BAPLIE message {ctx.msg.ref!r}: {empty_cells} stowage cells without a container skipped")
    return out


def _weight(ctx: Context, group) -> float | None:
    """Gross weight in kg from MEA+WT / MEA+VGM (KGM, LBR or TNE), None when absent or unreadable.

    SMDG BAPLIE 3 allows tonnes ('MEA+AAE+WT+TNE:12'); a unit not known here leaves the weight out
    (warned) rather than reading 12 t as 12 kg."""
    for s in group:
        if s.tag == "MEA" and s.el(0) in ("WT", "VGM", "AAE") and s.el(2, 1):
            try:
                value = float(s.el(2, 1).replace(",", "."))
            except ValueError:
                return None
            unit = s.el(2).strip().upper()
            if unit not in _KG_PER:
                ctx.warn(f"segment {s.pos}: weight {s.el(2, 1)} in unit {s.el(2)!r} is not KGM, LBR or TNE; "
                         f"weight left out")
                return None
            return value if unit in ("KGM", "KG", "") else round(value * _KG_PER[unit], 1)
    return None
