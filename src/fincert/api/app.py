"""The FastAPI application factory: routers, problem documents, limits, security headers, CSRF,
metrics and JSON logs."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fincert import __version__
from fincert.api import metrics, openapi, problems, security
from fincert.api.asgi import HttpMiddleware, on_response_start
from fincert.api.limits import BodySizeLimit
from fincert.api.routes import ca_files
from fincert.logs import use_json_logs
from fincert.runtime import Runtime


def component_routers() -> list[APIRouter]:
    """Every ``fincert.api.routes.<module>`` with a ``router`` (besides ``ca_files``)."""
    import importlib
    import pkgutil

    import fincert.api.routes as package

    routers = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name == "ca_files":
            continue
        module = importlib.import_module(f"fincert.api.routes.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            routers.append(router)
    return routers


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="fincert",
        version=__version__,
        description="Financial certificate service: registration, issuance, status (OCSP/CRL), signatures.",
    )
    app.state.runtime = runtime
    use_json_logs()
    problems.install(app)
    metrics.install(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    def healthz() -> dict[str, object]:
        from sqlalchemy import text

        with runtime.db.reader() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": runtime.db.dialect}

    app.include_router(ca_files.router)
    for router in component_routers():
        app.include_router(router)
    from fincert.api.routes import web  # the web app's page for a browser that asked for no page

    app.state.browser_page = web.page_for_browser
    app.state.csrf_refused_page = web.page_for_stale_form  # a browser's form from a stale page (``security``)
    security.install(app)
    openapi.install(app)
    # Outermost: an oversized body is refused before the CSRF check would read a form.
    app.add_middleware(BodySizeLimit)
    _keep_answered_errors_in(app)
    return app


def _keep_answered_errors_in(app: FastAPI) -> None:
    """Starlette's outermost middleware answers an unexpected exception with the 500 problem
    document (``problems.install``, which logs its type only) and then raises it again so that
    the server logs it: uvicorn then wrote "Exception in ASGI application" with the whole
    traceback and the exception's message, unscrubbed and outside the JSON log, where a driver
    message quotes the statement's parameters (a resident number, a session token). An exception
    whose answer has gone out stops here; one raised before any answer still reaches the server."""
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return _AnsweredErrors(build())

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


class _AnsweredErrors(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = False

        def started(_: Message) -> None:
            nonlocal answered
            answered = True

        try:
            await self.app(scope, receive, on_response_start(send, started))
        except Exception as exc:
            if not answered:
                raise
            if not getattr(exc, problems.LOGGED, False):
                # Raised after the answer had started (a streamed body that failed midway): no
                # handler saw it, so it is logged here, the same way.
                problems.log_unexpected(exc, "error after the answer started")
