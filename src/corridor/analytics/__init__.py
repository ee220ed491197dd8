"""KPIs of the corridor computed from its own event log, data quality per sender, exports, plots, IFTSTA out.

Entry points: `kpi.corridor_kpis(conn, viewer, start, end)` (the `corridor kpi` document),
`quality.data_quality(conn, viewer, start, end)`, `export.write(...)`, `plots.svg(...)` and
`iftsta_out.iftsta_for_party(...)`.
"""
