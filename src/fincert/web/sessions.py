"""Who is using the pages: member sessions (the RA's ``fms_`` token in an HttpOnly cookie) and
institution console sessions (an HMAC-signed, expiring cookie naming the operator).

The member cookie holds the same token the API accepts, so the page's scripts can call the API
with it (the CSRF middleware then requires the page's token). Console sessions are signed with
the service's secret key and re-checked against the operator row on every request, so disabling
an operator ends their console session at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from fincert.errors import FincertError
from fincert.ra.registrar import MemberPrincipal, OperatorPrincipal
from fincert.runtime import Runtime
from fincert.storage.models import Institution
from fincert.storage.models_ra import Operator

MEMBER_COOKIE = "fincert_session"
CONSOLE_COOKIE = "fincert_console"
LANG_COOKIE = "fincert_lang"
CONSOLE_LIFETIME = dt.timedelta(minutes=30)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").startswith("https")


def set_member_cookie(response: Response, request: Request, token: str, expires_at: dt.datetime, now: dt.datetime) -> None:
    response.set_cookie(
        MEMBER_COOKIE, token, max_age=max(1, int((expires_at - now).total_seconds())), httponly=True,
        samesite="lax", secure=_secure(request), path="/",
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


@dataclass(frozen=True)
class ConsoleSession:
    operator_id: int
    expires: int  # unix seconds


def _sign(runtime: Runtime, payload: bytes) -> str:
    key = hashlib.sha256(b"fincert/console-session/" + runtime.settings.secret_key_bytes()).digest()
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode().rstrip("=")


def set_console_cookie(response: Response, request: Request, runtime: Runtime, operator: OperatorPrincipal) -> None:
    expires = int((runtime.clock.now() + CONSOLE_LIFETIME).timestamp())
    payload = json.dumps({"op": operator.operator_id, "exp": expires}, separators=(",", ":")).encode()
    value = base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(runtime, payload)
    response.set_cookie(
        CONSOLE_COOKIE, value, max_age=int(CONSOLE_LIFETIME.total_seconds()), httponly=True, samesite="strict",
        secure=_secure(request), path="/console",
    )


def clear_console_cookie(response: Response) -> None:
    response.delete_cookie(CONSOLE_COOKIE, path="/console")


def current_operator(request: Request, runtime: Runtime) -> OperatorPrincipal | None:
    value = request.cookies.get(CONSOLE_COOKIE, "")
    encoded, _, signature = value.partition(".")
    if not encoded or not signature:
        return None
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None
    # The signature first: nothing a client forged is parsed (a payload of nested brackets
    # would otherwise reach json.loads).
    if not hmac.compare_digest(signature.encode(), _sign(runtime, payload).encode()):  # bytes: any characters
        return None
    try:
        data = json.loads(payload)
        operator_id, expires = int(data["op"]), int(data["exp"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if expires <= runtime.clock.now().timestamp():
        return None
    with runtime.db.reader() as session:
        row = session.get(Operator, operator_id)
        if row is None or row.disabled:
            return None
        institution = session.get(Institution, row.institution_id)
        if institution is None:
            return None
        return OperatorPrincipal(row.id, row.username, institution.id, institution.code)
