"""Errors over HTTP as RFC 9457 problem+json (the DCSA /v2 endpoints use DCSA's error object)."""

from __future__ import annotations

from datetime import datetime, timezone
import uuid

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..domain.errors import AmbiguousPlace, CapacityExceeded, DomainError, InvalidTransition, UnknownPlace

PROBLEM = "application/problem+json"


class Problem(Exception):
    """Raise from a view to answer with problem+json."""

    def __init__(self, status: int, title: str, detail: str = "", **extra):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_response(request: Request, status: int, title: str, detail: str = "", headers=None, **extra):
    if request.url.path.startswith("/v2/"):
        # DCSA Track & Trace 2.2 error object
        body = {"httpMethod": request.method, "requestUri": str(request.url.path), "statusCode": status,
                "statusCodeText": title, "errorDateTime": datetime.now(timezone.utc).isoformat(),
                "errors": [{"reason": extra.get("reason", "invalidInput" if status == 400 else title),
                            "message": detail or title}]}
        return JSONResponse(body, status_code=status, headers=headers)
    body = {"type": extra.pop("type", "about:blank"), "title": title, "status": status,
            "detail": detail or title, "instance": f"urn:uuid:{uuid.uuid4()}", **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    """Map every error the API can raise to a clear problem+json answer."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request, exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
                 429: "Too Many Requests", 503: "Service Unavailable"}.get(exc.status_code, "Error")
        return problem_response(request, exc.status_code, title, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return problem_response(request, 400 if request.url.path.startswith("/v2/") else 422,
                                "Invalid request", detail, errors=errors)

    @app.exception_handler(AmbiguousPlace)
    @app.exception_handler(UnknownPlace)
    async def _place(request: Request, exc: UnknownPlace):
        return problem_response(request, 400 if isinstance(exc, AmbiguousPlace) else 404 if False else 400,
                                "Ambiguous place" if isinstance(exc, AmbiguousPlace) else "Unknown place",
                                str(exc), candidates=exc.candidates)

    @app.exception_handler(CapacityExceeded)
    @app.exception_handler(InvalidTransition)
    async def _conflict(request: Request, exc: DomainError):
        return problem_response(request, 409, "Conflict", str(exc))

    from ..notices.service import NoticeRefused

    @app.exception_handler(NoticeRefused)
    async def _refused(request: Request, exc: NoticeRefused):
        return problem_response(request, 403, "Forbidden", str(exc))

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        return problem_response(request, 400, "Invalid input", str(exc))
