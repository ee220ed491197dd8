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
    if (!eta) return el("p", { class: "muted", "data-testid": "no-eta" }, "No ETA yet: it comes with the first movement or plan.");
    const tz = eta.timezone || C.zone(eta.destination);   // the destination's local time
    const lo = Date.parse(eta.low), hi = Date.parse(eta.high), mid = Date.parse(eta.eta);
    const span = Math.max(hi - lo, 1);
    const band = el("div", { class: "band" }), tick = el("div", { class: "mid" });
    band.style.left = "0%"; band.style.width = "100%";
    tick.style.left = `${(100 * (mid - lo) / span).toFixed(1)}%`;
    return el("div", { "data-testid": "eta" },
      el("div", { class: "muted small" }, `Estimated arrival${eta.destination ? " at " + place(eta.destination) : ""}`),
      el("div", { class: "eta-big", title: tz || "" }, C.fmtTime(eta.eta, tz)),
      el("div", { class: "range" }, band, tick),
      el("div", { class: "range-labels" }, el("span", {}, `earliest ${C.fmtTime(eta.low, tz)}`), el("span", {}, `latest ${C.fmtTime(eta.high, tz)}`)),
      promised ? el("p", { class: "small" }, `Promised ${C.fmtTime(promised, tz)} · ` +
        (mid > Date.parse(promised) ? `${C.fmtHours(C.hoursBetween(promised, eta.eta))} late` : "on time")) : null);
  }

  function summary(tl, booking) {
    const st = tl.status || {};
    const rows = [["Container", tl.equipment], ["Booking", tl.booking_ref || booking && booking.booking_ref || "—"],
      ["State", (st.state || "—").replace(/_/g, " ")], ["Where", st.location ? place(st.location) : tl.position ? `${tl.position.lat.toFixed(2)}, ${tl.position.lon.toFixed(2)}` : "—"],
      ["On", st.vehicle || "—"], ["Last heard", C.fmtTime(st.last_heard_at, st.timezone || C.zone(st.location))]];
    const b = booking && booking.booking;
    if (b) rows.splice(2, 0, ["Route", `${place(b.origin)} → ${place(b.destination)}`], ["Booking status", (b.status || "—").replace(/_/g, " ")]);
    return [el("h2", {}, `${tl.equipment}`), el("dl", { class: "kv" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("hr", { class: "sep" }), etaBlock(tl.eta || (booking && booking.eta), b && b.promised_arrival)];
  }

  function timelineTable(ms) {
    if (!ms.length) return el("p", { class: "muted", "data-empty": "1" }, "Nothing reported or planned for this container yet.");
    const rows = ms.map((m) => {
      const late = m.actual && m.planned ? C.hoursBetween(m.planned, m.actual) : m.estimated && m.planned ? C.hoursBetween(m.planned, m.estimated) : null;
      const cls = late === null ? null : late > 2 ? "late" : late < -2 ? "early" : null;
      const at = (iso) => C.fmtAt(iso, m.location);   // every time in the place's own zone
      return el("tr", { class: m.actual ? "done" : null, "data-testid": "milestone", "data-location": m.location || null },
        el("td", {}, WORD[m.milestone] || m.milestone, m.border_crossing ? el("span", { class: "pill warn", title: "border crossing" }, " border") : null,
          m.gauge_change ? el("span", { class: "pill", title: "gauge change" }, " gauge") : null),
        el("td", { title: C.zone(m.location) || "" }, m.place || place(m.location)),
        // the vehicle that carried the box; the booked one beside it when it was another (or none yet)
        el("td", {}, [m.vehicle ? `${(m.mode || "").toLowerCase()} ${m.vehicle}` : null,
          m.planned_vehicle && m.as_booked !== true ? `booked ${m.planned_vehicle}` : null].filter(Boolean).join(" · ") || "—"),
        el("td", {}, at(m.planned)),
        el("td", { title: m.estimated_range ? `range ${at(m.estimated_range[0])} – ${at(m.estimated_range[1])}` : null }, at(m.estimated)),
        el("td", { class: cls }, at(m.actual)),
        el("td", { class: cls }, late === null ? "" : C.fmtHours(late)));
    });
    return C.table(["Milestone", "Place", "Vehicle", "Planned", "Estimated", "Actual", "vs plan"], rows);
  }

  /** An alert's reason with its ISO times written as the place's local time, like every other time. */
  function localTimes(text, ref) {
    return String(text).replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g, (iso) => C.fmtAt(iso, ref));
  }

  /**
   * A box's way in travel order: the places it was reported at, then the rest of its plan from
   * where it is now to its destination. Planned rows it has left behind (a plan made before it
   * moved on) and an estimate listed before later planned rows are not gone back to.
   */
  function wayOf(tl, booking) {
    const ms = tl.milestones || [];
    let last = -1;
    ms.forEach((m, i) => { if (m.actual) last = i; });
    const done = ms.slice(0, last + 1).filter((m) => m.actual && m.location).map((m) => m.location);
    const st = tl.status || {};
    if (st.location) done.push(st.location);
    const dest = (tl.eta && tl.eta.destination) || (booking && booking.booking && booking.booking.destination);
    let ahead = ms.slice(last + 1).filter((m) => !m.actual && (m.planned || m.estimated) && m.location).map((m) => m.location);
    const here = done[done.length - 1], passed = new Set(done);
    const from = here ? ahead.lastIndexOf(here) : -1;
    ahead = from >= 0 ? ahead.slice(from) : ahead.filter((c) => !passed.has(c));
    if (dest && ahead.includes(dest)) ahead = ahead.slice(0, ahead.indexOf(dest));
    if (dest) ahead.push(dest);
    return { done, ahead };
  }

  function drawOnMap(tl, tls, booking) {
    const way = wayOf(tl, booking);
    minimap.route(way.done, way.ahead);
    for (const t of tls) {
      const pos = t.position || (t.status && t.status.location && net.byRef[t.status.location]);
      if (pos) minimap.marker("c:" + t.equipment, "box", pos.lon, pos.lat, `container ${t.equipment}`, {});
    }
    if (tl.equipment) minimap.select("c:" + tl.equipment);
  }

  /** A booking with no tracked container yet: its planned legs as the timeline. */
  async function showBookingOnly(ref) {
    const b = await C.api("/api/v1/bookings/" + encodeURIComponent(ref));
    const legs = b.legs.filter((l) => l.active !== false);
    const ms = legs.flatMap((l) => [
      { milestone: "depart", location: l.from, vehicle: l.departure_id, planned: l.departure },
      { milestone: "arrive", location: l.to, vehicle: l.departure_id, planned: l.arrival }]);
    document.getElementById("result").hidden = false;
    document.getElementById("summary").replaceChildren(el("h2", {}, `Booking ${b.ref}`),
      el("dl", { class: "kv" }, [["Status", (b.status || "—").replace(/_/g, " ")], ["Route", `${place(b.origin)} → ${place(b.destination)}`],
        ["Containers", b.containers.map((c) => `${c.count} × ${c.size_type}`).join(", ")], ["Departs", C.fmtAt(b.departure, b.origin)],
        ["Promised arrival", C.fmtAt(b.arrival, b.destination)], ["Price", C.fmtMoney(b.price)]].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("p", { class: "muted small" }, "No container is tracked on this booking yet: times are the booked plan."));
    document.getElementById("alerts-card").hidden = true;
    document.getElementById("boxes-card").hidden = true;
    document.getElementById("timeline-title").textContent = "Booked plan";
    document.getElementById("timeline").replaceChildren(timelineTable(ms));
    await ensureMap();
    minimap.route([], [b.origin, ...legs.flatMap((l) => [l.from, l.to]), b.destination]);
  }

  async function ensureMap() {
    if (minimap) return;
    minimap = new CorridorMap(document.getElementById("minimap"), { autoHome: false });
    await minimap.drawLand(); minimap.drawNetwork(net);
  }

  /** The containers of a booking, one row each; a click shows that one's timeline and way. */
  function boxesTable(tls, selected, onPick) {
    const rows = tls.map((t) => {
      const st = t.status || {}, eta = t.eta;
      const tr = el("tr", { class: "clickable" + (t === selected ? " selected" : ""), "data-equipment": t.equipment },
        el("td", {}, el("a", { href: "/find?q=" + encodeURIComponent(t.equipment) }, t.equipment)),
        el("td", {}, (st.state || "—").replace(/_/g, " ")), el("td", {}, st.location ? place(st.location) : "—"),
        el("td", {}, C.fmtTime(st.last_heard_at, st.timezone || C.zone(st.location))),
        el("td", {}, eta ? C.fmtTime(eta.eta, eta.timezone || C.zone(eta.destination)) : "—"),
        el("td", { class: "num" }, String(t.alerts.length || "")));
      tr.addEventListener("click", (ev) => { ev.preventDefault(); onPick(t); });
      return tr;
    });
    return C.table(["Container", "State", "Where", "Last heard", "ETA", "#Alerts"], rows);
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
    await ensureMap();
    const boxes = document.getElementById("boxes-card");
    const pick = (tl) => {
      document.getElementById("summary").replaceChildren(...summary(tl, booking));
      boxes.hidden = tls.length < 2;
      if (tls.length > 1) {
        document.getElementById("boxes-title").textContent = `${tls.length} containers on booking ${booking.booking_ref}`;
        document.getElementById("boxes").replaceChildren(boxesTable(tls, tl, pick));
      }
      const alerts = tl.alerts.map((a) => Object.assign({ equipment: tl.equipment }, a));
      document.getElementById("alerts-card").hidden = !alerts.length;
      document.getElementById("alerts").replaceChildren(...alerts.map((a) =>
        el("li", {}, `${C.fmtAt(a.at, a.location)} · ${localTimes(a.reason || a.code, a.location)}` + (a.location ? ` (${place(a.location)})` : ""))));
      document.getElementById("timeline-title").textContent = tls.length > 1 ? `Timeline of ${tl.equipment}` : "Timeline";
      document.getElementById("timeline").replaceChildren(timelineTable(tl.milestones));
      drawOnMap(tl, tls, booking);
      result.dataset.equipment = tl.equipment;
    };
    pick(tls.find((t) => hit.equipment && t.equipment === hit.equipment && hit.type !== "booking") || tls[0]);
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
