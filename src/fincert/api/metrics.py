"""Prometheus metrics: what the service counts and how long it takes, served at ``/metrics``.

Owns the metric definitions and the ``observe_*`` helpers that services and edges call
(issuance, identity verification, OCSP). A middleware also records every HTTP request by its
route *template* (``/api/v1/me/verifications/{method}``), never the raw path, so no serial,
member number or code ends up as a label; requests to the known issuance, verification and
OCSP routes feed the domain metrics too, so the API counts without its routes knowing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from fincert.api.asgi import HttpMiddleware, on_response_start

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("fincert_http_requests_total", "HTTP requests by route template and status", ["method", "route", "status"])
HTTP_LATENCY = Histogram("fincert_http_request_seconds", "HTTP request latency by route template", ["method", "route"], buckets=_LATENCY_BUCKETS)
ISSUANCE = Counter("fincert_issuance_total", "Certificate issuance attempts", ["product", "storage", "outcome"])
ISSUANCE_LATENCY = Histogram("fincert_issuance_seconds", "Certificate issuance latency", ["storage"], buckets=_LATENCY_BUCKETS)
VERIFICATION = Counter("fincert_verification_total", "Identity verification attempts", ["method", "outcome"])
VERIFICATION_LATENCY = Histogram("fincert_verification_seconds", "Identity verification latency", ["method"], buckets=_LATENCY_BUCKETS)
OCSP = Counter("fincert_ocsp_requests_total", "OCSP requests", ["method", "outcome"])
OCSP_LATENCY = Histogram("fincert_ocsp_seconds", "OCSP answer latency", ["method"], buckets=_LATENCY_BUCKETS)

access_log = logging.getLogger("fincert.access")

VERIFICATION_METHODS = frozenset({"otp", "security-card", "webauthn", "sms", "email"})


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 423):
        return "rejected" if status == 401 else "locked"
    return "error" if status >= 500 else "invalid"


def observe_issuance(product: str, storage: str, outcome: str, seconds: float) -> None:
    ISSUANCE.labels(product=product or "unknown", storage=storage or "unknown", outcome=outcome).inc()
    ISSUANCE_LATENCY.labels(storage=storage or "unknown").observe(seconds)


def observe_verification(method: str, outcome: str, seconds: float) -> None:
    method = method if method in VERIFICATION_METHODS else "other"
    VERIFICATION.labels(method=method, outcome=outcome).inc()
    VERIFICATION_LATENCY.labels(method=method).observe(seconds)


def observe_ocsp(http_method: str, outcome: str, seconds: float) -> None:
    OCSP.labels(method=http_method, outcome=outcome).inc()
    OCSP_LATENCY.labels(method=http_method).observe(seconds)


class RequestMetrics(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        def capture(message: Message) -> None:
            nonlocal status
            status = int(message["status"])

        try:
            await self.app(scope, receive, on_response_start(send, capture))
        finally:
            self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or _plain_route_template(scope)
        if template is None:
            # Unmatched paths all share one label: raw paths would let any client add series.
            template = "unmatched"
        method = scope.get("method", "GET")
        if template == "/metrics":
            return
        access_log.info(
            "%s %s %s %.1fms", method, template, status, seconds * 1000, extra={"event": "http", "method": method, "route": template, "status": status, "duration_ms": round(seconds * 1000, 2)}
        )
        HTTP_REQUESTS.labels(method=method, route=template, status=str(status)).inc()
        HTTP_LATENCY.labels(method=method, route=template).observe(seconds)
        if template.startswith("/ocsp"):
            observe_ocsp(method, _outcome(status), seconds)
        elif template == "/api/v1/me/verifications/{method}/{challenge_id}" and method == "POST":
            observe_verification(str(scope.get("path_params", {}).get("method", "other")), _outcome(status), seconds)
        elif template == "/api/v1/certificates/collect" and method == "POST":
            ISSUANCE.labels(product="api", storage="api", outcome=_outcome(status)).inc()
            ISSUANCE_LATENCY.labels(storage="api").observe(seconds)


#: Path templates of plain Starlette routes (the OCSP routes), by endpoint: FastAPI puts such a
#: route's endpoint in the scope but not the route itself, so without this every OCSP request
#: was logged and counted as ``unmatched`` and the OCSP metrics never counted one.
_PLAIN_TEMPLATES: dict[object, str] = {}


def plain_route(template: str, endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, known to the metrics as the route ``template`` (for ``add_route``)."""
    _PLAIN_TEMPLATES[endpoint] = template
    return endpoint


def _plain_route_template(scope: Scope) -> str | None:
    return _PLAIN_TEMPLATES.get(scope.get("endpoint"))  # type: ignore[arg-type]


def install(app: FastAPI) -> None:
    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"description": "The Prometheus text format.", "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics)
