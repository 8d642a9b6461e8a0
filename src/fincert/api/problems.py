"""RFC 9457 problem documents: the only place domain errors become HTTP answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fincert.errors import FincertError

log = logging.getLogger("fincert.api")

PROBLEM_TYPE_BASE = "https://fincert.dev/problems/"


def problem(status: int, title: str, detail: str, kind: str, **extra: object) -> JSONResponse:
    body: dict[str, object] = {"type": PROBLEM_TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install(app: FastAPI) -> None:
    @app.exception_handler(FincertError)
    async def _domain(_: Request, exc: FincertError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("server-side failure: %s", exc.kind)
            return problem(500, "Internal Server Error", "the service could not complete the request", "internal")
        return problem(exc.http_status, exc.kind.replace("-", " ").capitalize(), exc.detail, exc.kind, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        # Never echo the submitted values: they may be resident numbers or passwords.
        return problem(422, "Invalid request", "the request body or parameters are invalid", "invalid-input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), "http-" + str(exc.status_code))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return problem(500, "Internal Server Error", "the service could not complete the request", "internal")
