"""Status for relying parties over HTTP: OCSP (RFC 6960, RFC 5019 caching) and CRLs (RFC 5280).

- ``POST /ocsp`` (``application/ocsp-request``) and ``GET /ocsp/{base64 request}``: always 200
  with ``application/ocsp-response``; a request that cannot be parsed, has the wrong content
  type or is too large gets an OCSP ``malformedRequest`` response, never a problem document
  or a 5xx, because OCSP clients read only OCSP responses.
- ``GET /crl/{authority}/{partition}.crl`` and ``/crl/{authority}/full.crl``: DER CRLs.

The router's lifespan runs the VA's background schedule (refresh, republish) while the app
serves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from fincert.api.limits import BodyTooLarge
from fincert.api.metrics import plain_route
from fincert.api.params import RowId
from fincert.va.ocsp import MAX_REQUEST_BYTES
from fincert.va.ocsp_http import OCSP_MAX_AGE, OCSP_REQUEST, OCSP_RESPONSE, decode_get_request
from fincert.va.publisher import HTTP_MAX_AGE as CRL_MAX_AGE
from fincert.va.responder import MALFORMED, OcspAnswer

PKIX_CRL = "application/pkix-crl"


@contextlib.asynccontextmanager
async def _upkeep(app: FastAPI) -> AsyncIterator[None]:
    upkeep = app.state.runtime.va.upkeep
    upkeep.start()
    try:
        yield
    finally:
        await run_in_threadpool(upkeep.stop)


router = APIRouter(tags=["status"], lifespan=_upkeep)


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.timezone.utc), usegmt=True)


def _ocsp_http(answer: OcspAnswer, request: Request, *, cacheable_method: bool) -> Response:
    headers = {}
    if answer.cacheable and cacheable_method:
        assert answer.this_update is not None and answer.next_update is not None and answer.etag is not None
        now = request.app.state.runtime.clock.now()
        max_age = max(0, min(OCSP_MAX_AGE, int((answer.next_update - now).total_seconds())))
        headers = {
            "Cache-Control": f"public, max-age={max_age}, no-transform, must-revalidate",
            "ETag": answer.etag,
            "Last-Modified": _http_date(answer.this_update),
            "Expires": _http_date(answer.next_update),
        }
        if request.headers.get("if-none-match") == answer.etag:
            return Response(status_code=304, headers=headers)
    else:
        # Nonce responses, live answers to POSTs and errors are for one client only.
        headers = {"Cache-Control": "no-store"}
    return Response(answer.der, media_type=OCSP_RESPONSE, headers=headers)


async def _answer(request: Request, der: bytes) -> OcspAnswer:
    responder = request.app.state.runtime.va.ocsp
    # From memory on the event loop (no database, no signature); anything else in a thread.
    held = responder.held_answer(der)
    if held is not None:
        return held
    return await run_in_threadpool(responder.respond, der)


# The two OCSP endpoints are plain Starlette routes, not FastAPI operations: FastAPI's
# per-request dependency and body machinery tripled the cost of a pre-signed answer (measured
# in bench/va.py), and OCSP has no JSON to validate. ``api/openapi.py`` documents them.
async def ocsp_post(request: Request) -> Response:
    """OCSP request (RFC 6960), DER body."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        body = await request.body()
    except BodyTooLarge:
        # A chunked body past the limit: OCSP clients read only OCSP responses.
        return _ocsp_http(MALFORMED, request, cacheable_method=False)
    if content_type != OCSP_REQUEST or len(body) > MAX_REQUEST_BYTES:
        return _ocsp_http(MALFORMED, request, cacheable_method=False)
    # A POST answer is as cacheable as a GET one when it carries no nonce (RFC 5019 §5 only
    # says caches ignore POST); the headers let proxies that do cache it behave.
    return _ocsp_http(await _answer(request, body), request, cacheable_method=True)


async def ocsp_get(request: Request) -> Response:
    """OCSP request (RFC 6960 A.1), base64 in the path."""
    der = decode_get_request(request.path_params["encoded"])
    if der is None:
        return _ocsp_http(MALFORMED, request, cacheable_method=False)
    return _ocsp_http(await _answer(request, der), request, cacheable_method=True)


router.add_route("/ocsp", plain_route("/ocsp", ocsp_post), methods=["POST"], include_in_schema=False)
router.add_route("/ocsp/{encoded:path}", plain_route("/ocsp/{encoded}", ocsp_get), methods=["GET"], include_in_schema=False)


@router.get(
    "/crl/{authority_id}/{scope}.crl",
    summary="A CRL (DER): a partition number or 'full'",
    response_class=Response,
    responses={
        200: {"description": "The DER CRL.", "content": {PKIX_CRL: {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "Not modified (If-None-Match matched the ETag)."},
    },
)
def crl(authority_id: RowId, scope: str, request: Request) -> Response:
    runtime = request.app.state.runtime
    document = runtime.va.crl.crl(authority_id, scope)
    now = runtime.clock.now()
    max_age = max(0, min(CRL_MAX_AGE, int((document.next_update - now).total_seconds())))
    headers = {
        "Cache-Control": f"public, max-age={max_age}, no-transform",
        "ETag": document.etag,
        "Last-Modified": _http_date(document.this_update),
        "Expires": _http_date(document.next_update),
    }
    if request.headers.get("if-none-match") == document.etag:
        return Response(status_code=304, headers=headers)
    return Response(document.der, media_type=PKIX_CRL, headers=headers)


# HEAD as well as GET (RFC 9110 §9.1: general-purpose servers support both): caches and CRL
# fetchers ask for the validators (ETag, Last-Modified, Expires) without the body.
router.add_api_route("/crl/{authority_id}/{scope}.crl", crl, methods=["HEAD"], include_in_schema=False)
