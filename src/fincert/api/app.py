"""The FastAPI application factory: routers, problem documents, limits."""

from __future__ import annotations

from fastapi import FastAPI

from fincert import __version__
from fincert.api import problems
from fincert.api.limits import BodySizeLimit
from fincert.api.routes import ca_files
from fincert.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="fincert",
        version=__version__,
        description="Financial certificate service: registration, issuance, status (OCSP/CRL), signatures.",
    )
    app.state.runtime = runtime
    problems.install(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    def healthz() -> dict[str, object]:
        from sqlalchemy import text

        with runtime.db.reader() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": runtime.db.dialect}

    app.include_router(ca_files.router)
    app.add_middleware(BodySizeLimit)
    return app
