"""The web pages: HTML shells rendered by the server; their data comes from the API in the browser.

Pages carry no data of their own: each one's script calls the JSON API with the signed-in party's
key (`Authorization: Bearer`), so what a page shows is exactly what the API lets that party see
(visibility is enforced in one place). Assets are served from the package: no CDN, no tiles, no Node.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from .. import __version__

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Scripts only from this origin, no inline script, no framing: a pasted key cannot be read by
# injected or third-party code, and the pages cannot reach anything but Corridor itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Page:
    """One page: its path, template, title, navigation label and the roles it is mainly for."""

    path: str
    template: str
    title: str
    nav: str


PAGES: tuple[Page, ...] = (
    Page("/map", "map.html", "Live corridor map", "Map"),
    Page("/find", "find.html", "Find a container or booking", "Find"),
    Page("/plan", "plan.html", "Plan and book", "Plan & book"),
    Page("/boards", "boards.html", "Operator boards", "Boards"),
    Page("/kpi", "kpi.html", "Corridor KPIs and data quality", "KPIs"),
    Page("/messages", "messages.html", "Messages received", "Messages"),
    Page("/quarantine", "quarantine.html", "Quarantine", "Quarantine"),
    Page("/subscriptions", "subscriptions.html", "Subscriptions and deliveries", "Subscriptions"),
)

router = APIRouter(include_in_schema=False)


def _render(request: Request, template: str, title: str, active: str | None = None) -> HTMLResponse:
    """Return the page rendered with the navigation and the security headers."""
    resp = templates.TemplateResponse(request, template, {"title": title, "pages": PAGES, "active": active,
                                                          "version": __version__})
    resp.headers.update(SECURITY_HEADERS)
    return resp


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/map", status_code=307)


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request) -> HTMLResponse:
    return _render(request, "signin.html", "Sign in")


def _page_route(page: Page):
    def view(request: Request) -> HTMLResponse:
        return _render(request, page.template, page.title, page.path)
    view.__name__ = "page_" + page.path.strip("/")
    return view


for _p in PAGES:
    router.add_api_route(_p.path, _page_route(_p), methods=["GET"], response_class=HTMLResponse)


@router.get("/static/{path:path}")
def static(path: str) -> Response:
    """A packaged asset; 404 for anything outside web/static (no directory walking)."""
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC not in target.parents:
        return Response("not found", status_code=404, media_type="text/plain")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        media = "text/javascript"
    # Assets change only with a release: let browsers keep them for an hour (pages are never cached).
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=3600",
                                                           "X-Content-Type-Options": "nosniff"})
