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

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fincert.api.params import RowId
from fincert.errors import FincertError, InvalidInput
from fincert.ra.lifecycle import OPERATOR_REVOCATION_REASONS, CertificateView
from fincert.ra.registrar import OperatorPrincipal
from fincert.runtime import Runtime
from fincert.storage.models import MAX_ID
from fincert.va.reasons import REVOCATION_REASONS
from fincert.web import qr
from fincert.web.rendering import PageAnswer, PageRoute, on_error_show, page_of_form, redirect, render
from fincert.web.sessions import clear_console_cookie, current_operator, set_console_cookie

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
    response = redirect("/console/members")
    set_console_cookie(response, request, runtime, operator)
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
    response = _members_page(request, operator, demo_credentials={"username": username, "password": password})
    set_console_cookie(response, request, runtime, operator)
    return response


@router.post("/logout")
def console_logout(request: Request) -> Response:
    response = redirect("/console")
    clear_console_cookie(response)
    return response


def _members_page(request: Request, operator: OperatorPrincipal, *, status: int = 200, **extra: Any) -> Response:
    members = _runtime(request).registrar.list_members(operator.institution_id)
    return _page(request, "console/members.html", operator, {"members": members, **extra}, status=status)


@router.get("/members", response_class=HTMLResponse)
def members(request: Request) -> Response:
    return _members_page(request, _operator(request))


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


def _certificates_page(request: Request, operator: OperatorPrincipal, *, query: str = "", status: int = 200, **extra: Any) -> Response:
    """The institution's certificates; ``query`` keeps those whose serial contains it, or of that member number."""
    runtime = _runtime(request)
    rows = runtime.lifecycle.certificates_of_institution(operator.institution_id)
    if query:
        rows = [c for c in rows if query in c.serial.lower() or query == str(c.member_id)]
        rows += [c for c in _exact_matches(runtime, operator, query) if c.serial not in {r.serial for r in rows}]
    return _page(request, "console/certificates.html", operator, {"certificates": rows, "q": query, "reasons": OPERATOR_REVOCATION_REASONS, "final_reasons": [r for r in OPERATOR_REVOCATION_REASONS if r != "certificateHold"], **extra}, status=status)


def _exact_matches(runtime: Runtime, operator: OperatorPrincipal, query: str) -> list[CertificateView]:
    """The institution's certificates with exactly that serial, or of exactly that member number,
    however old: the list holds only the newest ones, and a serial as OpenSSL prints it (an even
    number of digits, so often a leading 0) must find its certificate too."""
    found: list[CertificateView] = []
    try:
        found.append(runtime.lifecycle.show(query))
    except FincertError:
        pass  # not a serial, or no certificate issued with it
    if query.isdigit() and 0 < int(query) <= MAX_ID:
        member_id = int(query)
        try:
            runtime.registrar.show_member(member_id, institution_id=operator.institution_id)
        except FincertError:
            pass  # no member of this institution
        else:
            found += [c for c in runtime.lifecycle.certificates_of(member_id) if c.member_id == member_id]
    # Another institution's certificate is "not found", exactly as one that does not exist.
    return [c for c in found if c.institution == operator.institution_code]


@router.get("/certificates", response_class=HTMLResponse)
def certificates(request: Request) -> Response:
    operator = _operator(request)
    return _certificates_page(request, operator, query=request.query_params.get("q", "").strip().lower().replace(":", ""))


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
