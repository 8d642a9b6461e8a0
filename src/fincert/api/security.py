"""Browser-facing protections: security headers on every answer and CSRF checks for cookie sessions.

Owns two ASGI middlewares. ``SecurityHeaders`` sets the Content-Security-Policy (scripts and
styles from this origin only, no framing), ``X-Content-Type-Options``, ``Referrer-Policy``,
``Cache-Control: no-store`` on every answer that sets no caching of its own (the protocol paths
excepted) and, when the request came over HTTPS, HSTS. Cookies are ``Secure`` when the request
came over HTTPS or the public URL is https (``wants_secure_cookies``). ``CsrfProtection`` is a double-submit check: every
response to a browser carries a random ``fincert_csrf`` cookie (HttpOnly, SameSite=Strict) whose
value the server also renders into its pages; a state-changing request that a browser could send
with ambient credentials — one carrying the member or console session cookie, or any HTML form
post to a page — must echo it in the ``X-CSRF-Token`` header or a ``csrf_token`` form field. Requests that
authenticate with an ``Authorization: Bearer`` header carry no ambient authority and are exempt.
A refused request gets a 403 problem document, or, when a browser navigates (``problems.browser_navigation``,
the same rule that gives it the "page not found" page), the web app's page asking to reload, in the
page's language, with a link back to the form's page.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import Message, Receive, Scope, Send

from fincert.api.asgi import HttpMiddleware, on_response_start, send_problem
from fincert.api.problems import browser_navigation

CSRF_COOKIE = "fincert_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
#: Cookies whose presence makes a request carry ambient authority (member and console sessions).
SESSION_COOKIES = ("fincert_session", "fincert_console")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from a CDN with an inline bootstrap.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"


def _is_https(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    # Behind a TLS-terminating proxy uvicorn's --proxy-headers already rewrites the scheme; the
    # header is honoured too so a deployment that forwards it without that flag still gets HSTS.
    headers = dict(scope.get("headers") or [])
    return headers.get(b"x-forwarded-proto", b"").split(b",")[0].strip().lower() == b"https"


def wants_secure_cookies(scope: Scope) -> bool:
    """Whether cookies set on this response carry ``Secure``: the request came over HTTPS (or a
    proxy says so), or the service's public URL is ``https://`` — a TLS-terminating proxy that
    forwards plain HTTP without ``X-Forwarded-Proto`` must not make the session cookies travel
    in clear text on a later ``http://`` request."""
    if _is_https(scope):
        return True
    app = scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    public_url = str(getattr(getattr(runtime, "settings", None), "public_url", "") or "")
    return public_url.lower().startswith("https://")


