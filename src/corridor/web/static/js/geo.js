/* The offline map: Natural Earth land (sea is the background), the corridor network and moving
 * markers, drawn as SVG in an equirectangular projection scaled at 42°N; pan and zoom by viewBox. */
"use strict";
(function () {
  const { el } = window.Corridor;
  const K = Math.cos(42 * Math.PI / 180), S = 10;   // x shrink at corridor latitudes; px per degree
  const project = (lon, lat) => [+(lon * K * S).toFixed(2), +(-lat * S).toFixed(2)];
  let geoPromise = null;
  const geography = () => geoPromise || (geoPromise = fetch("/static/geo/region.json").then((r) => r.json()));

  const MODE = { rail: "rail", ferry: "ferry", feeder: "ferry", deep_sea: "sea", truck: "road",
    RAIL: "rail", VESSEL: "ferry", BARGE: "ferry", TRUCK: "road" };

  class CorridorMap {
    /** Draw into `host`; opts.view = [lonW, latS, lonE, latN] to start with. */
    constructor(host, opts = {}) {
      this.host = host; this.markers = new Map(); this.autoHome = opts.autoHome; this.onPick = opts.onPick || (() => {});
      const [w, s, e, n] = opts.view || [24, 22, 124, 56];
      const [x0, y0] = project(w, n), [x1, y1] = project(e, s);
      this.home = [x0, y0, x1 - x0, y1 - y0];
      this.svg = el("svg", { viewBox: this.home.join(" "), preserveAspectRatio: "xMidYMid meet", "data-testid": "map-svg" });
      this.gLand = el("g", { class: "lands" }); this.gLinks = el("g", { class: "links" });
      this.gPlaces = el("g", { class: "places" }); this.gLabels = el("g", { class: "labels" });
      this.gMarkers = el("g", { class: "markers" });
      this.svg.append(this.gLand, this.gLinks, this.gPlaces, this.gLabels, this.gMarkers);
      host.append(this.svg, el("div", { class: "zoom" },
        el("button", { type: "button", title: "Zoom in", onclick: () => this.zoom(0.7) }, "+"),
        el("button", { type: "button", title: "Zoom out", onclick: () => this.zoom(1 / 0.7) }, "−"),
        el("button", { type: "button", title: "Whole corridor", onclick: () => this.setView(this.home) }, "⌂")));
      this.attr = el("div", { class: "attribution" }, "Natural Earth");
      host.append(this.attr);
      this._panZoom();
    }

    view() { return this.svg.getAttribute("viewBox").split(" ").map(Number); }
    setView(v) { this.svg.setAttribute("viewBox", v.map((x) => x.toFixed(2)).join(" ")); this._declutter(); }

    zoom(f, cx, cy) {
      const [x, y, w, h] = this.view();
      if (w * f < 8 || w * f > this.home[2] * 2.5) return;
      cx = cx ?? x + w / 2; cy = cy ?? y + h / 2;
      this.setView([cx - (cx - x) * f, cy - (cy - y) * f, w * f, h * f]);
    }

    _panZoom() {
      const svg = this.svg;
      svg.addEventListener("wheel", (ev) => {
        ev.preventDefault();
        const p = this._toMap(ev.clientX, ev.clientY);
        this.zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, p[0], p[1]);
      }, { passive: false });
      let drag = null;
      svg.addEventListener("pointerdown", (ev) => {
        if (ev.target.closest(".marker, .place")) return;
        drag = { x: ev.clientX, y: ev.clientY, v: this.view() }; svg.classList.add("dragging");
        svg.setPointerCapture(ev.pointerId);
      });
      svg.addEventListener("pointermove", (ev) => {
        if (!drag) return;
        const r = svg.getBoundingClientRect(), [x, y, w, h] = drag.v;
        const k = Math.max(w / r.width, h / r.height);
        this.setView([x - (ev.clientX - drag.x) * k, y - (ev.clientY - drag.y) * k, w, h]);
      });
      const end = () => { drag = null; svg.classList.remove("dragging"); };
      svg.addEventListener("pointerup", end); svg.addEventListener("pointercancel", end);
    }

    _toMap(cx, cy) {
      const pt = this.svg.createSVGPoint(); pt.x = cx; pt.y = cy;
      const m = this.svg.getScreenCTM();
      const p = m ? pt.matrixTransform(m.inverse()) : { x: 0, y: 0 };
      return [p.x, p.y];
    }

    /** Draw the land polygons (every ring in one path per country: holes via even-odd). */
    async drawLand() {
      const g = await geography();
      for (const f of g.features) {
        let d = "";
        for (const poly of f.geometry.coordinates) for (const ring of poly) {
          d += ring.map(([lon, lat], i) => (i ? "L" : "M") + project(lon, lat).join(",")).join("") + "Z";
        }
        this.gLand.append(el("path", { class: "land", d, "fill-rule": "evenodd", "data-iso": f.properties.iso },
          el("title", {}, f.properties.name)));
      }
      this.attr.textContent = "Geography: Natural Earth (public domain)";
      this.attr.title = g.attribution;
    }

    /** Draw the network: links by mode (Northern/Sea-only links faded), places with labels. */
    drawNetwork(net, { showAlt = false } = {}) {
      this.net = net;
      const used = new Set();
      for (const k of net.links) {
        const a = net.byRef[k.from], b = net.byRef[k.to];
        if (!a || !b) continue;
        const middle = !k.corridors.length || k.corridors.includes("middle");
        if (middle) { used.add(a.code); used.add(b.code); }
        const mode = MODE[k.mode] || "rail";
        const cls = `link ${mode}${middle ? "" : " alt"}${!middle && !showAlt ? " hidden" : ""}`;
        this.gLinks.append(el("path", { class: cls, d: `M${project(a.lon, a.lat)}L${project(b.lon, b.lat)}`,
          "data-link": k.id, "data-from": a.code, "data-to": b.code },
          el("title", {}, `${a.name} → ${b.name} · ${k.mode.replace("_", " ")}` + (k.distance_km ? ` · ${k.distance_km} km` : ""))));
      }
      for (const l of net.locations) {
        if (l.facility_type === "WAYP") continue;
        const [x, y] = project(l.lon, l.lat);
        const alt = !used.has(l.code);
        const kind = ["POTE", "BRTH"].includes(l.facility_type) ? "port" : l.facility_type === "BOCR" ? "border" : "";
        const c = el("circle", { class: `place ${kind}${alt && !showAlt ? " hidden" : ""}${alt ? " alt" : ""}`, cx: x, cy: y, r: 2.6,
          "data-code": l.code, "data-alt": alt ? "1" : null }, el("title", {}, `${l.name} (${l.code})`));
        c.addEventListener("click", () => this.onPick({ type: "place", place: l }));
        this.gPlaces.append(c);
        this.gLabels.append(el("text", { class: `label${alt && !showAlt ? " hidden" : ""}`, x: x + 4, y: y - 3,
          "data-code": l.code, "data-alt": alt ? "1" : null }, l.name.replace(/ \(.*\)$/, "")));
      }
      if (this.autoHome !== false) {
        const pts = net.locations.filter((l) => used.has(l.code)).map((l) => [l.lon, l.lat]);
        if (pts.length) { this.fit(pts, 1.5); this.home = this.view(); }
      }
      this._declutter();
    }

    showAlt(on) {
      this.svg.querySelectorAll(".link.alt").forEach((p) => p.classList.toggle("hidden", !on));
      this.svg.querySelectorAll("[data-alt='1']").forEach((p) => p.classList.toggle("hidden", !on));
      this._declutter();
    }

    /** Keep labels readable: scale with zoom, hide those that would overlap an earlier one. */
    _declutter() {
      if (!this.gLabels.childNodes.length) return;
      const [, , w] = this.view();
      const r = this.host.getBoundingClientRect();
      const k = w / Math.max(r.width, 1);           // map units per screen pixel
      const size = 11 * k, taken = [];
      this.svg.style.setProperty("--k", k);
      this.gPlaces.querySelectorAll("circle").forEach((c) => c.setAttribute("r", (3.2 * k).toFixed(3)));
      this.gMarkers.querySelectorAll(".marker").forEach((m) => m.querySelector(".scale").setAttribute("transform", `scale(${k.toFixed(4)})`));
      for (const t of this.gLabels.childNodes) {
        if (t.classList.contains("hidden")) continue;
        t.style.fontSize = size + "px"; t.style.strokeWidth = 3 * k + "px";
        const x = +t.getAttribute("x"), y = +t.getAttribute("y"), len = t.textContent.length * size * 0.55;
        const clash = taken.some(([a, b, l]) => Math.abs(b - y) < size && x < a + l && a < x + len);
        t.style.visibility = clash ? "hidden" : "visible";
        if (!clash) taken.push([x, y, len]);
      }
    }

    /** Place or move a marker; kind: train | vessel | box | truck. Returns its element. */
    marker(id, kind, lon, lat, label, info) {
      const [x, y] = project(lon, lat);
      let m = this.markers.get(id);
      if (!m) {
        const body = kind === "box" ? el("rect", { class: "body", x: -4, y: -4, width: 8, height: 8, rx: 1.5 })
          : kind === "vessel" ? el("path", { class: "body", d: "M-6,-2L6,-2L4,4L-4,4Z" })
          : el("circle", { class: "body", r: 5 });
        m = el("g", { class: `marker ${kind}`, "data-marker": id, "data-kind": kind },
          el("g", { class: "scale" }, body), el("title", {}, label));
        m.addEventListener("click", (ev) => { ev.stopPropagation(); this.select(id); this.onPick({ type: "marker", id, kind, info: m._info }); });
        this.gMarkers.append(m); this.markers.set(id, m);
        m.style.transform = `translate(${x}px,${y}px)`;
        this._declutter();
      } else {
        m.style.transform = `translate(${x}px,${y}px)`;   // the CSS transition animates the move
        m.querySelector("title").textContent = label;
        m.classList.remove("flash"); void m.getBBox(); m.classList.add("flash");
      }
      m.dataset.lon = lon; m.dataset.lat = lat; m._info = info;
      return m;
    }

    select(id) {
      this.gMarkers.querySelectorAll(".selected").forEach((s) => s.classList.remove("selected"));
      const m = this.markers.get(id);
      if (m) m.classList.add("selected");
    }

    /**
     * Expand places in travel order into the network path between them: consecutive places joined
     * by a link stay as they are; two that are not (a box heard at Xi'an, next at Aktau) are joined
     * by the shortest path over the links, Middle Corridor links first, so the line follows the
     * legs instead of cutting across Asia. Returns codes; a hop with no path at all stays direct.
     */
    path(codes) {
      const out = [];
      for (const c of codes) {
        if (!c || !(this.net && this.net.byRef[c])) continue;
        const code = this.net.byRef[c].code, last = out[out.length - 1];
        if (last === code) continue;
        if (last === undefined) { out.push(code); continue; }
        out.push(...(this._shortest(last, code) || [last, code]).slice(1));
      }
      return out;
    }

    _graph() {
      if (this._adj) return this._adj;
      const adj = new Map();
      for (const k of this.net.links) {
        const a = this.net.byRef[k.from], b = this.net.byRef[k.to];
        if (!a || !b) continue;
        const middle = !k.corridors.length || k.corridors.includes("middle");
        // distance (a straight-line estimate when the link has none); other corridors cost more
        const km = k.distance_km || 111 * Math.hypot((a.lon - b.lon) * K, a.lat - b.lat);
        if (!adj.has(a.code)) adj.set(a.code, []);
        adj.get(a.code).push([b.code, km * (middle ? 1 : 3)]);
      }
      return (this._adj = adj);
    }

    /** Dijkstra over the links from `a` to `b` (codes); null when there is no path. */
    _shortest(a, b) {
      const adj = this._graph(), dist = new Map([[a, 0]]), prev = new Map(), done = new Set();
      for (;;) {
        let u = null, du = Infinity;
        for (const [n, d] of dist) if (!done.has(n) && d < du) { u = n; du = d; }
        if (u === null) return null;
        if (u === b) break;
        done.add(u);
        for (const [v, w] of adj.get(u) || []) {
          if (du + w < (dist.get(v) ?? Infinity)) { dist.set(v, du + w); prev.set(v, u); }
        }
      }
      const out = [b];
      while (out[0] !== a) out.unshift(prev.get(out[0]));
      return out;
    }

    /**
     * Draw a box's way over the network and fit the view to it: `done` (places already passed, in
     * order) solid, `ahead` (from where it is to its destination) dashed. Each is expanded along
     * the links (path()). Returns {done, ahead} as the codes drawn.
     */
    route(done, ahead = []) {
      this.svg.querySelectorAll(".link.route").forEach((p) => p.remove());
      const d = this.path(done), a = this.path(d.length ? [d[d.length - 1], ...ahead] : ahead);
      const line = (codes, cls) => {
        if (codes.length < 2) return;
        const pts = codes.map((c) => this.net.byRef[c]);
        this.gLinks.append(el("path", { class: `link route ${cls}`, "data-route": codes.join(" "),
          d: "M" + pts.map((p) => project(p.lon, p.lat).join(",")).join("L") }));
      };
      line(d, "done"); line(a, "ahead");
      const all = [...d, ...a].map((c) => this.net.byRef[c]);
      if (all.length) this.fit(all.map((p) => [p.lon, p.lat]), 3.5);   // room for the end labels
      return { done: d, ahead: a };
    }

    fit(lonlats, pad = 2) {
      const xs = lonlats.map((p) => project(...p));
      let x0 = Math.min(...xs.map((p) => p[0])) - pad * S, x1 = Math.max(...xs.map((p) => p[0])) + pad * S;
      let y0 = Math.min(...xs.map((p) => p[1])) - pad * S, y1 = Math.max(...xs.map((p) => p[1])) + pad * S;
      this.setView([x0, y0, Math.max(x1 - x0, 40), Math.max(y1 - y0, 25)]);
    }
  }

  window.CorridorMap = CorridorMap;
  window.CorridorMap.project = project;
  window.CorridorMap.MODE = MODE;
})();
