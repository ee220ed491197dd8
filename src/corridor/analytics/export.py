"""The KPI document as flat tables, written as CSV, JSON or Parquet (Parquet needs pyarrow)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

FORMATS = ("table", "csv", "json", "parquet")


class ExportUnavailable(RuntimeError):
    """An export format whose library is not installed; the message says what to install."""


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "_"))
        elif isinstance(v, (list, tuple)):
            out[key] = ";".join(map(str, v))
        else:
            out[key] = v
    return out


# the texts that say how figures count (bases, standards): one `notes` table, not a column per row
_NOTES = {"volumes": ("od_basis",), "transit": ("end_to_end_basis",), "utilisation": ("basis",),
          "co2e": ("standard", "by_route_basis", "note")}


def tables(doc: dict) -> dict[str, list[dict]]:
    """Named flat tables (one dict per row) of a KPI document: every figure of it, and the period
    it covers (`period`: period_from, period_to with their UTC offsets, as in the document)."""
    t: dict[str, list[dict]] = {}
    if doc.get("period"):
        t["period"] = [_flat(doc["period"], "period_")]
    vol = doc.get("volumes") or {}
    if vol:
        total = _flat(vol["total"])
        if "tonnes_per_teu" in vol:
            total["tonnes_per_teu"] = vol["tonnes_per_teu"]
        t["volumes_total"] = [total]
        t["volumes_by_month"] = [_flat(r) for r in vol["by_month"]]
        t["volumes_by_od"] = [_flat(r) for r in vol["by_od"]]
        if "od_left_out" in vol:
            t["volumes_od_left_out"] = [_flat(vol["od_left_out"])]
        t["volumes_by_port"] = [_flat(r) for r in vol["by_port"]]
        t["volumes_by_direction"] = [_flat(r) for r in vol["by_direction"]]
    tr = doc.get("transit") or {}
    if tr:
        t["transit_legs"] = [_flat(r) for r in tr["legs"]]
        t["transit_end_to_end"] = [_flat(r) for r in tr["end_to_end"]]
        if "end_to_end_left_out" in tr:
            t["transit_end_to_end_left_out"] = [_flat(tr["end_to_end_left_out"])]
        if "delay_vs_promised_hours" in tr:
            t["transit_delay_vs_promised"] = [_flat(tr["delay_vs_promised_hours"], "hours_")]
    if doc.get("on_time"):
        t["on_time"] = [_flat(doc["on_time"])]
    if doc.get("dwell"):
        t["dwell"] = [_flat(r) for r in doc["dwell"]["by_location"]]
        t["dwell_by_kind"] = [{"kind": k, **_flat(v, "hours_")}
                              for k, v in (doc["dwell"].get("by_kind") or {}).items()]
    if doc.get("utilisation"):
        u = doc["utilisation"]
        t["utilisation_reserved"] = [_flat(r) for r in u["reserved"]]
        if "caspian" in u:
            t["utilisation_caspian"] = [_flat(u["caspian"])]
        if "reserved_by_link" in u:
            t["utilisation_reserved_by_link"] = [_flat(r) for r in u["reserved_by_link"]]
        t["utilisation_observed"] = [_flat(r) for r in u["observed_loads"]]
    if doc.get("co2e"):
        c = doc["co2e"]
        t["co2e_by_route"] = [_flat(r) for r in c["by_route"]]
        if "by_route_left_out" in c:
            t["co2e_by_route_left_out"] = [_flat(c["by_route_left_out"])]
        t["co2e_reference_routes"] = [_flat(r) for r in c["reference_routes"]]
    if doc.get("data_quality"):
        q = doc["data_quality"]
        t["data_quality"] = [_flat(r) for r in q["parties"]]
        t["data_quality_network"] = [_flat({k: v for k, v in q.items() if k != "parties"})]
    notes = [{"section": sec, "name": k, "text": doc[sec][k]}
             for sec, keys in _NOTES.items() for k in keys if isinstance(doc.get(sec), dict) and k in doc[sec]]
    if notes:
        t["notes"] = notes
    return t


def long_rows(doc: dict) -> list[dict]:
    """Every table's rows in one list, each tagged with its table name (one CSV/Parquet file)."""
    rows = []
    for name, rs in tables(doc).items():
        rows += [{"table": name, **r} for r in rs]
    return rows


def _columns(rows: list[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def to_csv(doc: dict) -> str:
    """CSV text: a `table` column, then the union of every table's columns."""
    rows = long_rows(doc)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def to_json(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"


def pyarrow():
    """The pyarrow module, or ExportUnavailable naming the install command."""
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401
        return pa
    except ImportError:
        raise ExportUnavailable("Parquet export needs pyarrow: pip install pyarrow "
                                "(or pip install 'corridor[analytics]')") from None


def to_parquet(doc: dict, path: str | Path) -> int:
    """Write the long table to a Parquet file; returns the number of rows."""
    pa = pyarrow()
    rows = long_rows(doc)
    cols = _columns(rows)
    arrays = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds and not kinds <= {int, float, bool}:
            vals = [None if v is None else str(v) for v in vals]   # a column mixing text and numbers
        arrays[c] = pa.array(vals)
    pa.parquet.write_table(pa.table(arrays), str(path))
    return len(rows)


def write(doc: dict, fmt: str, out: str | Path | None) -> str | None:
    """Render `doc` as csv|json|parquet into `out` (a path) or return the text (csv, json)."""
    if fmt == "parquet":
        if not out:
            raise ValueError("Parquet is binary: give --out FILE")
        to_parquet(doc, out)
        return None
    text = to_csv(doc) if fmt == "csv" else to_json(doc)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        return None
    return text
