"""The institution console: operators log in with username and password, register members,
enroll security cards and OTPs (a QR code of the ``otpauth://`` URI), find and revoke
certificates, and read the audit log — of their own institution only.

Every service call passes the operator's institution, so a member or certificate number of
another institution answers "not found" exactly as a number that does not exist.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fincert.errors import FincertError, InvalidInput
from fincert.ra.registrar import OperatorPrincipal
from fincert.runtime import Runtime
from fincert.va.reasons import REVOCATION_REASONS
from fincert.web import qr
from fincert.web.rendering import form_error, redirect, render
from fincert.web.sessions import clear_console_cookie, current_operator, set_console_cookie

router = APIRouter(prefix="/console", include_in_schema=False)

OPERATOR_REVOCATION_REASONS = ("keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "unspecified")


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _operator(request: Request) -> OperatorPrincipal | Response:
    operator = current_operator(request, _runtime(request))
    if operator is None:
        return redirect("/console")
    return operator


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() if isinstance(v, str) else "" for k, v in form.items() if k != "csrf_token"}


def _page(request: Request, template: str, operator: OperatorPrincipal, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    institution = _runtime(request).institutions.get(operator.institution_code)
    return render(request, template, {"operator": operator, "institution": institution, "console": True, **(context or {})}, status=status)


@router.get("", response_class=HTMLResponse)
def console_home(request: Request) -> Response:
    runtime = _runtime(request)
    if current_operator(request, runtime) is not None:
        return redirect("/console/members")
    return render(request, "console/login.html", {"console": True, "institutions": [v.as_json() for v in runtime.institutions.list()]})


@router.post("/login")
async def console_login(request: Request) -> Response:
    runtime = _runtime(request)
    form = await _form(request)
    try:
        operator = runtime.registrar.authenticate_operator_password(form.get("username", ""), form.get("password", ""))
    except FincertError as error:
        return render(
            request, "console/login.html",
            {"console": True, "form": {"username": form.get("username", "")}, "errors": form_error(request, error),
             "institutions": [v.as_json() for v in runtime.institutions.list()]},
            status=error.http_status,
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
    try:
        runtime.registrar.add_operator(code, username, password=password, actor="demo:console")
        operator = runtime.registrar.authenticate_operator_password(username, password)
    except FincertError as error:
        return render(
            request, "console/login.html",
            {"console": True, "errors": form_error(request, error, default_field="demo"), "institutions": [v.as_json() for v in runtime.institutions.list()]},
            status=error.http_status,
        )
    response = _page(request, "console/members.html", operator, {"members": runtime.registrar.list_members(operator.institution_id), "demo_credentials": {"username": username, "password": password}})
    set_console_cookie(response, request, runtime, operator)
    return response


@router.post("/logout")
def console_logout(request: Request) -> Response:
    response = redirect("/console")
    clear_console_cookie(response)
    return response


@router.get("/members", response_class=HTMLResponse)
def members(request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    return _page(request, "console/members.html", operator, {"members": _runtime(request).registrar.list_members(operator.institution_id)})


@router.post("/members")
async def register_member(request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    runtime = _runtime(request)
    form = await _form(request)
    try:
        view = runtime.registrar.register_member(
            operator.institution_code, name=form.get("name", ""), rrn=form.get("rrn", ""), phone=form.get("phone", ""),
            email=form.get("email", ""), actor=operator.actor,
        )
    except FincertError as error:
        return _page(
            request, "console/members.html", operator,
            {"members": runtime.registrar.list_members(operator.institution_id), "form": form, "errors": form_error(request, error)},
            status=error.http_status,
        )
    return redirect(f"/console/members/{view.id}")


def _member_page(request: Request, operator: OperatorPrincipal, member_id: int, *, status: int = 200, **extra: Any) -> Response:
    runtime = _runtime(request)
    try:
        view = runtime.registrar.show_member(member_id, institution_id=operator.institution_id)
    except FincertError:
        return render(request, "not_found.html", {"console": True}, status=404)
    certificates = [c for c in runtime.lifecycle.certificates_of(member_id)]
    return _page(request, "console/member.html", operator, {"member": view, "certificates": certificates, "reasons": OPERATOR_REVOCATION_REASONS, **extra}, status=status)


@router.get("/members/{member_id}", response_class=HTMLResponse)
def member(member_id: int, request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    return _member_page(request, operator, member_id)


@router.post("/members/{member_id}/enroll")
async def enroll(member_id: int, request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    runtime = _runtime(request)
    form = await _form(request)
    try:
        handout = runtime.registrar.enroll(member_id, form.get("method", ""), actor=operator.actor, institution_id=operator.institution_id)
    except FincertError as error:
        return _member_page(request, operator, member_id, status=error.http_status, errors=form_error(request, error, default_field="method"))
    otp_qr = qr.svg(handout["uri"], title="OTP QR") if handout["method"] == "otp" else None
    return _member_page(request, operator, member_id, handout=handout, otp_qr=otp_qr)


@router.get("/certificates", response_class=HTMLResponse)
def certificates(request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    runtime = _runtime(request)
    query = request.query_params.get("q", "").strip().lower().replace(":", "")
    rows = runtime.lifecycle.certificates_of_institution(operator.institution_id)
    if query:
        rows = [c for c in rows if query in c.serial.lower() or query == str(c.member_id)]
    return _page(request, "console/certificates.html", operator, {"certificates": rows, "q": query, "reasons": OPERATOR_REVOCATION_REASONS})


@router.post("/certificates/{serial}/revoke")
async def revoke(serial: str, request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    runtime = _runtime(request)
    form = await _form(request)
    try:
        reason = form.get("reason", "")
        if reason not in REVOCATION_REASONS or reason not in OPERATOR_REVOCATION_REASONS:
            raise InvalidInput("choose a revocation reason", field="reason")
        runtime.lifecycle.revoke(serial, reason, actor=operator.actor, institution_id=operator.institution_id)
    except FincertError as error:
        rows = runtime.lifecycle.certificates_of_institution(operator.institution_id)
        return _page(
            request, "console/certificates.html", operator,
            {"certificates": rows, "q": "", "reasons": OPERATOR_REVOCATION_REASONS, "errors": form_error(request, error, default_field="reason"), "error_serial": serial},
            status=error.http_status,
        )
    return redirect("/console/certificates?revoked=1")


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request) -> Response:
    operator = _operator(request)
    if isinstance(operator, Response):
        return operator
    records = _runtime(request).registrar.institution_audit(operator.institution_id, limit=200)
    return _page(request, "console/audit.html", operator, {"records": records})