def _cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies exactly as the app reads them (Starlette's ``Request.cookies``, which
    ``auth`` and ``web.sessions`` use). A stricter parser here saw no session cookie behind a
    cookie it could not parse (``a="x``, ``a=b c``) while the app still logged the request in
    with it: the CSRF check was skipped for a request that carried the member's session."""
    return dict(HTTPConnection(scope).cookies)


class SecurityHeaders(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        policy = DOCS_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY
        https = _is_https(scope)
        protocol = _is_protocol_path(path)

        def add_headers(message: Message) -> None:
            headers = MutableHeaders(scope=message)
            headers.setdefault("content-security-policy", policy)
            headers.setdefault("x-content-type-options", "nosniff")
            headers.setdefault("referrer-policy", "no-referrer")
            headers.setdefault("x-frame-options", "DENY")
            headers.setdefault("cross-origin-opener-policy", "same-origin")
            headers.setdefault("permissions-policy", "camera=(), microphone=(), geolocation=()")
            if https:
                headers.setdefault("strict-transport-security", HSTS)
            if not protocol:
                # API answers carry personal data and secrets (a member's details, a session token,
                # an OTP seed or security card handed out once): no cache, shared or private, may
                # keep them. Answers that choose their own caching (static files) keep it; the
                # protocol paths (OCSP, CRLs, CA certificates) are meant for caches.
                headers.setdefault("cache-control", "no-store")

        await self.app(scope, receive, on_response_start(send, add_headers))


#: The relying parties' protocol endpoints (and the operators' probes): no browser session acts
#: through them, so they carry no CSRF cookie — an answer meant for shared caches (RFC 5019) must
#: set no cookie, or caches refuse it or hand one token to every browser — and a form-typed
#: body there is the protocol's own malformed request, not a CSRF refusal.
PROTOCOL_PATHS = ("/ocsp", "/crl/", "/ca/", "/tsa", "/healthz", "/metrics")


def _is_protocol_path(path: str) -> bool:
    return any(path == p or path.startswith(p if p.endswith("/") else p + "/") for p in PROTOCOL_PATHS)


class CsrfProtection(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_protocol_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        token = cookies.get(CSRF_COOKIE)
        issue_cookie = not token or len(token) < 32
        if issue_cookie:
            token = secrets.token_urlsafe(32)
        # Pages render the token into forms and a <meta> tag from here.
        scope.setdefault("state", {})["csrf_token"] = token

        method = scope.get("method", "GET").upper()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        needs_check = (
            method not in SAFE_METHODS
            # A request authorised by its own Bearer token carries no ambient authority. An empty
            # one is no token (``auth.bearer_token`` then refuses the request rather than use the
            # cookie), so it is checked like any other.
            and not _carries_bearer_token(headers.get("authorization", ""))
            and (
                any(name in cookies for name in SESSION_COOKIES)
                # Page forms are checked even before login (login CSRF); API uploads without a
                # session cookie carry no ambient authority.
                or (content_type in FORM_TYPES and not scope.get("path", "").startswith("/api/"))
            )
        )
        if needs_check:
            submitted = headers.get(CSRF_HEADER)
            if submitted is None and content_type in FORM_TYPES:
                body = await _read_body(receive)
                submitted = await _form_token(scope, body, content_type)
                receive = _replay(body, receive)
            expected = None if issue_cookie else cookies.get(CSRF_COOKIE)
            if not submitted or expected is None or not hmac.compare_digest(submitted.encode(), expected.encode()):
                request = Request(scope)
                page = getattr(request.app.state, "csrf_refused_page", None)
                if page is not None and browser_navigation(request):
                    # A form from a stale page (its cookie gone with the browser session, a page
                    # restored from history): the web app's page asking to reload, which already
                    # carries the new cookie the reloaded page's form will match.
                    await page(request)(scope, receive, _issuing(scope, send, token) if issue_cookie else send)
                else:
                    await _refuse(send)
                return

        if issue_cookie:
            send = _issuing(scope, send, token)

        await self.app(scope, receive, send)


def _issuing(scope: Scope, send: Send, token: str) -> Send:
    """``send`` that sets the ``fincert_csrf`` cookie to ``token`` on the response."""
    attributes = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    if wants_secure_cookies(scope):
        attributes += "; Secure"

    def set_cookie(message: Message) -> None:
        MutableHeaders(scope=message).append("set-cookie", attributes)

    return on_response_start(send, set_cookie)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, body: bytes, content_type: str) -> str | None:
    if content_type == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(CSRF_FIELD)
        return values[0] if values else None
    request = Request(dict(scope), _replay(body, _no_more))
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - an unparseable form carries no token
        return None
    value = form.get(CSRF_FIELD)
    await form.close()
    return value if isinstance(value, str) else None


async def _no_more() -> Message:
    return {"type": "http.disconnect"}


async def _refuse(send: Send) -> None:
    await send_problem(
        send, 403, "Forbidden", "csrf", "the request lacks the CSRF token of this browser session; reload the page and try again"
    )


def install(app: FastAPI) -> None:
    """CSRF inside, headers outside, so the refusal also carries the security headers."""
    app.add_middleware(CsrfProtection)
    app.add_middleware(SecurityHeaders)


def _carries_bearer_token(authorization: str) -> bool:
    return authorization.lower().startswith("bearer ") and bool(authorization[7:].strip())
