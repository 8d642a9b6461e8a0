"""The institution console: operators log in with username and password, register members,
enroll security cards and OTPs (a QR code of the ``otpauth://`` URI), find and revoke
certificates, and read the audit log — of their own institution only.

Every service call passes the operator's institution, so a member or certificate number of
another institution answers "not found" exactly as a number that does not exist.

As on the holder's pages, a handler gets its operator from ``_operator`` (which answers with the
login page when there is none) and runs its service call inside ``on_error_show``, which shows
the same page again with the message in place.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fincert.api.params import RowId
from fincert.errors import FincertError, InvalidInput
from fincert.ra.lifecycle import OPERATOR_REVOCATION_REASONS
from fincert.ra.registrar import DEFAULT_PAGE_SIZE, OperatorPrincipal, Page
from fincert.runtime import Runtime
from fincert.va.reasons import REVOCATION_REASONS
from fincert.web import qr
from fincert.web.rendering import PageAnswer, PageRoute, on_error_show, page_of_form, redirect, render
from fincert.web.sessions import clear_console_cookie, current_operator, end_console_session, set_console_cookie

router = APIRouter(prefix="/console", include_in_schema=False, route_class=PageRoute)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _operator(request: Request) -> OperatorPrincipal:
    """The logged-in operator; without one the handler answers with the console's login page."""
    operator = current_operator(request, _runtime(request))
    if operator is None:
        raise PageAnswer(redirect("/console"))
    return operator


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() if isinstance(v, str) else "" for k, v in form.items() if k != "csrf_token"}


