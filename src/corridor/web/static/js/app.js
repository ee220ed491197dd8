/* Corridor pages: the signed-in key, API calls, DOM helpers, times, and the live event stream.
 *
 * The API key lives in sessionStorage of this tab: it is sent only by our own fetch() calls as
 * `Authorization: Bearer`, never automatically by the browser (so no CSRF), and it is gone when
 * the tab closes. The pages' Content-Security-Policy allows scripts from Corridor only.
 */
"use strict";
(function () {
  const KEY = "corridor.key", ME = "corridor.me";

  class ApiError extends Error {
    constructor(status, title, detail) { super(detail || title || `HTTP ${status}`); this.status = status; this.title = title; }
  }

  /** Return a DOM element: el("td", {class: "num"}, "12", child…); text is never parsed as HTML. */
  function el(tag, attrs, ...children) {
    const ns = ["svg", "g", "path", "circle", "rect", "line", "text", "polyline", "title", "tspan"].includes(tag)
      ? "http://www.w3.org/2000/svg" : null;
    const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function key() { return sessionStorage.getItem(KEY); }

  function signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ME); location.assign("/signin"); }

  function toSignIn() {
    const next = location.pathname + location.search;
    location.assign("/signin?next=" + encodeURIComponent(next));
  }

  /** Return the parsed JSON of an API call with the signed-in key; throws ApiError with the server's reason. */
  async function api(path, opts = {}) {
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    const k = opts.key || key();
    if (k) headers.Authorization = "Bearer " + k;
    let body = opts.body;
    if (body !== undefined && typeof body !== "string") { body = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
    const r = await fetch(path, { method: opts.method || "GET", headers, body, signal: opts.signal });
    if (r.status === 401 && !opts.key) { toSignIn(); throw new ApiError(401, "Unauthorized", "please sign in"); }
    if (r.status === 204) return null;
    const type = r.headers.get("content-type") || "";
    const doc = type.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new ApiError(r.status, doc && doc.title, (doc && (doc.detail || doc.message)) || String(doc).slice(0, 200));
    return doc;
  }

  /** Return who is signed in ({party, key}), from this tab's cache or /api/v1/me. */
  async function me() {
    const cached = sessionStorage.getItem(ME);
    if (cached) return JSON.parse(cached);
    const doc = await api("/api/v1/me");
    sessionStorage.setItem(ME, JSON.stringify(doc));
    return doc;
  }

  function flash(message, kind) {
    const f = document.getElementById("flash");
    if (!f) return;
    f.textContent = message; f.className = "flash" + (kind ? " " + kind : ""); f.hidden = !message;
  }

  /** Show an error where the user is looking; 404s and 501s of APIs not yet present say so plainly. */
  function fail(err, where) {
    console.warn(err);
    const msg = err instanceof ApiError ? `${err.title || "Error"}: ${err.message}` : String(err.message || err);
    if (where) { where.replaceChildren(el("p", { class: "error", role: "alert" }, msg)); } else flash(msg);
  }

  // --- times: shown in the place's own zone (its IANA zone from the network), with the offset ---
  const zoneFmt = {};
  /** The offset label of an ISO offset or Intl's "GMT+05:30": UTC, UTC+08, UTC+05:30, UTC−03. */
  function offsetLabel(off) {
    const m = /([+-])(\d{1,2})(?::?(\d{2}))?/.exec(off || "");
    if (!m || (+m[2] === 0 && !+(m[3] || 0))) return "UTC";
    return `UTC${m[1] === "-" ? "−" : "+"}${m[2].padStart(2, "0")}${m[3] && m[3] !== "00" ? ":" + m[3] : ""}`;
  }
  /** Return "YYYY-MM-DD HH:MM UTC±HH" of `iso`: in the IANA zone `tz` when given (a place's local
   * time, whatever offset the API sent), else as the API wrote it; never without its offset. */
  function fmtTime(iso, tz) {
    if (!iso) return "—";
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(iso);
    if (!m) return iso;
    if (tz && m[3]) {
      try {
        const f = zoneFmt[tz] || (zoneFmt[tz] = new Intl.DateTimeFormat("en-GB", { timeZone: tz, year: "numeric",
          month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "longOffset" }));
        const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
        return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${offsetLabel(p.timeZoneName)}`;
      } catch (e) { /* an unknown zone: as written */ }
    }
    return `${m[1]} ${m[2]}` + (m[3] ? ` ${m[3] === "Z" ? "UTC" : offsetLabel(m[3])}` : "");
  }
  /** The IANA zone of a place (code or id) once the network is loaded; null when unknown. */
  function zone(ref) { const p = ref && netLoaded && netLoaded.byRef[ref]; return p ? p.timezone || null : null; }
  /** A time at a place: in that place's zone. */
  function fmtAt(iso, ref) { return fmtTime(iso, zone(ref)); }
  function fmtDate(iso) { return iso ? iso.slice(0, 10) : "—"; }
  function hoursBetween(a, b) { return (Date.parse(b) - Date.parse(a)) / 3.6e6; }
  function fmtHours(h) {
    if (h === null || h === undefined || isNaN(h)) return "";
    const s = h < 0 ? "−" : "+", a = Math.abs(h);
    return a >= 48 ? `${s}${(a / 24).toFixed(1)} d` : `${s}${a.toFixed(a < 10 ? 1 : 0)} h`;
  }
  const num = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
  function fmtNum(x, digits = 0) {
    return x === null || x === undefined ? "—" : new Intl.NumberFormat("en-GB", { maximumFractionDigits: digits }).format(x);
  }
  function fmtMoney(m) { return m ? `${m.currency === "USD" ? "$" : m.currency + " "}${num.format(m.amount)}` : "—"; }

  /**
   * Follow the live stream (Server-Sent Events over fetch, so the Bearer header can be sent);
   * calls onEvent(doc, seq) per event, resumes after a drop with Last-Event-ID. Returns {close()}.
   */
  function stream(params, onEvent, onState) {
    let last = null, closed = false, ctl = null, backoff = 500;
    const qs = new URLSearchParams(params || {}).toString();
    async function run() {
      while (!closed) {
        ctl = new AbortController();
        try {
          const headers = { Accept: "text/event-stream", Authorization: "Bearer " + key() };
          if (last !== null) headers["Last-Event-ID"] = String(last);
          const r = await fetch("/api/v1/stream" + (qs ? "?" + qs : ""), { headers, signal: ctl.signal, cache: "no-store" });
          if (r.status === 401) { toSignIn(); return; }
          if (!r.ok || !r.body) throw new Error(`stream answered ${r.status}`);
          onState && onState(true);
          backoff = 500;
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              const frame = buf.slice(0, cut); buf = buf.slice(cut + 2);
              let id = null, data = "";
              for (const line of frame.split("\n")) {
                if (line.startsWith("id:")) id = line.slice(3).trim();
                else if (line.startsWith("data:")) data += line.slice(5).trim();
              }
              if (id !== null) last = Number(id);
              if (data) { try { onEvent(JSON.parse(data), last); } catch (e) { console.warn("bad stream event", e); } }
            }
          }
        } catch (e) {
          if (closed || e.name === "AbortError") return;
        }
        onState && onState(false);
        await new Promise((res) => setTimeout(res, backoff));
        backoff = Math.min(backoff * 2, 10000);
      }
    }
    run();
    return { close() { closed = true; if (ctl) ctl.abort(); } };
  }

  /** Return the network ({locations, links, byRef}) once per page. */
  let netPromise = null, netLoaded = null;
  function network() {
    if (!netPromise) netPromise = api("/api/v1/network").then((n) => {
      n.byRef = {};
      for (const l of n.locations) { n.byRef[l.code] = l; if (l.id) n.byRef[l.id] = l; }
      netLoaded = n;
      return n;
    });
    return netPromise;
  }

  /** A table in a box that scrolls sideways on narrow screens (never the page). */
  function table(headers, rows) {
    return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) =>
      el("th", { class: h.startsWith("#") ? "num" : null }, h.replace(/^#/, ""))))), el("tbody", {}, rows)));
  }

  function param(name) { return new URLSearchParams(location.search).get(name); }

  /** Run the page's start function once signed in (the sign-in page itself needs no key). */
  function page(start) {
    document.addEventListener("DOMContentLoaded", async () => {
      const out = document.getElementById("signout");
      if (out) out.addEventListener("click", signOut);
      if (!key()) { toSignIn(); return; }
      try {
        const who = await me();
        const badge = document.getElementById("who-party");
        badge.textContent = who.party.name || who.party.id; badge.title = who.party.id; badge.hidden = false;
        out.hidden = false;
        await start(who);
      } catch (e) { if (!(e instanceof ApiError && e.status === 401)) fail(e); }
      document.body.dataset.ready = "1";   // for people's scripts and the browser tests alike
    });
  }

  window.Corridor = { el, api, me, key, signOut, flash, fail, fmtTime, fmtAt, zone, fmtDate, fmtHours, fmtNum, fmtMoney,
    hoursBetween, stream, network, table, param, page, ApiError, KEY, ME };
})();
