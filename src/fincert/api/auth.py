"""Who is calling: operator tokens (``fop_…``) and member sessions (``fms_…``).

Dependencies for routes. Operators act only inside their own institution; members act only on
themselves. Anonymous callers, and tokens that are no token of this service, get 401; the wrong
kind of caller or another institution's operator gets 403. Web pages use the same tokens from an
HttpOnly cookie (``fincert_session``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fincert.errors import Forbidden, Unauthorized
from fincert.ra.registrar import MemberPrincipal, OperatorPrincipal
from fincert.runtime import Runtime

SESSION_COOKIE = "fincert_session"


async def get_runtime(request: Request) -> Runtime:
    # async: a plain attribute read, which as a sync dependency cost a threadpool hop per request.
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_token(request: Request) -> str | None:
    """The ``Authorization: Bearer`` token, else the session cookie. A Bearer header is the
    caller's choice of credential even when it is empty: it never falls back to the cookie (the
    CSRF check exempts requests that carry a Bearer token, so the cookie must not then be what
    authorises them). Another scheme (a proxy's Basic) leaves the cookie in use."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") or header.strip().lower() == "bearer":
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


# Declared for the OpenAPI document (``securitySchemes`` and each operation's ``security``); the
# token itself is read by ``bearer_token``, which also takes the web pages' cookie.
_OPERATOR_SCHEME = HTTPBearer(
    scheme_name="operatorToken", bearerFormat="fop_…", auto_error=False,
    description="An institution operator's API token, from `fincert operator add`.",
)
_MEMBER_SCHEME = HTTPBearer(
    scheme_name="memberSession", bearerFormat="fms_…", auto_error=False,
    description="A member's session token, from `POST /api/v1/auth/login`.",
)
_OperatorScheme = Annotated[HTTPAuthorizationCredentials | None, Depends(_OPERATOR_SCHEME)]
_MemberScheme = Annotated[HTTPAuthorizationCredentials | None, Depends(_MEMBER_SCHEME)]


def current_operator(request: Request, runtime: RuntimeDep, _: _OperatorScheme = None) -> OperatorPrincipal:
    token = bearer_token(request)
    if token is None or not token.startswith(("fop_", "fms_")):
        # No token, or one that is no token of this service: the caller is not known (401).
        raise Unauthorized("an operator token is required (Authorization: Bearer fop_…)")
    if not token.startswith("fop_"):
        raise Forbidden("this operation is for institution operators")
    return runtime.registrar.authenticate_operator(token)


def institution_operator(code: str, operator: Annotated[OperatorPrincipal, Depends(current_operator)]) -> OperatorPrincipal:
    """The operator, if they belong to the institution named in the path."""
    if operator.institution_code != code.upper():
        raise Forbidden("operators can act on their own institution only")
    return operator


def current_member(request: Request, runtime: RuntimeDep, _: _MemberScheme = None) -> MemberPrincipal:
    token = bearer_token(request)
    if token is None or not token.startswith(("fop_", "fms_")):
        raise Unauthorized("log in first (Authorization: Bearer fms_…)")
    if not token.startswith("fms_"):
        raise Forbidden("this operation is for members")
    return runtime.registrar.authenticate_member(token)


OperatorDep = Annotated[OperatorPrincipal, Depends(institution_operator)]
MemberDep = Annotated[MemberPrincipal, Depends(current_member)]