def _page(request: Request, template: str, operator: OperatorPrincipal, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    institution = _runtime(request).institutions.get(operator.institution_code)
    return render(request, template, {"operator": operator, "institution": institution, "console": True, **(context or {})}, status=status)


def _login_page(request: Request, *, status: int = 200, **extra: Any) -> Response:
    institutions = [v.as_json() for v in _runtime(request).institutions.list()]
    return render(request, "console/login.html", {"console": True, "institutions": institutions, **extra}, status=status)


@router.get("", response_class=HTMLResponse)
def console_home(request: Request) -> Response:
    if current_operator(request, _runtime(request)) is not None:
        return redirect("/console/members")
    return _login_page(request)


@router.post("/login")
async def console_login(request: Request) -> Response:
    runtime = _runtime(request)
    form = await _form(request)
    with on_error_show(_login_page, request, form={"username": form.get("username", "")}):
        operator = runtime.registrar.authenticate_operator_password(
            form.get("username", ""), form.get("password", ""), address=request.client.host if request.client else "unknown"
        )
        login = runtime.registrar.open_console_session(operator)
    # The console session this browser had before (another operator's, or an earlier login) ends
    # on the server now that its cookie is replaced.
    end_console_session(request, runtime)
    response = redirect("/console/members")
    set_console_cookie(response, request, login)
    return response


@router.post("/demo-operator")
async def demo_operator(request: Request) -> Response:
    """Demo mode only: a fresh operator of the chosen sample institution, logged in at once, its
    password shown once (so a newcomer can try the console without the command line)."""
    runtime = _runtime(request)
    if not runtime.settings.demo:
        return render(request, "not_found.html", status=404)
    form = await _form(request)
    code = form.get("institution", "")
    username = f"demo-{code.lower()}-{secrets.token_hex(2)}"
    password = secrets.token_urlsafe(12)
    with on_error_show(_login_page, request, default_field="demo"):
        runtime.registrar.add_operator(code, username, password=password, actor="demo:console")
        operator = runtime.registrar.authenticate_operator_password(
            username, password, address=request.client.host if request.client else "unknown"
        )
        login = runtime.registrar.open_console_session(operator)
    end_console_session(request, runtime)
    response = _members_page(request, operator, demo_credentials={"username": username, "password": password})
    set_console_cookie(response, request, login)
    return response


@router.post("/logout")
def console_logout(request: Request) -> Response:
    end_console_session(request, _runtime(request))
    response = redirect("/console")
    clear_console_cookie(response)
    return response


# -- lists, a page at a time ----------------------------------------------------------------------


def _paging(request: Request) -> tuple[int, str | None]:
    """The ``limit`` and ``before`` of a list page's address (``InvalidInput`` for a limit that is
    no number; the registrar checks the rest, as for the API)."""
    text = request.query_params.get("limit", "").strip()
    if text and not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise InvalidInput("limit must be a whole number from 1 to 500", field="limit")
    return (int(text) if text else DEFAULT_PAGE_SIZE), (request.query_params.get("before") or None)


def _page_links(path: str, page: Page[Any], *, limit: int = DEFAULT_PAGE_SIZE, later: bool = False, **kept: str) -> dict[str, str | None]:
    """The addresses of the page after ``page`` (None on the last) and of the first page (None
    unless ``page`` is a later one), keeping the search and the page size."""
    params = {k: v for k, v in kept.items() if v}
    if limit != DEFAULT_PAGE_SIZE:
        params["limit"] = str(limit)
    return {
        "next_url": f"{path}?{urlencode({**params, 'before': page.next})}" if page.next else None,
        "first_url": (f"{path}?{urlencode(params)}" if params else path) if later else None,
    }


def _members_page(request: Request, operator: OperatorPrincipal, *, status: int = 200, members: Page[Any] | None = None,
                  q: str = "", limit: int = DEFAULT_PAGE_SIZE, later: bool = False, **extra: Any) -> Response:
    """The member list (the page ``members`` found, else the first page) and the registration form."""
    if members is None:
        members, q, limit, later = _runtime(request).registrar.members_page(operator.institution_id), "", DEFAULT_PAGE_SIZE, False
    links = _page_links("/console/members", members, limit=limit, later=later, q=q)
    return _page(request, "console/members.html", operator, {"members": members.items, "q": q, **links, **extra}, status=status)


@router.get("/members", response_class=HTMLResponse)
def members(request: Request) -> Response:
    operator = _operator(request)
    q = request.query_params.get("q", "").strip()
    # A page of the list that cannot be shown (a bad cursor, a search with a NUL): the first page,
    # with the message by the search box or at the top.
    with on_error_show(_members_page, request, operator, default_field="q"):
        limit, before = _paging(request)
        found = _runtime(request).registrar.members_page(operator.institution_id, limit=limit, before=before, query=q)
    return _members_page(request, operator, members=found, q=q, limit=limit, later=before is not None)


@router.post("/members")
async def register_member(request: Request) -> Response:
    operator = _operator(request)
    form = await _form(request)
    # Everything typed is kept but the resident number: a page shown again may stay in the
    # browser's history or on a shared counter screen, and a leaked resident number cannot be changed.
    with on_error_show(_members_page, request, operator, form={k: v for k, v in form.items() if k != "rrn"}):
        view = _runtime(request).registrar.register_member(
            operator.institution_code, name=form.get("name", ""), rrn=form.get("rrn", ""), phone=form.get("phone", ""),
            email=form.get("email", ""), actor=operator.actor,
        )
    return redirect(f"/console/members/{view.id}")


def _member_page(request: Request, operator: OperatorPrincipal, member_id: int, *, status: int = 200, **extra: Any) -> Response:
    runtime = _runtime(request)
    try:
        view = runtime.registrar.show_member(member_id, institution_id=operator.institution_id)
    except FincertError:
        return render(request, "not_found.html", {"console": True}, status=404)
    certificates = [c for c in runtime.lifecycle.certificates_of(member_id)]
    # Not ``member``: the base layout reads that name as the holder signed in on this browser
    # (greeting and the holder's logout), and here the one signed in is the operator.
    return _page(request, "console/member.html", operator, {"customer": view, "certificates": certificates, "reasons": OPERATOR_REVOCATION_REASONS, **extra}, status=status)


@router.get("/members/{member_id}", response_class=HTMLResponse)
def member(member_id: RowId, request: Request) -> Response:
    return _member_page(request, _operator(request), member_id)


@router.post("/members/{member_id}/enroll")
async def enroll(member_id: RowId, request: Request) -> Response:
    operator = _operator(request)
    form = await _form(request)
    with on_error_show(_member_page, request, operator, member_id, default_field="method"):
        handout = _runtime(request).registrar.enroll(member_id, form.get("method", ""), actor=operator.actor, institution_id=operator.institution_id)
    otp_qr = qr.svg(handout["uri"], title="OTP QR") if handout["method"] == "otp" else None
    return _member_page(request, operator, member_id, handout=handout, otp_qr=otp_qr)


def _certificates_page(request: Request, operator: OperatorPrincipal, *, status: int = 200, certificates: Page[Any] | None = None,
                       query: str = "", limit: int = DEFAULT_PAGE_SIZE, later: bool = False, **extra: Any) -> Response:
    """The institution's certificates: the page ``certificates`` found (a search: those whose
    serial contains ``query``, with that serial or of that member number), else the first page."""
    if certificates is None:
        certificates, query, limit, later = _runtime(request).lifecycle.certificates_page(operator.institution_id), "", DEFAULT_PAGE_SIZE, False
    links = _page_links("/console/certificates", certificates, limit=limit, later=later, q=query)
    return _page(request, "console/certificates.html", operator, {
        "certificates": certificates.items, "q": query, "reasons": OPERATOR_REVOCATION_REASONS,
        "final_reasons": [r for r in OPERATOR_REVOCATION_REASONS if r != "certificateHold"], **links, **extra,
    }, status=status)


@router.get("/certificates", response_class=HTMLResponse)
def certificates(request: Request) -> Response:
    operator = _operator(request)
    query = request.query_params.get("q", "").strip().lower().replace(":", "")
    with on_error_show(_certificates_page, request, operator, default_field="q"):
        limit, before = _paging(request)
        found = _runtime(request).lifecycle.certificates_page(operator.institution_id, limit=limit, before=before, query=query)
    return _certificates_page(request, operator, certificates=found, query=query, limit=limit, later=before is not None)


@router.post("/certificates/{serial}/revoke")
async def revoke(serial: str, request: Request) -> Response:
    operator = _operator(request)
    form = await _form(request)
    with on_error_show(_certificates_page, request, operator, default_field="reason", error_serial=serial):
        reason = form.get("reason", "")
        if reason not in REVOCATION_REASONS or reason not in OPERATOR_REVOCATION_REASONS:
            raise InvalidInput("choose a revocation reason", field="reason")
        _runtime(request).lifecycle.revoke(serial, reason, actor=operator.actor, institution_id=operator.institution_id)
    return redirect("/console/certificates?revoked=1")


@router.post("/certificates/{serial}/restore")
async def restore(serial: str, request: Request) -> Response:
    operator = _operator(request)
    await _form(request)  # the CSRF token is checked on the way in
    with on_error_show(_certificates_page, request, operator, default_field="reason", error_serial=serial):
        _runtime(request).lifecycle.restore(serial, actor=operator.actor, institution_id=operator.institution_id)
    return redirect("/console/certificates?restored=1")


@router.get("/login", response_class=HTMLResponse)
@router.get("/demo-operator", response_class=HTMLResponse)
@router.get("/logout", response_class=HTMLResponse)
@router.get("/members/{member_id}/enroll", response_class=HTMLResponse)
@router.get("/certificates/{serial}/revoke", response_class=HTMLResponse)
@router.get("/certificates/{serial}/restore", response_class=HTMLResponse)
def form_address(request: Request) -> Response:
    """A form's address opened with GET (the address bar, a restored tab): that step's page."""
    page = page_of_form(request.url.path)
    return redirect(page) if page is not None else render(request, "not_found.html", {"console": True}, status=404)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request) -> Response:
    operator = _operator(request)
    records = _runtime(request).registrar.institution_audit(operator.institution_id, limit=200)
    return _page(request, "console/audit.html", operator, {"records": records})
