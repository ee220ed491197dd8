/* Quarantine: rejected messages with their reasons; open one to see the raw message; replay it. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;

  async function replay(entry, button) {
    button.disabled = true;
    try {
      const out = await C.api(`/api/v1/quarantine/${entry.id}/replay`, { method: "POST" });
      C.flash(`Replayed #${entry.id}: ${out.stored} stored, ${out.duplicates} already there, ${out.quarantined} still quarantined` +
        (out.reasons && out.reasons.length ? ` — ${out.reasons[0]}` : ""), out.quarantined ? null : "info");
      await load();
    } catch (e) { C.fail(e); button.disabled = false; }
  }

  async function detail(entry) {
    const box = document.getElementById("q-detail");
    const d = await C.api(`/api/v1/quarantine/${entry.id}`);
    const m = d.message || {};
    box.replaceChildren(el("h2", {}, `#${d.id} · ${m.filename || d.format}`),
      el("dl", { class: "kv" }, [["Reason", d.reason], ["Where", d.detail ? JSON.stringify(d.detail) : "—"],
        ["Sent by", d.source_party || "—"], ["Received", C.fmtTime(m.received_at)], ["Size", `${C.fmtNum(m.size)} bytes`]]
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("pre", { class: "raw" }, (m.content || "") + (m.truncated ? "\n…" : "")));
    box.hidden = false;
  }

  async function load() {
    const status = document.getElementById("q-status").value, host = document.getElementById("q-list");
    try {
      const doc = await C.api("/api/v1/quarantine?status=" + status);
      if (!doc.entries.length) { host.replaceChildren(el("p", { class: "card muted" }, `No ${status === "all" ? "" : status + " "}entries.`)); return; }
      const rows = doc.entries.map((q) => {
        const b = el("button", { type: "button", class: "primary", "data-replay": q.id }, "Replay");
        b.addEventListener("click", (ev) => { ev.stopPropagation(); replay(q, b); });
        const tr = el("tr", { class: "clickable", "data-entry": q.id },
          el("td", {}, C.fmtTime(q.created_at)), el("td", {}, q.source_party || "—"), el("td", {}, q.format),
          el("td", {}, q.kind), el("td", {}, q.reason), el("td", { class: "num" }, q.attempts),
          el("td", {}, el("span", { class: `pill ${q.status}` }, q.status)), el("td", {}, q.status === "open" ? b : ""));
        tr.addEventListener("click", () => detail(q).catch((e) => C.fail(e)));
        return tr;
      });
      host.replaceChildren(el("div", { class: "card" }, C.table(["Received", "Sender", "Format", "Kind", "Reason", "#Tries", "Status", ""], rows)));
    } catch (e) { C.fail(e, host); }
  }

  C.page(async () => {
    document.getElementById("q-status").addEventListener("change", load);
    await load();
  });
})();
