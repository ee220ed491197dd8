/* KPI dashboard: the document of GET /api/v1/kpi (what the signed-in party may see), as tiles,
 * charts (charts.js, drawn here: nothing is fetched from outside Corridor) and tables. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C, CH = () => window.CorridorCharts;
  const pct = (r) => (r === null || r === undefined ? "—" : `${C.fmtNum(100 * r, 1)} %`);
  const val = (v, d = 0) => C.fmtNum(v, d);
  const route = (r) => `${r.origin}→${r.destination}`;
  // a chart's short label: the place part of a UN/LOCODE (CNXIA -> XIA), the last part of an id (AZ_ABS -> ABS)
  const place = (ref) => (/^[A-Z]{2}[A-Z2-9]{3}$/.test(ref) ? ref.slice(2) : ref.split("_").pop());
  const short = (r) => `${place(r.origin)}→${place(r.destination)}`;

  /** A table that scrolls sideways inside its card (never the page) on narrow screens. */
  function wide(headers, rows) {
    const box = el("div", { class: "table-wrap" }, C.table(headers, rows));
    box.style.overflowX = "auto";
    return box;
  }
  const cell = (v, d = 0) => el("td", { class: "num" }, typeof v === "string" ? v : val(v, d));
  const none = (what) => el("p", { class: "muted", "data-empty": "1" }, what);
  const note = (text) => el("p", { class: "muted small", "data-note": "1" }, text);

  /** The period asked for: the form's dates (UTC days), else the URL's from/to, else the API's default. */
  function period() {
    const q = new URLSearchParams();
    const f = document.getElementById("kpi-from").value || C.param("from");
    const t = document.getElementById("kpi-to").value || C.param("to");
    const at = (d) => (d.length === 10 ? `${d}T00:00:00Z` : d);
    if (f) q.set("from", at(f));
    if (t) q.set("to", at(t));
    return q;
  }

  function source(doc, who) {
    const p = doc.period;
    document.getElementById("kpi-source").textContent =
      `From the KPI API (GET /api/v1/kpi), ${C.fmtTime(p.from)} to ${C.fmtTime(p.to)}: ${val(p.trips)} container ` +
      `trips started (${val(p.trips_arrived)} arrived, ${val(p.trips_under_way)} under way), as ` +
      `${who.party.name || who.party.id} may see them.`;
    document.getElementById("kpi-from").value = p.from.slice(0, 10);
  }

  function tiles(doc) {
    const tot = doc.volumes.total, ot = doc.on_time.containers;
    const casp = doc.utilisation.caspian, cap = casp.capacity_teu, res = casp.reserved_teu;
    const obs = doc.co2e.by_route, tk = obs.reduce((s, r) => s + r.teu_km, 0);
    const co2 = tk ? obs.reduce((s, r) => s + r.co2e_t * 1000, 0) / tk : null;
    const growth = tot.teu_growth_pct === null ? "" : ` (${tot.teu_growth_pct > 0 ? "+" : ""}${tot.teu_growth_pct} % on a year earlier)`;
    const items = [
      ["TEU", val(tot.teu), `${val(tot.tonnes)} t at ${doc.volumes.tonnes_per_teu} t/TEU${growth}`],
      ["Containers", val(tot.containers), `${val(tot.trains)} block trains`],
      ["On time", pct(ot.rate), `${ot.on_time} of ${ot.n} delivered by the promise + ${doc.on_time.grace_hours} h`],
      ["Caspian capacity reserved", cap ? pct(res / cap) : "—",
        `${val(res)} of ${val(cap)} TEU booked on the ${val(casp.departures)} Caspian sailings that ran ` +
        `(${val(casp.cancelled)} cancelled); ${val(casp.carried_teu)} TEU reported aboard (${pct(casp.carried_utilisation)})`],
      ["CO₂e per TEU-km", co2 === null ? "—" : `${C.fmtNum(co2, 3)} kg`, "routes run, to their destination"],
      ["Data health", val(doc.data_quality.network_health, 1), "of 100, over the sending parties"]];
    document.getElementById("tiles").replaceChildren(...items.map(([k, v, title]) =>
      el("div", { class: "tile", "data-kpi": k, title }, el("div", { class: "v" }, v), el("div", { class: "k" }, k))));
  }

  function charts(doc) {
    const months = doc.volumes.by_month;
    CH().bars(document.getElementById("chart-volume"), months.map((m) => m.month),
      [{ name: "TEU", values: months.map((m) => m.teu) }], { title: "TEU per month" });
    const e2e = doc.transit.end_to_end.slice(0, 8);
    CH().bars(document.getElementById("chart-transit"), e2e.map(short),
      [{ name: "median days", values: e2e.map((r) => r.days.p50 || 0) }], { title: "median transit days per route" });
    const res = doc.utilisation.reserved;
    CH().bars(document.getElementById("chart-load"), res.map((r) => r.mode),
      [{ name: "reserved %", values: res.map((r) => 100 * (r.utilisation || 0)) }],
      { max: 100, fmt: (v) => `${Math.round(v)}%`, title: "capacity reserved by mode" });
    const obs = doc.co2e.by_route.slice(0, 5);
    const ref = doc.co2e.reference_routes.filter((r) => r.corridor === "northern" || r.corridor === "sea").slice(0, 3);
    const labels = obs.map(short).concat(ref.map((r) => r.route.split("_").slice(0, 2).join(" ").toLowerCase()));
    CH().bars(document.getElementById("chart-co2"), labels, [
      { name: "Middle Corridor, as run", values: obs.map((r) => r.kg_per_teu_km).concat(ref.map(() => 0)) },
      { name: "Northern / sea (reference)", values: obs.map(() => 0).concat(ref.map((r) => r.kg_per_teu_km)) }],
    { title: "kg CO2e per TEU-km" });
  }

  function od(doc) {
    const v = doc.volumes, lo = v.od_left_out;
    const rows = v.by_od.slice(0, 20).map((r) => el("tr", { "data-od": route(r) }, el("td", {}, r.origin),
      el("td", {}, r.destination), cell(r.teu), cell(r.containers), cell(r.under_way),
      cell(r.teu_growth_pct === null ? "—" : `${r.teu_growth_pct} %`)));
    document.getElementById("od").replaceChildren(
      rows.length ? wide(["Origin", "Destination", "#TEU", "#Containers", "#Under way", "#Growth"], rows)
        : none("No container trips in this period."),
      note(`A booked trip counts under its booked destination, also while under way; without a booking, a trip ` +
        `counts where it ended once completed. ${val(lo.containers)} containers (${val(lo.teu)} TEU) under way ` +
        `without a booking have no known destination yet and are left out.`));
  }

  function transit(doc) {
    const tr = doc.transit, ot = doc.on_time, d = tr.delay_vs_promised_hours;
    const rows = tr.end_to_end.slice(0, 20).map((r) => el("tr", { "data-e2e": route(r) }, el("td", {}, r.origin),
      el("td", {}, r.destination), cell(r.days.n), cell(r.days.p50, 1), cell(r.days.p90, 1)));
    document.getElementById("transit").replaceChildren(
      rows.length ? wide(["Origin", "Destination", "#Arrived", "#p50 days", "#p90 days"], rows)
        : none("No trip has reached its destination in this period."),
      note(`Trips that reached their destination only; ${val(tr.end_to_end_left_out.containers)} under way are ` +
        `left out. Delay against the promised arrival: p50 ${d.p50 === null ? "—" : C.fmtNum(d.p50, 1) + " h"}. ` +
        `On time (grace ${ot.grace_hours} h): containers ${ot.containers.on_time}/${ot.containers.n}, ` +
        `legs by the timetable ${ot.legs.on_time}/${ot.legs.n}.`));
  }

  function dwell(doc) {
    const rows = doc.dwell.by_location.map((r) => el("tr", { "data-dwell": r.location }, el("td", {}, r.location),
      el("td", {}, r.name), el("td", {}, r.kinds.join(", ").replace(/_/g, " ")),
      cell(r.hours.n), cell(r.hours.p50, 1), cell(r.hours.p90, 1)));
    document.getElementById("dwell").replaceChildren(rows.length
      ? wide(["Place", "Name", "Kind", "#Stays", "#p50 h", "#p90 h"], rows) : none("No stays measured in this period."));
  }

  function utilisation(doc) {
    const u = doc.utilisation;
    const reserved = u.reserved.map((r) => el("tr", { "data-reserved": r.mode }, el("td", {}, r.mode),
      cell(r.departures), cell(r.cancelled), cell(r.capacity_teu), cell(r.reserved_teu), cell(pct(r.utilisation)),
      cell(r.carried_teu), cell(pct(r.carried_utilisation))));
    const loads = u.observed_loads.map((r) => el("tr", { "data-load": r.mode }, el("td", {}, r.mode.toLowerCase()),
      cell(r.vehicles), cell(r.teu), cell(r.teu_per_vehicle.p50, 1), cell(r.teu_per_vehicle.p90, 1)));
    document.getElementById("utilisation").replaceChildren(
      el("h3", {}, "Capacity reserved and carried on every departure that ran"),
      reserved.length ? wide(["Mode", "#Departures", "#Cancelled", "#Capacity TEU", "#Reserved TEU",
        "#Reserved / capacity", "#Carried TEU", "#Carried / capacity"], reserved)
        : none("No departure ran in this period."),
      el("h3", {}, "Observed loads per train or sailing"),
      loads.length ? wide(["Mode", "#Trains / sailings", "#TEU loaded", "#TEU per vehicle p50", "#p90"], loads)
        : none("No loads reported in this period."));
  }

  function co2e(doc) {
    const c = doc.co2e;
    const rows = c.by_route.slice(0, 15).map((r) => el("tr", { "data-route": route(r) }, el("td", {}, route(r)),
      el("td", {}, "middle, as run"), cell(r.teu), cell(r.kg_per_teu, 1), cell(r.kg_per_teu_km, 4)))
      .concat(c.reference_routes.map((r) => el("tr", { "data-reference": r.route }, el("td", { title: r.name }, r.route),
        el("td", {}, `${r.corridor}, reference`), cell("—"), cell(r.kg_per_teu, 1), cell(r.kg_per_teu_km, 4))));
    document.getElementById("co2e").replaceChildren(
      rows.length ? wide(["Route", "Corridor", "#TEU", "#kg per TEU", "#kg per TEU-km"], rows) : none("No network stored."),
      note(`${c.standard || ""}. Routes run: trips that reached their destination only; ` +
        `${val((c.by_route_left_out || {}).containers)} under way are left out (part of their route only).`));
  }

  function quality(doc) {
    const q = doc.data_quality;
    const rows = q.parties.map((r) => el("tr", { "data-party": r.party }, el("td", {}, r.party), cell(r.messages),
      cell(pct(r.completeness)), cell(r.latency_hours.p50, 1), cell(pct(r.duplicate_rate)),
      cell(pct(r.quarantine_rate)), cell(r.health, 1)));
    document.getElementById("quality").replaceChildren(rows.length
      ? wide(["Sending party", "#Messages", "#Complete", "#Latency p50 h", "#Duplicates", "#Quarantined", "#Health"], rows)
      : none("No messages received in this period."));
  }

  async function show(who) {
    const q = period();
    const doc = await C.api("/api/v1/kpi" + (q.toString() ? `?${q}` : ""));
    source(doc, who);
    tiles(doc); charts(doc); od(doc); transit(doc); dwell(doc); utilisation(doc); co2e(doc); quality(doc);
    document.body.dataset.kpiFrom = doc.period.from;
  }

  C.page(async (who) => {
    const from = C.param("from"), to = C.param("to");
    if (from) document.getElementById("kpi-from").value = from.slice(0, 10);
    if (to) document.getElementById("kpi-to").value = to.slice(0, 10);
    document.getElementById("kpi-period").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const q = period();
      history.replaceState(null, "", location.pathname + (q.toString() ? `?${q}` : ""));
      try { await show(who); C.flash(""); } catch (e) { C.fail(e); }
    });
    await show(who);
  });
})();
