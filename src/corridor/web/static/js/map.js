/* Live corridor map: the network over the offline geography; containers, trains and vessels move
 * as events and positions arrive on the live stream. Click anything for details. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;
  const VEHICLE_KIND = { RAIL: "train", VESSEL: "vessel", BARGE: "vessel", TRUCK: "truck" };
  const CODE = { LOAD: "loaded", DISC: "discharged", DEPA: "departed", ARRI: "arrived", GTIN: "gated in",
    GTOT: "gated out", POSI: "position", STUF: "stuffed", STRP: "stripped", PICK: "picked up", DROP: "dropped off",
    INSP: "inspected" };
  let map, net, count = 0;

  /** Return [lon, lat] of an event: its own fix, else its place; null when neither is known. */
  function whereOf(ev) {
    if (ev.lat !== null && ev.lat !== undefined && ev.lon !== null && ev.lon !== undefined) return [ev.lon, ev.lat];
    const p = ev.location && net.byRef[ev.location];
    return p ? [p.lon, p.lat] : null;
  }

  function placeName(code) { const p = code && net.byRef[code]; return p ? p.name : code || ""; }

  function describe(ev) {
    const what = ev.code === null ? "last reported" : CODE[ev.code] || (ev.code || "").toLowerCase();
    const who = ev.equipment || ev.voyage || ev.vehicle || ev.departure_id || "";
    const where = ev.location ? ` at ${placeName(ev.location)}` : ev.lat != null ? ` at ${(+ev.lat).toFixed(2)}, ${(+ev.lon).toFixed(2)}` : "";
    return `${who} ${what}${where}`.trim();
  }

  /** Apply one event to the map: move the container and its train or vessel; ACT (and IOT) only. */
  function apply(ev, live) {
    if (ev.kind === "ALERT" || ev.kind === "SHIPMENT" || (ev.classifier && ev.classifier !== "ACT")) return;
    const at = whereOf(ev);
    if (!at) return;
    const vehicle = ev.voyage || ev.vehicle || ev.departure_id;
    if (vehicle && VEHICLE_KIND[ev.mode]) {
      map.marker("v:" + vehicle, VEHICLE_KIND[ev.mode], at[0], at[1], `${ev.mode.toLowerCase()} ${vehicle}`,
        { vehicle, mode: ev.mode, last: ev });
    }
    if (ev.equipment) {
      // Offset the box a little so a container on a train stays visible beside it.
      map.marker("c:" + ev.equipment, "box", at[0] + (vehicle ? 0.25 : 0), at[1] + (vehicle ? 0.18 : 0),
        `container ${ev.equipment}`, { equipment: ev.equipment, vehicle, last: ev });
    }
    if (live) {
      const d = document.getElementById("details");
      if (d.dataset.marker && (d.dataset.marker === "c:" + ev.equipment || d.dataset.marker === "v:" + vehicle)) {
        showMarker(d.dataset.marker);
      }
    }
  }

  function addToFeed(ev) {
    const feed = document.getElementById("feed");
    const li = el("li", { "data-seq": ev.seq, title: ev.reason || "" },
      el("span", { class: "t" }, C.fmtAt(ev.event_time, ev.location)), " ",
      ev.kind === "ALERT" ? el("span", { class: "pill bad" }, "alert") : el("span", { class: `pill ${ev.classifier}` }, ev.classifier),
      " ", describe(ev));
    li.addEventListener("click", () => {
      const id = ev.equipment ? "c:" + ev.equipment : "v:" + (ev.voyage || ev.vehicle || ev.departure_id);
      if (map.markers.has(id)) { map.select(id); showMarker(id); }
    });
    const empty = feed.querySelector("[data-empty]");
    if (empty) empty.remove();
    feed.prepend(li);
    while (feed.childNodes.length > 150) feed.lastChild.remove();
    document.getElementById("event-count").textContent = String(++count);
  }

  function showMarker(id) {
    const m = map.markers.get(id), info = m && m._info, d = document.getElementById("details");
    if (!info) return;
    d.dataset.marker = id;
    const ev = info.last;
    const rows = [["Last report", describe(ev)], ["When", C.fmtAt(ev.event_time, ev.location)],
      ["Position", `${(+m.dataset.lat).toFixed(3)}° N, ${(+m.dataset.lon).toFixed(3)}° E`]];
    if (info.equipment) rows.unshift(["Container", info.equipment]);
    if (info.vehicle) rows.push([info.equipment ? "On" : "Service", `${ev.mode ? ev.mode.toLowerCase() + " " : ""}${info.vehicle}`]);
    if (ev.source_party) rows.push(["Reported by", ev.source_party]);
    d.replaceChildren(el("h2", {}, info.equipment ? `Container ${info.equipment}` : `${ev.mode ? ev.mode.toLowerCase() : ""} ${info.vehicle}`),
      el("dl", { class: "kv" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      info.equipment ? el("p", {}, el("a", { href: "/find?q=" + encodeURIComponent(info.equipment) }, "Timeline, ETA and alerts →")) : null);
  }

  function showPlace(p) {
    const d = document.getElementById("details");
    delete d.dataset.marker;
    const links = net.links.filter((k) => k.from === p.code || k.to === p.code);
    d.replaceChildren(el("h2", {}, p.name),
      el("dl", { class: "kv" },
        [["Code", p.code], ["Country", p.country], ["Kind", (p.kind || "").replace(/_/g, " ")],
         ["Time zone", p.timezone], ["Gauges", (p.gauges || []).join(", ") || "—"], ["Links", String(links.length)]]
          .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("p", {}, el("a", { href: "/boards?facility=" + encodeURIComponent(p.id || p.code) }, "Operator board →")));
  }

  /**
   * The picture before the stream starts: every open container trip the party may see where it was
   * last reported (GPS, else its facility), and the trains and vessels they are on
   * (GET /api/v1/positions/latest). Returns how many containers were placed.
   */
  async function snapshot() {
    const doc = await C.api("/api/v1/positions/latest");
    const KIND = { on_rail: "RAIL", at_sea: "VESSEL", on_road: "TRUCK" };
    const firstFix = new Map();
    for (const t of doc.trips) {
      const mode = KIND[t.state] || null, vehicle = mode ? t.vehicle || t.departure_id : null;
      if (vehicle && !firstFix.has(vehicle)) firstFix.set(vehicle, t);
      apply({ kind: "EQUIPMENT", classifier: "ACT", code: t.source === "gps" ? "POSI" : null, event_time: t.at,
        equipment: t.equipment, location: t.location, lat: t.lat, lon: t.lon, mode, vehicle }, false);
    }
    for (const v of doc.vehicles) {
      const t = firstFix.get(v.vehicle) || firstFix.get(v.departure_id);
      const mode = v.mode ? v.mode.toUpperCase() : t ? KIND[t.state] : null;
      const lat = v.lat ?? (t && t.lat), lon = v.lon ?? (t && t.lon);
      if (!mode || lat == null || !VEHICLE_KIND[mode]) continue;
      const id = v.vehicle || v.departure_id;   // as apply() names a vehicle from its boxes
      map.marker("v:" + id, VEHICLE_KIND[mode], lon, lat, `${mode.toLowerCase()} ${v.vehicle} · ${v.containers} containers`,
        { vehicle: v.vehicle, mode, last: { code: null, event_time: v.at || (t && t.at), location: t && t.location, mode,
          vehicle: v.vehicle, lat, lon } });
    }
    return doc.trips.length;
  }

  C.page(async () => {
    const host = document.getElementById("map");
    map = new CorridorMap(host, { onPick: (x) => x.type === "place" ? showPlace(x.place) : showMarker(x.id) });
    const [n] = await Promise.all([C.network(), map.drawLand()]);
    net = n;
    const alt = document.getElementById("show-alt");
    map.drawNetwork(net, { showAlt: alt.checked });
    alt.addEventListener("change", () => map.showAlt(alt.checked));
    window.addEventListener("resize", () => map._declutter());
    const feed = document.getElementById("feed");
    let placed = 0;
    try { placed = await snapshot(); } catch (e) { console.warn("no snapshot", e); }
    host.dataset.containers = String(placed);
    // an empty feed says why, instead of showing nothing
    feed.replaceChildren(el("li", { class: "muted", "data-empty": "1" }, `Waiting for new events… ` +
      (placed ? `${C.fmtNum(placed)} containers you may see are on the map where they were last reported.`
        : "No open container trip that you may see yet.")));
    const state = document.getElementById("live-state");
    C.stream({}, (ev) => { apply(ev, true); addToFeed(ev); }, (on) => {
      state.textContent = on ? "live" : "reconnecting…"; state.className = "live " + (on ? "on" : "off");
      host.dataset.live = on ? "1" : "0";
    });
  });
})();
