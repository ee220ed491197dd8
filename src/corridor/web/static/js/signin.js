/* Sign-in: check the pasted key against /api/v1/me, keep it in this tab's sessionStorage. */
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const C = window.Corridor;
  const form = document.getElementById("signin-form"), err = document.getElementById("signin-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const k = document.getElementById("api-key").value.trim();
    try {
      const who = await C.api("/api/v1/me", { key: k });
      sessionStorage.setItem(C.KEY, k);
      sessionStorage.setItem(C.ME, JSON.stringify(who));
      const next = C.param("next");
      // Only ever go back to a page of this site.
      location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/map");
    } catch (e) {
      err.textContent = e.status === 401 ? `This key was refused: ${e.message}.` : `Could not sign in: ${e.message}`;
      err.hidden = false;
    }
  });
});
