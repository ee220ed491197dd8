/* Plan and book: a request -> route options side by side (arrival, transit, price, CO2e; the
 * Northern and Sea routes for comparison) -> book one. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;
  const FAMILY = { middle: "Middle Corridor", northern: "Northern route", sea: "Sea" };
  let lastRequest = null;

  function request() {
    const count = document.getElementById("count").value, size = document.getElementById("size").value;
    return { origin: document.getElementById("origin").value.trim(), destination: document.getElementById("destination").value.trim(),
      ready: document.getElementById("ready").value, containers: `${count}x${size}` };
  }

  function bar(value, max, title) {
    return el("div", { class: "bar", title }, el("span", { style: null, "data-w": Math.round(100 * value / max) }));
  }

  function card(o, best) {
    const legs = el("ol", {}, o.legs.map((l) => el("li", {}, `${l.from_name} → ${l.to_name} · ${l.mode.replace("_", " ")}` +
      (l.voyage || l.vehicle ? ` ${l.voyage || l.vehicle}` : "") + ` · leaves ${C.fmtAt(l.departure, l.from)}, arrives ${C.fmtAt(l.arrival, l.to)}`)));
    const book = el("button", { class: "primary", type: "button", "data-option": o.option }, "Book this option");
    book.addEventListener("click", () => doBook(o, book));
    return el("article", { class: `card option ${o.corridor}`, "data-testid": "option", "data-corridor": o.corridor },
      el("h3", {}, `${o.option}. ${FAMILY[o.corridor] || o.corridor}`),
      el("div", { class: "route" }, o.route.replace(/^[^:]*: /, "")),
      o.restricted ? el("p", { class: "restricted", "data-restricted": "1" }, `Restricted: ${o.restriction || "see the route's notices"}`) : null,
      el("div", { class: "muted small" }, `Leaves ${C.fmtAt(o.departure, lastRequest.origin)}`),
      el("div", { class: "muted small" }, "Arrives"), el("div", { class: "big", "data-testid": "arrives" }, C.fmtAt(o.arrival, o.legs.length ? o.legs[o.legs.length - 1].to : null)),
      el("div", {}, el("b", {}, `${C.fmtNum(o.transit_days, 1)} days`), " door to door"), bar(o.transit_days, best.days, "transit time"),
      el("div", {}, el("b", {}, C.fmtMoney(o.price)), " all legs"), bar(o.price.amount, best.price, "price"),
      el("div", {}, el("b", {}, `${C.fmtNum(o.co2e_kg)} kg CO₂e`), " well-to-wheel"), bar(o.co2e_kg, best.co2, "CO2e"),
      el("details", {}, el("summary", {}, `${o.legs.length} legs`), legs), book);
  }

  async function doBook(o, button) {
    button.disabled = true;
    const err = document.getElementById("plan-error");
    err.hidden = true;
    try {
      const b = await C.api("/api/v1/bookings", { method: "POST", body: Object.assign({}, lastRequest, { option: o.option }) });
      const box = document.getElementById("booked");
      box.replaceChildren(el("h2", {}, `Booked: ${b.ref}`),
        el("dl", { class: "kv" }, [["Status", b.status], ["Route", b.route], ["Departs", C.fmtAt(b.departure, b.origin)],
          ["Arrives", C.fmtAt(b.arrival, b.destination)], ["Price", C.fmtMoney(b.price)], ["CO₂e", `${C.fmtNum(b.co2e_kg)} kg`]]
          .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
        el("p", {}, el("a", { href: "/find?q=" + encodeURIComponent(b.ref) }, "Track this booking →")));
      box.hidden = false;
      box.dataset.ref = b.ref;
      box.scrollIntoView({ behavior: "smooth" });
    } catch (e) {
      err.textContent = e.status === 409 ? `${e.message} — plan again for the next free departure.` : e.message;
      err.hidden = false;
      button.disabled = false;
    }
  }

  C.page(async () => {
    const net = await C.network();
    const list = document.getElementById("places");
    for (const l of net.locations.filter((l) => l.facility_type !== "WAYP").sort((a, b) => a.name.localeCompare(b.name))) {
      list.append(el("option", { value: l.code }, l.name));
    }
    const ready = document.getElementById("ready");
    ready.value = new Date(Date.now() + 3 * 864e5).toISOString().slice(0, 10);
    document.getElementById("origin").value = C.param("from") || "CNXIA";
    document.getElementById("destination").value = C.param("to") || "TRIST";
    document.getElementById("plan-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const go = document.getElementById("plan-go"), out = document.getElementById("options"), err = document.getElementById("plan-error");
      go.disabled = true; err.hidden = true; document.getElementById("booked").hidden = true;
      out.replaceChildren(el("p", { class: "muted" }, "Planning…"));
      document.getElementById("not-offered").replaceChildren();
      try {
        lastRequest = request();
        const q = await C.api("/api/v1/quotes", { method: "POST", body: lastRequest });
        const best = { days: Math.max(...q.options.map((o) => o.transit_days)), price: Math.max(...q.options.map((o) => o.price.amount)),
          co2: Math.max(...q.options.map((o) => o.co2e_kg)) };
        out.replaceChildren(...q.options.map((o) => card(o, best)));
        // a family without an option says why: it cannot reach the place, or has no room in time
        document.getElementById("not-offered").replaceChildren(...(q.not_offered || []).map((n) =>
          el("li", { "data-corridor": n.corridor }, `No ${FAMILY[n.corridor] || n.corridor} option: ${n.reason}.`)));
        // Widths are set from script: the page's CSP allows no inline style attributes.
        out.querySelectorAll(".bar > span").forEach((s) => { s.style.width = s.dataset.w + "%"; });
      } catch (e) {
        out.replaceChildren();
        err.textContent = e.message; err.hidden = false;
      } finally { go.disabled = false; }
    });
  });
})();
