/* Operator board for a facility: what is coming and when, the next departures with how full they
 * are and, at a port, the containers waiting (from the live stream of events at the facility). */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;
  let net, live = null;

  function fill(dep) {
    const lf = dep.load_factor || 0, f = el("div", { class: "fill" + (lf >= 1 ? " full" : lf >= 0.8 ? " high" : ""), title: `${Math.round(lf * 100)}%` }, el("span", {}));
    f.firstChild.style.width = `${Math.min(100, lf * 100).toFixed(0)}%`;
    return f;
  }

  function rows(deps, side) {
    return deps.map((d) => el("tr", { "data-departure": d.id },
      el("td", {}, C.fmtTime(side === "in" ? d.arrival : d.departure)),
      el("td", {}, `${d.mode.replace("_", " ")} ${d.voyage || d.vehicle || d.service || ""}`, el("div", { class: "muted small" }, d.operator || "")),
      el("td", {}, side === "in" ? (net.byRef[d.from] || {}).name || d.from : (net.byRef[d.to] || {}).name || d.to),
      el("td", { class: "num" }, `${d.reserved_teu}/${d.capacity_teu}`), el("td", {}, fill(d)),
      el("td", {}, d.status && d.status !== "scheduled" ? el("span", { class: "pill warn" }, d.status) : "")));
  }

  async function load(fac) {
    const p = net.byRef[fac];
    if (!p) return;
    document.getElementById("board-title").textContent = `· ${p.name}`;
    history.replaceState(null, "", "/boards?facility=" + encodeURIComponent(p.id || p.code));
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const end = new Date(Date.now() + 14 * 864e5).toISOString().replace(/\.\d+Z$/, "Z");
    const q = (side) => `/api/v1/departures?${side}=${encodeURIComponent(p.code)}&start=${now}&end=${end}&limit=40`;
    const [inb, outb] = await Promise.all([C.api(q("to")), C.api(q("from"))]);
    const A = document.getElementById("arrivals"), D = document.getElementById("departures");
    A.replaceChildren(inb.departures.length ? C.table(["Due", "Train / sailing", "From", "#TEU", "Booked", ""], rows(inb.departures, "in"))
      : el("p", { class: "muted" }, "Nothing due in the next two weeks."));
    D.replaceChildren(outb.departures.length ? C.table(["Leaves", "Train / sailing", "To", "#TEU", "Booked", ""], rows(outb.departures, "out"))
      : el("p", { class: "muted" }, "No departures in the next two weeks."));
    const isPort = ["POTE", "BRTH"].includes(p.facility_type);
    document.getElementById("queue-card").hidden = !isPort;
    if (live) live.close();
    if (isPort) watchQueue(p);
  }

  /** Containers in at the port and not yet out: gate-ins/discharges minus loads/gate-outs, live. */
  function watchQueue(p) {
    const waiting = new Map(), host = document.getElementById("queue");
    const draw = () => host.replaceChildren(waiting.size ? C.table(["Container", "Since", "Event"], [...waiting.values()].map((e) =>
      el("tr", {}, el("td", {}, el("a", { href: "/find?q=" + e.equipment }, e.equipment)), el("td", {}, C.fmtTime(e.event_time)), el("td", {}, e.code))))
      : el("p", { class: "muted" }, "No container reported waiting since this board opened."));
    draw();
    live = C.stream({ facility: p.id || p.code }, (e) => {
      if (!e.equipment || e.classifier !== "ACT") return;
      if (["GTIN", "DISC", "ARRI"].includes(e.code)) waiting.set(e.equipment, e);
      if (["LOAD", "GTOT", "DEPA"].includes(e.code)) waiting.delete(e.equipment);
      draw();
    });
  }

  C.page(async (who) => {
    net = await C.network();
    const sel = document.getElementById("facility");
    const mine = new Set(who.party.facilities || []);
    const places = net.locations.filter((l) => l.facility_type !== "WAYP").sort((a, b) =>
      (mine.has(b.id) - mine.has(a.id)) || a.name.localeCompare(b.name));
    for (const l of places) sel.append(el("option", { value: l.id || l.code }, (mine.has(l.id) ? "★ " : "") + l.name));
    const start = C.param("facility") || [...mine][0] || "KZ_AKX";
    sel.value = net.byRef[start] ? (net.byRef[start].id || start) : places[0].id;
    sel.addEventListener("change", () => load(sel.value).catch((e) => C.fail(e)));
    await load(sel.value);
  });
})();
