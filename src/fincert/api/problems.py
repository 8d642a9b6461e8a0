"""RFC 9457 problem documents: the only place domain errors become HTTP answers."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from fincert.errors import FincertError, InvalidFields
from fincert.logs import mask_resident_numbers

log = logging.getLogger("fincert.api")

PROBLEM_TYPE_BASE = "https://fincert.dev/problems/"


def problem(status: int, title: str, detail: str, kind: str, **extra: object) -> JSONResponse:
    # A detail may quote an identifier the caller sent (a serial, a path segment): one shaped like a
    # resident number is masked, since such numbers must never appear in an error.
    detail = mask_resident_numbers(detail)
    body: dict[str, object] = {"type": PROBLEM_TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


#: Statuses a browser navigating to a page is shown the "page not found" page for (a path that is
#: no page, a page that takes no such method, a path parameter that is no id), not JSON.
_NOT_A_PAGE = (404, 405, 422)


def browser_navigation(request: Request) -> bool:
    """Whether ``request`` is a browser navigating to a page, which is answered with a page of the
    web app rather than a problem document: the app has the web app (``app.state.browser_page``),
    the path is not ``/api/`` and the client asks for HTML (the browser's own requests do; the
    pages' scripts, API clients and tools do not). Also decides ``security.CsrfProtection``'s refusal."""
    return (
        getattr(request.app.state, "browser_page", None) is not None
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )


def _page_for_browser(request: Request, status: int) -> Response | None:
    """The web app's page for ``status`` when a browser navigates to a page (``browser_navigation``);
    ``None`` for every other client, which gets the problem document."""
    if status not in _NOT_A_PAGE or not browser_navigation(request):
        return None
    return request.app.state.browser_page(request)  # type: ignore[no-any-return]


def install(app: FastAPI) -> None:
    @app.exception_handler(FincertError)
    async def _domain(request: Request, exc: FincertError) -> Response:
        if exc.http_status >= 500:
            log.error("server-side failure: %s", exc.kind)
            return problem(500, "Internal Server Error", "the service could not complete the request", "internal")
        # Several wrong fields at once: each one listed, as a 422's are.
        each = [{"field": e.field, "message": mask_resident_numbers(e.detail)} for e in exc.errors] if isinstance(exc, InvalidFields) else None
        answer = _page_for_browser(request, exc.http_status) or problem(
            exc.http_status, exc.kind.replace("-", " ").capitalize(), exc.detail, exc.kind, field=exc.field, errors=each
        )
        if exc.http_status == 401:
            # RFC 9110 §11.6.1: a 401 names the scheme that would be accepted.
            answer.headers["WWW-Authenticate"] = 'Bearer realm="fincert"'
        return answer

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if all(err.get("loc", ("body",))[0] == "path" for err in exc.errors()):
            page = _page_for_browser(request, 422)
            if page is not None:
                return page
        errors = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        # Never echo the submitted values: they may be resident numbers or passwords.
        # The title of the type (one title per type, RFC 9457 §3.1.3), as on a 400 of the same type.
        return problem(422, "Invalid input", "the request body or parameters are invalid", "invalid-input", errors=errors)

    from fincert.api.limits import BodyTooLarge  # limits → asgi → this module: import late

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> Response:
        # The same answer as the middleware's for a declared Content-Length over the limit.
        return problem(413, "Payload Too Large", str(exc.detail), "too-large")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        answer = _page_for_browser(request, exc.status_code) or problem(
            exc.status_code, str(exc.detail), str(exc.detail), "http-" + str(exc.status_code)
        )
        # Starlette's own headers travel on: a 405's Allow (RFC 9110 §15.5.6) above all.
        for name, value in (exc.headers or {}).items():
            answer.headers.setdefault(name, value)
        return answer

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # The type and where it was raised, never the message (it may quote the request or a
        # statement's parameters); the server does not log the exception again (``app``).
        log_unexpected(exc)
        return problem(500, "Internal Server Error", "the service could not complete the request", "internal")


#: Set on an exception once it is logged, so the outermost layer (``app``) does not log it twice.
LOGGED = "_fincert_logged"


def log_unexpected(exc: BaseException, what: str = "unexpected error") -> None:
    """Log an unexpected exception as its type and where it was raised (the JSON log's scrubber
    also reads the traceback), never as its message alone."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].name} ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    log.error("%s: %s%s", what, type(exc).__name__, where, exc_info=exc)
    try:
        setattr(exc, LOGGED, True)
    except AttributeError:  # an exception type that takes no attributes
        pass
