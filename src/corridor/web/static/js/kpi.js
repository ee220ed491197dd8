/* KPI dashboard: volumes, transit times, capacity use, CO2e, and data quality per sending party. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C, CH = () => window.CorridorCharts;
  const FAMILY = (route) => (route || "").split(":")[0] || "other";

  function week(iso) {
    const d = new Date(Date.parse(iso)), t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
    t.setUTCDate(t.getUTCDate() + 3 - ((t.getUTCDay() + 6) % 7));
    const w1 = new Date(Date.UTC(t.getUTCFullYear(), 0, 4));
    return `W${String(1 + Math.round(((t - w1) / 864e5 - 3 + ((w1.getUTCDay() + 6) % 7)) / 7)).padStart(2, "0")}`;
  }
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };

  /**
   * The one data source of this page. Until the KPI API exists it derives the figures from the
   * bookings, departures and quarantine the signed-in party may see (so a shipper sees its own).
   */
  async function kpiSource(who) {
    const now = Date.now(), iso = (t) => new Date(t).toISOString().replace(/\.\d+Z$/, "Z");
    const [bk, deps, q] = await Promise.all([
      C.api("/api/v1/bookings?limit=1000"),
      C.api(`/api/v1/departures?mode=ferry&start=${iso(now - 28 * 864e5)}&end=${iso(now + 56 * 864e5)}&limit=5000`),
      C.api("/api/v1/quarantine?status=all&limit=1000")]);
    const bookings = bk.bookings.filter((b) => b.status !== "cancelled");
    return { source: `Derived from the ${bookings.length} bookings, ${deps.departures.length} ferry sailings and ` +
      `${q.entries.length} quarantine entries visible to ${who.party.name}; the KPI API will replace this.`,
      bookings, ferries: deps.departures, quarantine: q.entries };
  }

  function tiles(d) {
    const teu = d.bookings.reduce((s, b) => s + b.teu, 0);
    const transit = d.bookings.filter((b) => b.departure && b.arrival).map((b) => C.hoursBetween(b.departure, b.arrival) / 24);
    const co2 = teu ? d.bookings.reduce((s, b) => s + (b.co2e_kg || 0), 0) / teu : null;
    const cap = d.ferries.reduce((s, f) => s + f.capacity_teu, 0), used = d.ferries.reduce((s, f) => s + f.reserved_teu, 0);
    const open = d.quarantine.filter((x) => x.status === "open").length;
    const items = [["Bookings", C.fmtNum(d.bookings.length)], ["TEU booked", C.fmtNum(teu)],
      ["Median transit", transit.length ? `${C.fmtNum(median(transit), 1)} d` : "—"], ["CO₂e per TEU", co2 ? `${C.fmtNum(co2)} kg` : "—"],
      ["Caspian ferry use", cap ? `${C.fmtNum(100 * used / cap)} %` : "—"], ["Quarantined (open)", C.fmtNum(open)]];
    document.getElementById("tiles").replaceChildren(...items.map(([k, v]) => el("div", { class: "tile", "data-kpi": k }, el("div", { class: "v" }, v), el("div", { class: "k" }, k))));
  }

  function charts(d) {
    const fams = [...new Set(d.bookings.map((b) => FAMILY(b.route)))];
    const weeks = [...new Set(d.bookings.filter((b) => b.departure).map((b) => b.departure).sort().map(week))];
    CH().bars(document.getElementById("chart-volume"), weeks, fams.map((f) => ({ name: f,
      values: weeks.map((w) => d.bookings.filter((b) => FAMILY(b.route) === f && b.departure && week(b.departure) === w).reduce((s, b) => s + b.teu, 0)) })),
      { title: "TEU per week" });
    CH().histogram(document.getElementById("chart-transit"), d.bookings.filter((b) => b.departure && b.arrival)
      .map((b) => C.hoursBetween(b.departure, b.arrival) / 24), 10, { name: "bookings" });
    const fw = [...new Set(d.ferries.map((f) => f.departure).sort().map(week))];
    CH().bars(document.getElementById("chart-load"), fw, [{ name: "booked %", values: fw.map((w) => {
      const fs = d.ferries.filter((f) => week(f.departure) === w), cap = fs.reduce((s, f) => s + f.capacity_teu, 0);
      return cap ? 100 * fs.reduce((s, f) => s + f.reserved_teu, 0) / cap : 0; }) }], { max: 100, fmt: (v) => `${Math.round(v)}%`, title: "ferry load factor" });
    CH().bars(document.getElementById("chart-co2"), fams, [{ name: "kg CO2e / TEU", values: fams.map((f) => {
      const bs = d.bookings.filter((b) => FAMILY(b.route) === f), t = bs.reduce((s, b) => s + b.teu, 0);
      return t ? bs.reduce((s, b) => s + (b.co2e_kg || 0), 0) / t : 0; }) }], { title: "CO2e per TEU" });
  }

  function quality(d) {
    const by = new Map();
    for (const q of d.quarantine) {
      const k = q.source_party || "unknown", r = by.get(k) || { party: k, open: 0, all: 0, reasons: new Map() };
      r.all++; if (q.status === "open") r.open++;
      r.reasons.set(q.reason, (r.reasons.get(q.reason) || 0) + 1); by.set(k, r);
    }
    const rows = [...by.values()].sort((a, b) => b.open - a.open).map((r) => el("tr", {}, el("td", {}, r.party),
      el("td", { class: "num" }, r.open), el("td", { class: "num" }, r.all),
      el("td", {}, [...r.reasons.entries()].sort((a, b) => b[1] - a[1])[0][0])));
    document.getElementById("quality").replaceChildren(rows.length ? C.table(["Sending party", "#Open", "#All", "Most frequent reason"], rows)
      : el("p", { class: "muted" }, "No rejected messages: every message received was taken."));
  }

  C.page(async (who) => {
    const d = await kpiSource(who);
    document.getElementById("kpi-source").textContent = d.source;
    tiles(d); charts(d); quality(d);
  });
})();
