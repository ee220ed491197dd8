/* Find a container or booking: search by any identifier, then the timeline (planned, estimated,
 * actual), the ETA with its range, alerts, and where it is on a small map. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;
  const WORD = { load: "Loaded", depart: "Departed", arrive: "Arrived", discharge: "Discharged", gate_in: "Gate in",
    gate_out: "Gate out", pick_up: "Picked up", drop_off: "Dropped off", stuff: "Stuffed", strip: "Stripped", inspect: "Inspected" };
  let net, minimap;

  function place(code) { const p = code && net.byRef[code]; return p ? p.name : code || "—"; }

  function etaBlock(eta, promised) {
    if (!eta) return el("p", { class: "muted" }, "No ETA yet: it comes with the first movement or plan.");
    const lo = Date.parse(eta.low), hi = Date.parse(eta.high), mid = Date.parse(eta.eta);
    const span = Math.max(hi - lo, 1);
    const band = el("div", { class: "band" }), tick = el("div", { class: "mid" });
    band.style.left = "0%"; band.style.width = "100%";
    tick.style.left = `${(100 * (mid - lo) / span).toFixed(1)}%`;
    return el("div", { "data-testid": "eta" },
      el("div", { class: "muted small" }, "Estimated arrival"),
      el("div", { class: "eta-big" }, C.fmtTime(eta.eta)),
      el("div", { class: "range" }, band, tick),
      el("div", { class: "range-labels" }, el("span", {}, `earliest ${C.fmtTime(eta.low)}`), el("span", {}, `latest ${C.fmtTime(eta.high)}`)),
      promised ? el("p", { class: "small" }, `Promised ${C.fmtTime(promised)} · ` +
        (mid > Date.parse(promised) ? `${C.fmtHours(C.hoursBetween(promised, eta.eta))} late` : "on time")) : null);
  }

  function summary(tl, booking) {
    const st = tl.status || {};
    const rows = [["Container", tl.equipment], ["Booking", tl.booking_ref || booking && booking.booking_ref || "—"],
      ["State", (st.state || "—").replace(/_/g, " ")], ["Where", st.location ? place(st.location) : tl.position ? `${tl.position.lat.toFixed(2)}, ${tl.position.lon.toFixed(2)}` : "—"],
      ["On", st.vehicle || "—"], ["Last heard", C.fmtTime(st.last_heard_at)]];
    const b = booking && booking.booking;
    if (b) rows.splice(2, 0, ["Route", `${place(b.origin)} → ${place(b.destination)}`], ["Booking status", b.status]);
    return [el("h2", {}, `${tl.equipment}`), el("dl", { class: "kv" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("hr", { class: "sep" }), etaBlock(tl.eta || (booking && booking.eta), b && b.promised_arrival)];
  }

  function timelineTable(ms) {
    const rows = ms.map((m) => {
      const late = m.actual && m.planned ? C.hoursBetween(m.planned, m.actual) : m.estimated && m.planned ? C.hoursBetween(m.planned, m.estimated) : null;
      const cls = late === null ? null : late > 2 ? "late" : late < -2 ? "early" : null;
      return el("tr", { class: m.actual ? "done" : null, "data-testid": "milestone" },
        el("td", {}, WORD[m.milestone] || m.milestone, m.border_crossing ? el("span", { class: "pill warn", title: "border crossing" }, " border") : null,
          m.gauge_change ? el("span", { class: "pill", title: "gauge change" }, " gauge") : null),
        el("td", {}, m.place || place(m.location)),
        el("td", {}, m.vehicle ? `${(m.mode || "").toLowerCase()} ${m.vehicle}` : "—"),
        el("td", {}, C.fmtTime(m.planned)),
        el("td", { title: m.estimated_range ? `range ${C.fmtTime(m.estimated_range[0])} – ${C.fmtTime(m.estimated_range[1])}` : null }, C.fmtTime(m.estimated)),
        el("td", { class: cls }, C.fmtTime(m.actual)),
        el("td", { class: cls }, late === null ? "" : C.fmtHours(late)));
    });
    return C.table(["Milestone", "Place", "Vehicle", "Planned", "Estimated", "Actual", "vs plan"], rows);
  }

  function drawOnMap(tls) {
    const codes = [];
    for (const tl of tls) for (const m of tl.milestones) if (m.location && codes[codes.length - 1] !== m.location) codes.push(m.location);
    minimap.route(codes);
    for (const tl of tls) {
      const pos = tl.position || (tl.status && tl.status.location && net.byRef[tl.status.location]);
      if (pos) minimap.marker("c:" + tl.equipment, "box", pos.lon, pos.lat, `container ${tl.equipment}`, {});
    }
  }

  /** A booking with no tracked container yet: its planned legs as the timeline. */
  async function showBookingOnly(ref) {
    const b = await C.api("/api/v1/bookings/" + encodeURIComponent(ref));
    const ms = b.legs.flatMap((l) => [
      { milestone: "depart", location: l.from, vehicle: l.departure_id, planned: l.departure },
      { milestone: "arrive", location: l.to, vehicle: l.departure_id, planned: l.arrival }]);
    document.getElementById("result").hidden = false;
    document.getElementById("summary").replaceChildren(el("h2", {}, `Booking ${b.ref}`),
      el("dl", { class: "kv" }, [["Status", b.status], ["Route", `${place(b.origin)} → ${place(b.destination)}`],
        ["Containers", b.containers.map((c) => `${c.count} × ${c.size_type}`).join(", ")], ["Departs", C.fmtTime(b.departure)],
        ["Promised arrival", C.fmtTime(b.arrival)], ["Price", C.fmtMoney(b.price)]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("p", { class: "muted small" }, "No container is tracked on this booking yet: times are the booked plan."));
    document.getElementById("alerts-card").hidden = true;
    document.getElementById("timeline").replaceChildren(timelineTable(ms));
    await ensureMap();
    minimap.route([b.legs[0] && b.legs[0].from, ...b.legs.map((l) => l.to)].filter(Boolean));
  }

  async function ensureMap() {
    if (minimap) return;
    minimap = new CorridorMap(document.getElementById("minimap"), { autoHome: false });
    await minimap.drawLand(); minimap.drawNetwork(net);
  }

  async function show(hit) {
    const result = document.getElementById("result");
    let tls, booking = null;
    if (hit.type === "booking" && !hit.trip_id) return showBookingOnly(hit.ref);
    if (hit.type === "booking") {
      booking = await C.api("/api/v1/bookings/" + encodeURIComponent(hit.ref) + "/timeline");
      tls = booking.containers;
    } else {
      tls = [await C.api("/api/v1/containers/" + encodeURIComponent(hit.trip_id || hit.equipment || hit.ref))];
    }
    result.hidden = false;
    const s = document.getElementById("summary");
    s.replaceChildren(...summary(tls[0], booking));
    if (tls.length > 1) s.append(el("p", { class: "small muted" }, `${tls.length} containers on this booking: ` + tls.map((t) => t.equipment).join(", ")));
    const alerts = tls.flatMap((t) => t.alerts.map((a) => Object.assign({ equipment: t.equipment }, a)));
    document.getElementById("alerts-card").hidden = !alerts.length;
    document.getElementById("alerts").replaceChildren(...alerts.map((a) =>
      el("li", {}, `${C.fmtTime(a.at)} · ${a.equipment} · ${a.reason || a.code}` + (a.location ? ` (${place(a.location)})` : ""))));
    const t = document.getElementById("timeline");
    t.replaceChildren(...tls.map((tl) => el("div", {}, tls.length > 1 ? el("h3", {}, tl.equipment) : null, timelineTable(tl.milestones))));
    await ensureMap();
    drawOnMap(tls);
    history.replaceState(null, "", "/find?q=" + encodeURIComponent(hit.ref || tls[0].equipment));
  }

  async function find(q) {
    const hits = document.getElementById("hits");
    hits.replaceChildren(el("span", { class: "muted" }, "Searching…"));
    try {
      const r = await C.api("/api/v1/search?q=" + encodeURIComponent(q));
      if (!r.results.length) {
        hits.replaceChildren(el("p", { class: "error" }, `Nothing found for “${q}” that you may see.`));
        document.getElementById("result").hidden = true;
        return;
      }
      // A booking hit means the whole booking; otherwise one trip per container.
      const bk = r.results.find((h) => h.type === "booking" && h.trip_id) || r.results.find((h) => h.type === "booking");
      const first = bk || r.results[0];
      const many = r.results.filter((h) => h.type !== "booking");
      hits.replaceChildren(...(many.length > 1 || bk ? many.map((h) => el("button", { type: "button", onclick: () => show(h).catch((e) => C.fail(e)) },
        `${h.equipment || h.ref} (${h.type.replace(/_/g, " ")})`)) : []));
      await show(first);
    } catch (e) { C.fail(e, hits); }
  }

  C.page(async () => {
    net = await C.network();
    const form = document.getElementById("find-form"), q = document.getElementById("q");
    form.addEventListener("submit", (ev) => { ev.preventDefault(); find(q.value.trim()); });
    const start = C.param("q");
    if (start) { q.value = start; await find(start); }
  });
})();
