/* Subscriptions: the party's DCSA event subscriptions (webhooks) and their delivery log. */
"use strict";
(function () {
  const C = window.Corridor, { el } = C;

  async function deliveries(s) {
    const box = document.getElementById("deliveries");
    box.hidden = false;
    box.replaceChildren(el("h2", {}, `Deliveries to ${s.callbackUrl}`), el("p", { class: "muted" }, "Loading…"));
    try {
      const doc = await C.api(`/api/v1/subscriptions/${encodeURIComponent(s.subscriptionID)}/deliveries`);
      const rows = (doc.deliveries || doc).map((d) => el("tr", {}, el("td", {}, C.fmtTime(d.created_at || d.at)),
        el("td", { class: "num" }, d.events ?? d.event_count ?? ""), el("td", {}, el("span", { class: `pill ${d.status}` }, d.status)),
        el("td", { class: "num" }, d.attempts ?? ""), el("td", {}, d.last_status ?? d.http_status ?? ""), el("td", {}, d.last_error || "")));
      box.replaceChildren(el("h2", {}, `Deliveries to ${s.callbackUrl}`), rows.length
        ? C.table(["Queued", "#Events", "Status", "#Tries", "HTTP", "Last error"], rows) : el("p", { class: "muted" }, "Nothing delivered yet."));
    } catch (e) { C.fail(e, box); }
  }

  async function replay(s, button) {
    button.disabled = true;
    try {
      const r = await C.api(`/api/v1/subscriptions/${encodeURIComponent(s.subscriptionID)}/replay?cursor=0`, { method: "POST" });
      C.flash(`Queued ${r.queued} events again for ${s.callbackUrl}`, "info");
    } catch (e) { C.fail(e); } finally { button.disabled = false; }
  }

  C.page(async () => {
    const host = document.getElementById("subs");
    const subs = await C.api("/v2/event-subscriptions?limit=1000");
    if (!subs.length) { host.replaceChildren(el("p", { class: "card muted" }, "No subscriptions yet: create one with POST /v2/event-subscriptions.")); return; }
    const rows = subs.map((s) => {
      const log = el("button", { type: "button", onclick: () => deliveries(s) }, "Delivery log");
      const again = el("button", { type: "button" }, "Replay all");
      again.addEventListener("click", () => replay(s, again));
      const filters = Object.entries(s).filter(([k]) => !["subscriptionID", "callbackUrl"].includes(k)).map(([k, v]) => `${k}=${v}`).join(" · ");
      return el("tr", { "data-sub": s.subscriptionID }, el("td", {}, s.callbackUrl), el("td", { class: "small" }, filters || "all events"),
        el("td", {}, log, " ", again));
    });
    host.replaceChildren(el("div", { class: "card" }, C.table(["Callback", "Filters", ""], rows)));
  });
})();
