"""Who is using the pages: member sessions (the RA's ``fms_`` token in an HttpOnly cookie) and
institution console sessions (the RA's ``fos_`` token in an HttpOnly cookie for ``/console``).

The member cookie holds the same token the API accepts, so the page's scripts can call the API
with it (the CSRF middleware then requires the page's token). A console session is a row on the
server (``Registrar.open_console_session``; only the token's hash is stored) checked on every
request with its operator: logging out deletes it, so a copied cookie stops working too, and
disabling an operator ends their console sessions at once.
"""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from fastapi.responses import Response

from fincert.api.security import wants_secure_cookies
from fincert.errors import FincertError
from fincert.ra.registrar import CONSOLE_SESSION_LIFETIME, ConsoleLogin, MemberPrincipal, OperatorPrincipal
from fincert.runtime import Runtime

MEMBER_COOKIE = "fincert_session"
CONSOLE_COOKIE = "fincert_console"
LANG_COOKIE = "fincert_lang"
CONSOLE_LIFETIME = CONSOLE_SESSION_LIFETIME


def secure_cookies(request: Request) -> bool:
    """Whether this response's cookies are ``Secure`` (``api.security.wants_secure_cookies``: an
    HTTPS request, or a service whose public URL is https)."""
    return wants_secure_cookies(request.scope)


def set_member_cookie(response: Response, request: Request, token: str, expires_at: dt.datetime, now: dt.datetime) -> None:
    response.set_cookie(
        MEMBER_COOKIE, token, max_age=max(1, int((expires_at - now).total_seconds())), httponly=True,
        samesite="lax", secure=secure_cookies(request), path="/",
    )


def clear_member_cookie(response: Response) -> None:
    response.delete_cookie(MEMBER_COOKIE, path="/")


def current_member(request: Request, runtime: Runtime) -> MemberPrincipal | None:
    """The logged-in member, or None (no cookie, an operator token, or an expired session)."""
    token = request.cookies.get(MEMBER_COOKIE)
    if not token or not token.startswith("fms_"):
        return None
    try:
        return runtime.registrar.authenticate_member(token)
    except FincertError:
        return None


# -- console ------------------------------------------------------------------------------------


def set_console_cookie(response: Response, request: Request, login: ConsoleLogin) -> None:
    """The cookie of a console session the registrar opened (``Registrar.open_console_session``)."""
    response.set_cookie(
        CONSOLE_COOKIE, login.token, max_age=int(CONSOLE_LIFETIME.total_seconds()), httponly=True, samesite="strict",
        secure=secure_cookies(request), path="/console",
    )


def clear_console_cookie(response: Response) -> None:
    response.delete_cookie(CONSOLE_COOKIE, path="/console")


def end_console_session(request: Request, runtime: Runtime) -> None:
    """Logout: the session is deleted on the server, so the cookie stops working wherever a copy is."""
    token = request.cookies.get(CONSOLE_COOKIE)
    if token:
        runtime.registrar.close_console_session(token)


def current_operator(request: Request, runtime: Runtime) -> OperatorPrincipal | None:
    """The operator of this browser's console session, or None (no cookie, a session logged out
    or expired, a disabled operator)."""
    token = request.cookies.get(CONSOLE_COOKIE)
    if not token:
        return None
    try:
        return runtime.registrar.authenticate_console_session(token)
    except FincertError:
        return None
