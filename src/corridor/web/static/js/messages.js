/* Messages: the raw messages received (their receipts), newest first; open one to see what became of it. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;

  async function detail(m) {
    const box = document.getElementById("m-detail");
    // the network names each place's zone: the events' times are shown in their places' local time
    const [d, net] = await Promise.all([C.api(`/api/v1/messages/${m.message_id}`), C.network().catch(() => null)]);
    const held = d.quarantine.map((q) => el("li", {}, el("a", { href: "/quarantine" }, `#${q.id}`), ` ${q.kind}: ${q.reason}`));
    box.replaceChildren(el("h2", {}, d.filename || `${d.format} message`),
      el("dl", { class: "kv" }, [["Message", d.message_id], ["Sent by", d.source_party || "—"],
        ["Received", C.fmtTime(d.received_at)], ["Format", d.format], ["Size", `${C.fmtNum(d.size)} bytes`],
        ["Status", d.status], ["Events stored", C.fmtNum(d.stored)],
        ["Duplicates", d.duplicates === null ? "—" : C.fmtNum(d.duplicates)], ["Held back", C.fmtNum(d.rejected)]]
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])),
      d.quarantined ? el("div", {}, el("h3", {}, `Open quarantine entries (${d.quarantined})`), el("ul", { class: "held" }, held))
        : el("p", { class: "muted" }, "Nothing of it is held in quarantine."),
      stored(d, net));
    box.hidden = false;
  }

  // the events the message stored, in the order they were stored (the receipt lists the first 100)
  function stored(d, net) {
    const place = (ref) => { const p = ref && net && net.byRef[ref]; return p ? el("span", { title: ref }, p.name) : (ref || "—"); };
    if (!d.events.length) return el("p", { class: "muted" }, d.stored ? "Its events are not listed (stored before the log kept where they lie)." : "It stored no event.");
    const rows = d.events.map((e) => el("tr", { "data-seq": e.seq },
      el("td", {}, `${e.code} ${e.classifier}`), el("td", {}, C.fmtAt(e.event_time, e.location)), el("td", {}, place(e.location)),
      el("td", {}, e.equipment ? el("a", { href: "/find?q=" + encodeURIComponent(e.equipment) }, e.equipment)
        : (e.voyage || e.vehicle || "—")),
      el("td", { class: "small" }, e.trip_id || "—")));
    const title = d.events.length < d.stored ? `Events stored (first ${d.events.length} of ${C.fmtNum(d.stored)})` : "Events stored";
    return el("div", { class: "m-events" }, el("h3", {}, title),
      C.table(["Event", "Time", "Place", "Container / vehicle", "Trip"], rows));
  }

  async function load() {
    const status = document.getElementById("m-status").value, host = document.getElementById("m-list");
    try {
      const doc = await C.api("/api/v1/messages?limit=200" + (status ? "&status=" + status : ""));
      document.getElementById("m-counts").textContent = Object.entries(doc.counts)
        .map(([k, n]) => `${k} ${C.fmtNum(n)}`).join(" · ") || "No message received yet.";
      if (!doc.messages.length) { host.replaceChildren(el("p", { class: "card muted" }, "No messages.")); return; }
      const rows = doc.messages.map((m) => {
        const tr = el("tr", { class: "clickable", "data-message": m.message_id },
          el("td", {}, C.fmtTime(m.received_at)), el("td", {}, m.source_party || "—"), el("td", {}, m.format),
          el("td", {}, m.filename || ""), el("td", { class: "num" }, m.stored),
          el("td", { class: "num" }, m.duplicates === null ? "—" : m.duplicates), el("td", { class: "num" }, m.rejected),
          el("td", {}, el("span", { class: `pill ${m.status}` }, m.status)));
        tr.addEventListener("click", () => detail(m).catch((e) => C.fail(e)));
        return tr;
      });
      host.replaceChildren(el("div", { class: "card" },
        C.table(["Received", "Sender", "Format", "File", "Stored", "Duplicates", "Held", "Status"], rows)));
    } catch (e) { C.fail(e, host); }
  }

  C.page(async () => {
    document.getElementById("m-status").addEventListener("change", load);
    await load();
  });
})();
