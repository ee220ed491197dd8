/* Operator board for a facility: what arrives here in the next two weeks (trains and sailings
 * under way included, in order of arrival, with the TEU booked on them), the next departures with
 * how full they are, and the containers waiting here now (GET /api/v1/locations/{code}/queue),
 * kept live from the stream of events at the facility. Times are the place's own, with offset. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;
  const DAYS = 14, QUEUE_ROWS = 1000, RELOAD_MS = 1500;
  let net, live = null, board = 0, reload = null, arrivals = [];

  /** "2026-12-06 01:30 UTC+05" in the IANA zone `tz`, whatever offset the API gave the instant in. */
  const fmts = {};
  function atPlace(iso, tz) {
    if (!iso || !tz) return C.fmtTime(iso);
    const f = fmts[tz] || (fmts[tz] = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "shortOffset" }));
    const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
    const m = /GMT([+-])(\d{1,2})(?::(\d{2}))?/.exec(p.timeZoneName || "");
    const zone = m ? `UTC${m[1]}${m[2].padStart(2, "0")}${m[3] && m[3] !== "00" ? ":" + m[3] : ""}` : "UTC";
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${zone}`;
  }
  const place = (ref) => net.byRef[ref] || { name: ref, code: ref };
  const tzOf = (ref) => place(ref).timezone;
  /** A place's name without its qualifiers ("Dostyk station and Dostyk TransTerminal (break of gauge)"
   * -> "Dostyk station and Dostyk TransTerminal"), the full name as its title. */
  const short = (ref) => el("span", { title: `${place(ref).name} (${place(ref).code})` }, place(ref).name.split(/ [(/]/)[0]);
  /** A time cell: date and time on one line, the zone's offset beneath. */
  function when(iso, tz) {
    const t = atPlace(iso, tz), cut = t.lastIndexOf(" "), s = el("span", {}, t.slice(0, cut));
    s.style.whiteSpace = "nowrap";
    return [s, el("div", { class: "muted small" }, t.slice(cut + 1))];
  }

  function fill(dep) {
    const lf = dep.load_factor || 0, f = el("div", { class: "fill" + (lf >= 1 ? " full" : lf >= 0.8 ? " high" : ""),
      title: `${dep.reserved_teu} of ${dep.capacity_teu} TEU booked (${Math.round(lf * 100)}%)` }, el("span", {}));
    f.firstChild.style.width = `${Math.min(100, lf * 100).toFixed(0)}%`;
    return f;
  }

  const underWay = (d, now) => Date.parse(d.departure) <= now && now < Date.parse(d.arrival);

  function statusPills(d, now) {
    return [d.status === "cancelled" ? el("span", { class: "pill bad" }, "cancelled")
      : d.status === "delayed" ? el("span", { class: "pill warn", title: "delayed by an operator's notice" }, "late")
        : d.status && d.status !== "scheduled" ? el("span", { class: "pill warn" }, d.status) : null,
    " ", underWay(d, now) && d.status !== "cancelled" ? el("span", { class: "pill ok" }, "under way") : null];
  }

  const vehicle = (d) => `${d.mode.replace("_", " ")} ${d.voyage || d.vehicle || d.service || ""}`.trim();

  function rows(deps, side) {
    const now = Date.now();
    return deps.map((d) => el("tr", { "data-departure": d.id, "data-status": d.status },
      el("td", {}, side === "in" ? when(d.arrival, tzOf(d.to)) : when(d.departure, tzOf(d.from))),
      el("td", {}, vehicle(d), el("div", { class: "muted small" }, d.operator || "")),
      side === "in"
        ? el("td", {}, short(d.from), el("div", { class: "muted small" },
          (Date.parse(d.departure) <= now ? "left " : "leaves ") + atPlace(d.departure, tzOf(d.from))))
        : el("td", { title: "due " + atPlace(d.arrival, tzOf(d.to)) }, short(d.to)),
      el("td", { class: "num", "data-teu": d.reserved_teu }, el("b", {}, String(d.reserved_teu)),
        el("span", { class: "muted small" }, ` of ${d.capacity_teu}`), fill(d)),
      el("td", {}, statusPills(d, now))));
  }

  function drawArrivals(deps) {
    const A = document.getElementById("arrivals"), only = document.getElementById("arrivals-booked").checked;
    const now = Date.now(), booked = deps.filter((d) => d.reserved_teu > 0);
    const teu = booked.reduce((s, d) => s + d.reserved_teu, 0);
    const count = (f) => deps.filter(f).length;
    const sum = el("p", { class: "small", id: "arrivals-summary" },
      `${deps.length} due in the next ${DAYS} days, ${count((d) => underWay(d, now))} under way now; `,
      el("b", {}, `${booked.length} with containers booked (${C.fmtNum(teu)} TEU)`),
      `; ${count((d) => d.status === "delayed")} late, ${count((d) => d.status === "cancelled")} cancelled.`);
    const shown = only ? booked : deps;
    A.replaceChildren(sum, shown.length
      ? el("div", { class: "table-wrap" }, C.table(["Due", "Train / sailing", "From", "#TEU booked", "Status"], rows(shown, "in")))
      : el("p", { class: "muted" }, only ? "Nothing due with containers booked." : `Nothing due in the next ${DAYS} days.`));
  }

  async function load(fac) {
    const p = net.byRef[fac];
    if (!p) return;
    const mine = ++board;
    document.getElementById("board-title").textContent = `· ${p.name}`;
    document.getElementById("board-zone").textContent = `Times at ${p.name}: ${p.timezone}.`;
    history.replaceState(null, "", "/boards?facility=" + encodeURIComponent(p.id || p.code));
    if (live) { live.close(); live = null; }
    clearTimeout(reload); reload = null;
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const end = new Date(Date.now() + DAYS * 864e5).toISOString().replace(/\.\d+Z$/, "Z");
    const code = encodeURIComponent(p.code);
    // arrivals by arrival time: what reaches here in the window, those already under way included
    const [inb, outb] = await Promise.all([
      C.api(`/api/v1/departures?to=${code}&window=arrival&start=${now}&end=${end}&limit=1000`),
      C.api(`/api/v1/departures?from=${code}&start=${now}&end=${end}&limit=40`), watchQueue(p, mine)]);
    if (mine !== board) return;
    arrivals = inb.departures;
    drawArrivals(arrivals);
    const D = document.getElementById("departures");
    D.replaceChildren(outb.departures.length
      ? el("div", { class: "table-wrap" }, C.table(["Leaves", "Train / sailing", "To", "#TEU booked", "Status"], rows(outb.departures, "out")))
      : el("p", { class: "muted" }, `No departures in the next ${DAYS} days.`));
  }

  function drawQueue(p, q) {
    const t = q.totals, host = document.getElementById("queue"), now = Date.now();
    const sum = el("p", { id: "queue-totals", "data-boxes": t.boxes, "data-teu": t.teu },
      el("b", {}, `${C.fmtNum(t.boxes)} containers, ${C.fmtNum(t.teu)} TEU`), " waiting here",
      t.oldest_since ? `; longest since ${atPlace(t.oldest_since, p.timezone)} (${C.fmtNum(t.oldest_waiting_hours)} h)` : "",
      t.missed_booked_departure ? el("span", {}, "; ", el("span", { class: "pill bad" },
        `${t.missed_booked_departure} missed their booked departure`)) : "", ".");
    if (!t.boxes) {
      host.replaceChildren(el("p", { class: "muted", id: "queue-totals", "data-boxes": 0, "data-teu": 0 }, "No container waiting here now."));
      return;
    }
    // by the departure they are booked out on: what each sailing or train has to take, or left behind
    const by = new Map();
    for (const w of q.containers) {
      const d = w.booked_departure, k = d ? d.id : "";
      const g = by.get(k) || by.set(k, { d, boxes: 0, teu: 0 }).get(k);
      g.boxes++; g.teu += w.teu;
    }
    const groups = [...by.values()].sort((a, b) => (a.d ? Date.parse(a.d.departure) : Infinity) - (b.d ? Date.parse(b.d.departure) : Infinity));
    const gone = (d) => d.status === "cancelled" ? el("span", { class: "pill bad" }, "cancelled")
      : Date.parse(d.departure) <= now ? el("span", { class: "pill bad" }, "left without them") : null;
    const byDep = C.table(["Booked out on", "Leaves", "To", "#Boxes", "#TEU", ""], groups.map((g) => g.d
      ? el("tr", { "data-departure": g.d.id }, el("td", {}, vehicle(g.d), el("div", { class: "muted small" }, g.d.operator || "")),
        el("td", {}, when(g.d.departure, p.timezone)), el("td", {}, short(g.d.to)),
        el("td", { class: "num" }, g.boxes), el("td", { class: "num" }, g.teu), el("td", {}, gone(g.d)))
      : el("tr", {}, el("td", { class: "muted" }, "no Corridor booking out of here"), el("td", {}), el("td", {}),
        el("td", { class: "num" }, g.boxes), el("td", { class: "num" }, g.teu), el("td", {}))));
    const shown = q.containers.slice(0, QUEUE_ROWS);
    const boxes = C.table(["Container", "#TEU", "Since", "#Hours", "Booking", "Booked out on", "ETA laid on"], shown.map((w) => {
      const b = w.booked_departure, x = w.expected_departure;
      return el("tr", { "data-equipment": w.equipment },
        el("td", {}, el("a", { href: "/find?q=" + encodeURIComponent(w.equipment) }, w.equipment)),
        el("td", { class: "num" }, w.teu), el("td", {}, when(w.since, p.timezone)),
        el("td", { class: "num" }, C.fmtNum(w.waiting_hours)), el("td", {}, w.booking_ref || "—"),
        el("td", {}, b ? [vehicle(b), " ", el("span", { class: "muted small" }, atPlace(b.departure, p.timezone)), " ",
          b.missed ? el("span", { class: "pill bad" }, "missed") : null] : "—"),
        el("td", {}, x ? [vehicle(x), " ", el("span", { class: "muted small" }, atPlace(x.departure, p.timezone))] : ""));
    }));
    const more = q.containers.length > shown.length || q.truncated
      ? el("p", { class: "muted small" }, `The ${shown.length} longest waiting of ${C.fmtNum(t.boxes)} are listed.`) : null;
    const list = el("div", { class: "table-wrap", id: "queue-boxes" }, boxes);
    list.style.maxHeight = "32rem"; list.style.overflowY = "auto";   // the card stays a screen high
    host.replaceChildren(sum, el("div", { class: "table-wrap" }, byDep), el("hr", { class: "sep" }), list, more);
  }

  async function fetchQueue(p, mine) {
    const q = await C.api(`/api/v1/locations/${encodeURIComponent(p.code)}/queue?limit=1000`);
    if (mine === board) drawQueue(p, q);
    return q;
  }

  /** The queue as the store has it now, then kept live: an event at the facility (a gate-in,
   * discharge, load, gate-out…) reloads it, at most every RELOAD_MS, from the stream resumed
   * right after what the queue was read at (its cursor). */
  async function watchQueue(p, mine) {
    const q = await fetchQueue(p, mine);
    if (mine !== board) return;
    live = C.stream({ facility: p.code, after: q.cursor }, (e) => {
      if (e.classifier !== "ACT" || reload) return;
      reload = setTimeout(() => {
        reload = null;
        fetchQueue(p, mine).catch((err) => C.fail(err, document.getElementById("queue")));
      }, RELOAD_MS);
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
    document.getElementById("arrivals-booked").addEventListener("change", () => drawArrivals(arrivals));
    await load(sel.value);
  });
})();
