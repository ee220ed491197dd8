/* Small SVG charts drawn here (no chart library): grouped/stacked bars and a histogram. */
"use strict";
(function () {
  const { el } = window.Corridor;
  const W = 560, H = 240, M = { l: 48, r: 10, t: 12, b: 38 };

  function nice(max) {
    if (max <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(max))), f = max / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  function frame(top, fmt) {
    const g = el("g", {});
    for (let i = 0; i <= 4; i++) {
      const y = M.t + (H - M.t - M.b) * (1 - i / 4);
      g.append(el("line", { class: "grid", x1: M.l, x2: W - M.r, y1: y, y2: y }),
        el("text", { x: M.l - 6, y: y + 4, "text-anchor": "end" }, fmt(top * i / 4)));
    }
    g.append(el("line", { class: "axis", x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }));
    return g;
  }

  /** Stacked bars: labels on x, one series per colour; returns the <svg>. */
  function bars(host, labels, series, opts = {}) {
    const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
    const top = nice(opts.max || Math.max(...totals, 0));
    const fmt = opts.fmt || ((v) => (top < 10 ? +v.toFixed(2) : Math.round(v)).toLocaleString("en-GB"));
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title || "bar chart" }, frame(top, fmt));
    const bw = (W - M.l - M.r) / Math.max(labels.length, 1), ph = H - M.t - M.b;
    labels.forEach((lab, i) => {
      let y = H - M.b;
      series.forEach((s, k) => {
        const v = s.values[i] || 0, h = ph * v / top;
        if (h > 0) svg.append(el("rect", { class: `s${k}`, x: M.l + i * bw + bw * 0.15, y: y - h, width: bw * 0.7, height: h },
          el("title", {}, `${lab} · ${s.name}: ${fmt(v)}`)));
        y -= h;
      });
      if (labels.length <= 16 || i % Math.ceil(labels.length / 12) === 0) {
        svg.append(el("text", { x: M.l + i * bw + bw / 2, y: H - M.b + 14, "text-anchor": "middle" }, lab));
      }
    });
    host.replaceChildren(svg, series.length > 1 ? el("div", { class: "keys" }, series.map((s, k) => el("span", { class: `s${k}-key` }, s.name))) : "");
    host.querySelectorAll(".keys span").forEach((s, k) => { s.style.color = getComputedStyle(svg.querySelector(`.s${k}`) || s).fill || ""; });
    return svg;
  }

  /** Histogram of `values` in `n` bins. */
  function histogram(host, values, n = 10, opts = {}) {
    if (!values.length) { host.replaceChildren(el("p", { class: "muted" }, "No data yet.")); return null; }
    const lo = Math.floor(Math.min(...values)), hi = Math.ceil(Math.max(...values)) + 1e-9;
    const step = Math.max((hi - lo) / n, 1), bins = [];
    for (let x = lo; x < hi; x += step) bins.push(x);
    const counts = bins.map((b) => values.filter((v) => v >= b && v < b + step).length);
    return bars(host, bins.map((b) => `${Math.round(b)}`), [{ name: opts.name || "count", values: counts }], opts);
  }

  window.CorridorCharts = { bars, histogram };
})();
