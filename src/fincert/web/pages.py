"""The holder's pages: home, the issuance wizard (five steps), the reissuance wizard (four
steps), identity verification, storing the certificate, my certificates, signing, the demo outbox.

Each handler parses the form, calls one service function (``runtime.registrar`` or
``runtime.lifecycle``) inside ``on_error_show``, which on a domain error renders the same page
again with the message in place and what the holder typed (never passwords, PINs or codes). A
page that needs a login gets its member from ``_member_or_login``, which answers with the login
page when there is none. The open application's id is
kept in an HttpOnly cookie; the service checks that it belongs to the logged-in member. An
application opened in another browser is shown on the apply, reissue and my-certificates pages,
to be resumed here (identity is then verified again in this session) or cancelled.

Key files never reach these handlers: storing, signing with and renewing a file certificate
happen in the browser (static/js/app.js) against the JSON API.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fincert.api import metrics
from fincert.errors import Conflict, FincertError, InvalidFields, InvalidInput, NotFound, RateLimited, Unauthorized, raise_all
from fincert.ra.registrar import MemberLogin, MemberPrincipal, check_member_fields
from fincert.runtime import Runtime
from fincert.storage.models import MAX_ID
from fincert.web import qr
from fincert.web.rendering import (
    ISSUE_STEPS, REISSUE_STEPS, PageAnswer, PageRoute, on_error_show, page_again, page_language, page_of_form, redirect, render,
)
from fincert.web.sessions import MEMBER_COOKIE, clear_member_cookie, current_member, secure_cookies, set_member_cookie


router = APIRouter(include_in_schema=False, route_class=PageRoute)

APPLICATION_COOKIE = "fincert_application"
CODE_COOKIE = "fincert_code"
FLOWS = ("issue", "reissue", "manage")
VERIFY_METHODS = ("otp", "security-card", "webauthn", "sms", "email")
#: Where "log in" may send the holder back to (never an arbitrary URL).
NEXT_PAGES = ("/issue/apply", "/reissue", "/certificates", "/sign", "/issue/verify", "/reissue/verify", "/manage/verify")
#: Where a wizard starts again when its application cannot go on (verified already, expired...).
RESTART_PAGES = {"issue": "/issue/apply", "reissue": "/reissue"}
REISSUE_REASONS = ("lost", "forgotten", "locked", "expired")
HOLDER_REVOCATION_REASONS = ("keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "unspecified")
#: Which assurance-policy purpose each wizard verifies for.
PURPOSE = {"issue": "issue", "reissue": "reissue", "manage": "revoke"}
#: Where an application opened elsewhere is resumed: its kind's identity-verification page.
RESUME_PAGES = {"issue": "/issue/verify", "reissue": "/reissue/verify", "register": "/manage/verify"}
#: The pages that show an application opened elsewhere, and are returned to after cancelling it.
OPEN_APPLICATION_PAGES = ("/issue/apply", "/reissue", "/certificates")


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() if isinstance(v, str) else "" for k, v in form.items() if k != "csrf_token"}


def _keep(form: dict[str, str], *secret: str) -> dict[str, str]:
    """What to show again after an error: everything but the secrets."""
    return {k: v for k, v in form.items() if k not in secret}


def _member_or_login(request: Request, next_page: str) -> MemberPrincipal:
    """The logged-in member; without one the handler answers with the login page, which comes
    back to ``next_page``."""
    member = current_member(request, _runtime(request))
    if member is None:
        # A session cookie that no longer logs in: the session expired (or was ended elsewhere)
        # mid-step, and the login page says so.
        expired = "&expired=1" if request.cookies.get(MEMBER_COOKIE) else ""
        raise PageAnswer(redirect(f"/login?next={next_page}{expired}"))
    return member


def _verify_step(flow: str) -> str:
    """The page a wizard's verification step comes back to after a login."""
    return f"/{flow}/verify"


def _logged_in(request: Request, login: MemberLogin, next_page: str) -> Response:
    """Where a successful login goes, with the session cookie set. The session this browser's
    cookie held before (another login, maybe another member's) is ended on the server: the new
    cookie replaces it here, and a copy of the old one must not live on for the rest of its term."""
    runtime = _runtime(request)
    previous = current_member(request, runtime)
    if previous is not None:
        runtime.registrar.logout(previous)
    response = redirect(next_page)
    set_member_cookie(response, request, login.token, login.expires_at, _runtime(request).clock.now())
    return response


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _institutions(runtime: Runtime) -> list[dict[str, str]]:
    return [v.as_json() for v in runtime.institutions.list()]


def _member_context(runtime: Runtime, member: MemberPrincipal) -> dict[str, Any]:
    view = runtime.registrar.show_member(member.member_id)
    evidence = runtime.registrar.session_evidence(member)
    # Pages name the member's institution as the holder knows it (한빛은행), not by its code.
    try:
        institution_name = runtime.institutions.get(view.institution_code).name
    except FincertError:
        institution_name = view.institution_code
    # Each method once (two security-card proofs in one session are one "done" badge).
    methods = list(dict.fromkeys(str(e.get("method")) for e in evidence))
    return {"member": view, "institution_name": institution_name, "evidence_methods": methods, "evidence": evidence}


def _elsewhere_context(request: Request, member: MemberPrincipal) -> dict[str, Any]:
    """The member's open application when another browser (or an earlier visit) opened it: the
    page offers to resume or cancel it instead of answering every new application with a conflict."""
    open_application = _runtime(request).lifecycle.open_application_of(member.member_id)
    if open_application is None or open_application.id == _application_id(request):
        return {"open_application": None}
    return {"open_application": open_application, "resumable": open_application.status == "created" and open_application.kind in RESUME_PAGES}


# -- home, institution choice, sign-up and login ------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    runtime = _runtime(request)
    member = current_member(request, runtime)
    return render(request, "home.html", {"institutions": _institutions(runtime), "logged_in": member is not None})


@router.get("/issue", response_class=HTMLResponse)
def issue_start(request: Request) -> Response:
    return render(request, "issue_institution.html", {"steps": ISSUE_STEPS, "step": 0, "institutions": _institutions(_runtime(request))})


def _signup_page(request: Request, code: str, *, status: int = 200, **context: Any) -> Response:
    runtime = _runtime(request)
    try:
        institution = runtime.institutions.get(code)
    except NotFound:
        return render(request, "not_found.html", status=404)
    return render(request, "signup.html", {"steps": ISSUE_STEPS, "step": 1, "institution": institution, **context}, status=status)


@router.get("/issue/institutions/{code}", response_class=HTMLResponse)
def signup_page(code: str, request: Request) -> Response:
    return _signup_page(request, code)


@router.post("/issue/institutions/{code}/signup")
async def signup(code: str, request: Request) -> Response:
    registrar = _runtime(request).registrar
    form = await _form(request)
    # The resident number is kept out of the page like the password: a page shown again may sit
    # in the browser's history, session restore or a shared screen, and a resident number once
    # leaked cannot be changed. The holder retypes it; everything else stays.
    with on_error_show(_signup_page, request, code, form=_keep(form, "password", "password_confirm", "rrn")):
        # The page asks for the password twice: a typo would otherwise become the password the
        # holder cannot log in with next time. (A client posting no confirmation is not asked.)
        fields = {
            "name": form.get("name", ""), "rrn": form.get("rrn", ""), "phone": form.get("phone", ""), "email": form.get("email", ""),
            "login_id": form.get("login_id") or None, "password": form.get("password") or None,
        }
        if "password_confirm" in form and form["password_confirm"] != form.get("password", ""):
            # Said together with every other wrong field (register_member would name those alone).
            problems = [InvalidInput("the two passwords differ", field="password_confirm")]
            try:
                check_member_fields(**fields, online=True)
            except InvalidFields as wrong:
                problems = wrong.errors + problems
            except InvalidInput as wrong:
                problems = [wrong, *problems]
            raise_all(problems)
        registrar.register_member(code, **fields, actor="member:signup", online=True)
        login = registrar.login(code, form.get("login_id", ""), form.get("password", ""), address=_client_address(request))
    return _logged_in(request, login, "/issue/apply")


@router.post("/issue/institutions/{code}/login")
async def signup_login(code: str, request: Request) -> Response:
    form = await _form(request)
    with on_error_show(_signup_page, request, code, errors_as="login_errors", login_form=_keep(form, "password")):
        login = _runtime(request).registrar.login(code, form.get("login_id", ""), form.get("password", ""), address=_client_address(request))
    return _logged_in(request, login, "/issue/apply")


def _next_page(value: str | None) -> str:
    return value if value in NEXT_PAGES else "/certificates"


def _login_page(request: Request, next_page: str, *, status: int = 200, **extra: Any) -> Response:
    # The language switch keeps where the login goes next (the form posted it; the page's
    # address after a failed login has no ``next``).
    switch = {"switch_url": "/login?" + urlencode({"next": next_page, "lang": "en" if page_language(request) == "ko" else "ko"})}
    return render(request, "login.html", {"institutions": _institutions(_runtime(request)), "next": next_page, **switch, **extra}, status=status)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_page(request, _next_page(request.query_params.get("next")))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    next_page = _next_page(form.get("next"))
    with on_error_show(_login_page, request, next_page, form=_keep(form, "password")):
        result = _runtime(request).registrar.login(
            form.get("institution", ""), form.get("login_id", ""), form.get("password", ""), address=_client_address(request)
        )
    return _logged_in(request, result, next_page)


@router.post("/logout")
def logout(request: Request) -> Response:
    runtime = _runtime(request)
    member = current_member(request, runtime)
    if member is not None:
        # Logging out abandons the application this browser had open.
        application_id = _application_id(request)
        if application_id is not None:
            with contextlib.suppress(FincertError):
                runtime.lifecycle.cancel(application_id, actor=member.actor, member_id=member.member_id)
        runtime.registrar.logout(member)
    response = redirect("/")
    clear_member_cookie(response)
    response.delete_cookie(APPLICATION_COOKIE, path="/")
    return response


# -- step 3: apply -------------------------------------------------------------------------------


def _open_application(request: Request, member: MemberPrincipal, kind: str, **options: Any) -> int:
    """Open an application; an earlier one this browser left open is cancelled first. One opened
    in another browser stays: the Conflict goes back to the page, which offers resume or cancel."""
    lifecycle = _runtime(request).lifecycle
    actor = member.actor
    try:
        return lifecycle.open_application(member.member_id, kind, actor=actor, **options).id
    except Conflict:
        blocking = lifecycle.open_application_of(member.member_id)
        if blocking is None or blocking.id != _application_id(request):
            raise
        with contextlib.suppress(FincertError):
            lifecycle.cancel(blocking.id, actor=actor, member_id=member.member_id)
        return lifecycle.open_application(member.member_id, kind, actor=actor, **options).id


def _with_application(response: Response, application_id: int, request: Request) -> Response:
    response.set_cookie(
        APPLICATION_COOKIE, str(application_id), httponly=True, samesite="strict", path="/", max_age=3600, secure=secure_cookies(request),
    )
    return response


def _back_to(value: str | None) -> str:
    return value if value in OPEN_APPLICATION_PAGES else "/issue/apply"


@router.post("/applications/open/resume")
async def resume_open_application(request: Request) -> Response:
    """Take over, in this browser, the application opened elsewhere: identity is verified again
    here (proofs belong to a session), then the wizard goes on."""
    member = _member_or_login(request, "/issue/apply")
    form = await _form(request)
    open_application = _runtime(request).lifecycle.open_application_of(member.member_id)
    if open_application is None or open_application.status != "created" or open_application.kind not in RESUME_PAGES:
        return redirect(_back_to(form.get("next")))
    return _with_application(redirect(RESUME_PAGES[open_application.kind]), open_application.id, request)


@router.post("/applications/open/cancel")
async def cancel_open_application(request: Request) -> Response:
    member = _member_or_login(request, "/issue/apply")
    form = await _form(request)
    lifecycle = _runtime(request).lifecycle
    open_application = lifecycle.open_application_of(member.member_id)
    if open_application is not None:
        # Gone already (finished or expired meanwhile) is the outcome the holder asked for.
        with contextlib.suppress(FincertError):
            lifecycle.cancel(open_application.id, actor=member.actor, member_id=member.member_id)
    return redirect(_back_to(form.get("next")) + "?cancelled=1")


def _apply_page(request: Request, member: MemberPrincipal, *, status: int = 200, **extra: Any) -> Response:
    context = {"steps": ISSUE_STEPS, "step": 2, **_member_context(_runtime(request), member), **_elsewhere_context(request, member)}
    return render(request, "apply.html", {**context, **extra}, status=status)


@router.get("/issue/apply", response_class=HTMLResponse)
def apply_page(request: Request) -> Response:
    return _apply_page(request, _member_or_login(request, "/issue/apply"))


@router.post("/issue/apply")
async def apply(request: Request) -> Response:
    member = _member_or_login(request, "/issue/apply")
    form = await _form(request)
    with on_error_show(_apply_page, request, member, form=form):
        application_id = _open_application(request, member, "issue", product=form.get("product", "financial"))
    return _with_application(redirect("/issue/verify"), application_id, request)


# -- step 4: identity verification (shared by the wizards) ---------------------------------------


def _verify_context(request: Request, flow: str, member: MemberPrincipal, **extra: Any) -> dict[str, Any]:
    runtime = _runtime(request)
    context = _member_context(runtime, member)
    now = runtime.clock.now()
    missing = runtime.registrar.policy.missing(PURPOSE[flow], context["evidence"], now=now)
    steps, step = (ISSUE_STEPS, 3) if flow == "issue" else (REISSUE_STEPS, 1) if flow == "reissue" else ((), 0)
    return {
        "flow": flow, "steps": steps, "step": step, "missing": missing,
        "missing_methods": {m for group in missing for m in group.split("|")},
        "enrolled": context["member"].methods, "has_application": _application_id(request) is not None, **context, **extra,
    }


def _verify_page(request: Request, flow: str, member: MemberPrincipal, *, status: int = 200, **extra: Any) -> Response:
    return render(request, "verify.html", _verify_context(request, flow, member, **extra), status=status)


def _flow(flow: str) -> str:
    if flow not in FLOWS:
        raise NotFound("no such page")
    return flow


@router.get("/{flow}/verify", response_class=HTMLResponse)
def verify_page(flow: str, request: Request) -> Response:
    flow = _flow(flow)
    member = _member_or_login(request, _verify_step(flow))
    return _verify_page(request, flow, member)


def _remember_code(response: Response, request: Request, member: MemberPrincipal, challenge: Any) -> Response:
    """Keep which SMS / e-mail code was just sent (its id and public prompt, never the code) for
    as long as it can be typed: the send button pressed again, or the page reloaded, shows the
    form for that code instead of a refusal that hides it (a new code waits ``resend_interval``)."""
    if challenge.method not in ("sms", "email") or challenge.expires_at is None:
        return response
    value = json.dumps({"member": member.member_id, "method": challenge.method, "id": challenge.challenge_id, "prompt": challenge.prompt}, separators=(",", ":"))
    seconds = int((challenge.expires_at - _runtime(request).clock.now()).total_seconds())
    if seconds > 0:
        response.set_cookie(
            CODE_COOKIE, base64.urlsafe_b64encode(value.encode()).decode(), max_age=seconds, httponly=True,
            samesite="strict", path="/", secure=secure_cookies(request),
        )
    return response


def _code_sent(request: Request, member: MemberPrincipal, method: str) -> dict[str, Any] | None:
    """The code this browser was sent for ``method`` (``_remember_code``), as the page's challenge."""
    try:
        data = json.loads(base64.urlsafe_b64decode(request.cookies.get(CODE_COOKIE, "")))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("member") != member.member_id or data.get("method") != method:
        return None
    if not isinstance(data.get("id"), str) or not isinstance(data.get("prompt"), dict):
        return None
    return {"challenge_id": data["id"], "prompt": data["prompt"], "method": method}


@router.post("/{flow}/verify/{method}/start")
def verify_start(flow: str, method: str, request: Request) -> Response:
    """Security card: show which cells to read; SMS / e-mail: send the code."""
    flow = _flow(flow)
    member = _member_or_login(request, _verify_step(flow))
    with on_error_show(_verify_page, request, flow, member, default_field=method, active=method):
        if method not in ("security-card", "sms", "email"):
            raise InvalidInput("start this method from its own form", field="method")
        try:
            challenge = _runtime(request).registrar.start_verification(member.member_id, method, actor=member.actor)
        except RateLimited:
            # A code went out moments ago (to this browser: pressed twice, or reloaded): that
            # code is the one to type, so its form is shown again.
            sent = _code_sent(request, member, method)
            if sent is None:
                raise
            return _verify_page(request, flow, member, active=method, challenge=sent)
    return _remember_code(_verify_page(request, flow, member, active=method, challenge=challenge), request, member, challenge)


def _prompt(value: str) -> dict[str, Any] | None:
    """The challenge's prompt the verify page posted back (to show the code form again after a
    wrong code). It comes from the client: anything but a JSON object is no prompt, not a 500
    (``RecursionError`` for deep nesting is not a ``ValueError``)."""
    if not value.startswith("{"):
        return None
    try:
        prompt = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return prompt if isinstance(prompt, dict) else None


@router.post("/{flow}/verify/{method}")
async def verify_answer(flow: str, method: str, request: Request) -> Response:
    flow = _flow(flow)
    member = _member_or_login(request, _verify_step(flow))
    runtime = _runtime(request)
    form = await _form(request)
    started = time.perf_counter()
    challenge_prompt = _prompt(form.get("prompt", ""))
    try:
        if method not in ("otp", "security-card", "sms", "email"):
            raise InvalidInput("unknown identity method", field="method")
        # A security card's answer comes in two boxes: two digits of each cell.
        response = form.get("response") or (form.get("first", "") + form.get("second", ""))
        evidence = runtime.registrar.complete_verification(
            member.member_id, method, form.get("challenge_id") or "", response, actor=member.actor
        )
        runtime.registrar.add_session_evidence(member, evidence)
    except FincertError as error:
        metrics.observe_verification(method, "locked" if error.kind == "locked" else "rejected", time.perf_counter() - started)
        # An SMS / e-mail code allows several tries, so its form stays; a security-card
        # challenge is consumed by any answer (the holder asks again and gets the same cells).
        # The typed answer is a secret and is not kept.
        challenge = None
        if challenge_prompt is not None and method in ("sms", "email") and error.kind != "locked" and "request a new one" not in error.detail:
            challenge = {"challenge_id": form.get("challenge_id", ""), "prompt": challenge_prompt, "method": method}
        return page_again(error, _verify_page, request, flow, member, default_field=method, active=method, challenge=challenge)
    metrics.observe_verification(method, "success", time.perf_counter() - started)
    return redirect(f"/{flow}/verify?verified={method}")


@router.post("/{flow}/verify-demo/enroll")
async def demo_enroll(flow: str, request: Request) -> Response:
    """Demo mode only: the holder receives the OTP or security card an institution would hand out."""
    flow = _flow(flow)
    runtime = _runtime(request)
    if not runtime.settings.demo:
        return render(request, "not_found.html", status=404)
    member = _member_or_login(request, _verify_step(flow))
    form = await _form(request)
    with on_error_show(_verify_page, request, flow, member, default_field="demo"):
        handout = runtime.registrar.enroll(member.member_id, form.get("method", ""), actor="demo:self-service")
    return _verify_page(request, flow, member, handout=handout, otp_qr=qr.svg(handout["uri"]) if handout["method"] == "otp" else None)


def _own_application(runtime: Runtime, application_id: int | None, member: MemberPrincipal) -> Any:
    if application_id is None:
        return None
    try:
        return runtime.lifecycle.application(application_id, member_id=member.member_id)
    except FincertError:
        return None


def _application_id(request: Request) -> int | None:
    value = request.cookies.get(APPLICATION_COOKIE, "")
    # ASCII digits only ("²" is a digit to str.isdigit but not to int()), and no more than the
    # database can bind: a forged cookie is no application, not a 500.
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        return None
    return int(value)


@router.post("/{flow}/verify-complete")
def verify_complete(flow: str, request: Request) -> Response:
    """Hand the session's proofs to the application: the reference number and authorization code."""
    flow = _flow(flow)
    member = _member_or_login(request, _verify_step(flow))
    runtime = _runtime(request)
    application_id = _application_id(request)
    with on_error_show(_verify_page, request, flow, member):
        try:
            # The cookie may name no application of this member (one left by another member's
            # session in this browser, or gone): that is no application here either, not a bare
            # "찾을 수 없습니다" without the way to start again.
            if application_id is None or _own_application(runtime, application_id, member) is None:
                raise Conflict("no application is open in this browser: apply first", field="application")
            evidence = runtime.registrar.session_evidence(member)
            collection = runtime.lifecycle.verify(application_id, evidence, actor=member.actor, member_id=member.member_id)
        except Conflict as error:
            # The application cannot go on (none open here; verified already, its codes shown once
            # on the page a reload or the back button left; expired): the page offers to start again.
            raise PageAnswer(page_again(error, _verify_page, request, flow, member, restart=RESTART_PAGES.get(flow))) from error
    if not hasattr(collection, "reference_number"):
        return redirect("/certificates?registered=1")
    application = runtime.lifecycle.application(application_id, member_id=member.member_id)
    if flow == "reissue":
        return _process_page(request, collection, application, member)
    context = {"collection": collection, "application": application, "flow": flow, "switch_form": _switch_form(flow, collection), **_member_context(runtime, member)}
    return _store_page(request, {"steps": ISSUE_STEPS, "step": 4, **context})


def _process_page(request: Request, collection: Any, application: Any, member: MemberPrincipal) -> Response:
    """재발급 절차 진행 (the reissue wizard's third step): the reference number and authorization
    code, before the store step. Its language switch draws this page again (``process``), not
    the store step the page's own button leads to."""
    context = {
        "steps": REISSUE_STEPS, "step": 2, "collection": collection, "application": application, "flow": "reissue",
        "switch_form": _switch_form("reissue", collection, action="process"), **_member_context(_runtime(request), member),
    }
    return render(request, "process.html", context)


# -- step 5: download and store ------------------------------------------------------------------


def _switch_form(flow: str, collection: Any, *, action: str = "show") -> dict[str, Any]:
    """The language switch of a page showing the reference number and authorization code (shown
    once: no page can be opened again to show them): the same page again (the store page,
    ``show``; the reissue process page, ``process``) in the other language, from the values the
    page holds."""
    if not isinstance(collection, dict):
        collection = {"reference_number": collection.reference_number, "authorization_code": collection.authorization_code}
    return {
        "action": f"/{'issue' if flow == 'renew' else flow}/store",
        "fields": {"action": action, "reference_number": collection.get("reference_number", ""), "authorization_code": collection.get("authorization_code", "")},
    }


def _store_page(request: Request, context: dict[str, Any], *, status: int = 200, **extra: Any) -> Response:
    # The key-file choice only where the service allows it for this application's product.
    application = context.get("application")
    choices = _runtime(request).lifecycle.storage_choices(application.product) if application is not None else ("cloud", "file")
    return render(request, "store.html", {**context, "storage_choices": choices, **extra}, status=status)


@router.post("/{flow}/store")
async def store(flow: str, request: Request) -> Response:
    """Cloud storage (the PIN from the keypad), or the store page itself (``show`` only)."""
    flow = _flow(flow)
    member = _member_or_login(request, RESTART_PAGES.get(flow, "/certificates"))
    runtime = _runtime(request)
    form = await _form(request)
    steps, step = (REISSUE_STEPS, 3) if flow == "reissue" else (ISSUE_STEPS, 4)
    collection = {"reference_number": form.get("reference_number", ""), "authorization_code": form.get("authorization_code", "")}
    application_id = _application_id(request)
    application = _own_application(runtime, application_id, member)
    if application is not None and application.kind == "renew":
        # A cloud renewal posts here too; shown again (after a wrong PIN) as the renewal it is.
        flow, steps, step = "renew", (), 0
    context = {
        "steps": steps, "step": step, "flow": flow, "collection": collection, "application": application,
        "switch_form": _switch_form(flow, collection), **_member_context(runtime, member),
    }
    if form.get("action") == "process" and flow == "reissue":
        # The process page's language switch: that page again, not the store step after it.
        return _process_page(request, collection, application, member)
    if form.get("action") == "show":
        return _store_page(request, context)
    started = time.perf_counter()
    try:
        # A new PIN is typed twice (a typo would become a PIN the holder does not know); a cloud
        # renewal's is the current PIN, typed once: a wrong one is refused by the vault.
        if flow != "renew" and form.get("pin", "") != form.get("pin_confirm", ""):
            raise InvalidInput("the two PINs differ", field="pin_confirm")
        issued = runtime.lifecycle.collect(
            collection["reference_number"], collection["authorization_code"], pin=form.get("pin", ""), actor=member.actor
        )
    except FincertError as error:
        # Pressed twice, or the done page reloaded (the browser posts the form again): the
        # certificate of this browser's application is issued already, and that is what to show.
        done = _own_application(runtime, application_id, member)
        if done is not None and done.status == "issued" and done.result_serial:
            with contextlib.suppress(FincertError):
                certificate = runtime.lifecycle.show(done.result_serial)
                issued_json = {**certificate.as_json(), "storage": certificate.storage or "file"}
                return render(request, "done.html", {"steps": steps, "step": step, "flow": flow, "issued": issued_json, **_member_context(runtime, member)})
        metrics.observe_issuance(application.product if application else "unknown", "cloud", "rejected", time.perf_counter() - started)
        # An application that cannot be collected any more (expired, cancelled): start again.
        restart = RESTART_PAGES.get(flow) if isinstance(error, Conflict) else None
        return page_again(error, _store_page, request, context, default_field="pin", active="cloud", restart=restart)
    metrics.observe_issuance(issued.issued.product, "cloud", "success", time.perf_counter() - started)
    # The application cookie stays (it expires with the application): a second press or a reload
    # of this page finds the application issued and shows this page again.
    return render(request, "done.html", {"steps": steps, "step": step, "flow": flow, "issued": issued.as_json(), **_member_context(runtime, member)})


# -- reissuance ----------------------------------------------------------------------------------


def _reissue_page(request: Request, member: MemberPrincipal | None, *, status: int = 200, **extra: Any) -> Response:
    """The reissue page; without a member it offers the login (``next`` is for that form)."""
    runtime = _runtime(request)
    context: dict[str, Any] = {"steps": REISSUE_STEPS, "step": 0, "institutions": _institutions(runtime), "next": "/reissue"}
    if member is not None:
        context.update(_member_context(runtime, member))
        context.update(_elsewhere_context(request, member))
        context["certificates"] = runtime.lifecycle.certificates_of(member.member_id)
    return render(request, "reissue.html", {**context, **extra}, status=status)


@router.get("/reissue", response_class=HTMLResponse)
def reissue_page(request: Request) -> Response:
    return _reissue_page(request, current_member(request, _runtime(request)))


@router.post("/reissue")
async def reissue_apply(request: Request) -> Response:
    member = _member_or_login(request, "/reissue")
    form = await _form(request)
    with on_error_show(_reissue_page, request, member, default_field="reason", form=form):
        reason = form.get("reason", "")
        if reason not in REISSUE_REASONS:
            raise InvalidInput("choose why the certificate is reissued", field="reason")
        application_id = _open_application(request, member, "reissue", product=form.get("product", "financial"), reason=reason)
    return _with_application(redirect("/reissue/verify"), application_id, request)


# -- my certificates -----------------------------------------------------------------------------


def _certificates_page(request: Request, member: MemberPrincipal, *, status: int = 200, **extra: Any) -> Response:
    runtime = _runtime(request)
    now = runtime.clock.now()
    certificates = runtime.lifecycle.certificates_of(member.member_id)
    # A cloud certificate locked after too many wrong PINs can only be reissued (its row links
    # to the reissue page): renewing would need the PIN its key no longer takes.
    rows = [
        {
            "view": c, "days_left": max(0, (c.not_after - now).days),
            "renewable": c.status == "active" and not c.locked and c.not_after - now <= dt.timedelta(days=runtime.settings.renewal_window_days),
        }
        for c in certificates
    ]
    context = _member_context(runtime, member)
    missing = runtime.registrar.policy.missing("revoke", context["evidence"], now=now)
    return render(
        request, "certificates.html",
        {
            "rows": rows, "revoke_missing": missing, "reasons": HOLDER_REVOCATION_REASONS, "institutions": _institutions(runtime),
            **context, **_elsewhere_context(request, member), **extra,
        },
        status=status,
    )


@router.get("/certificates", response_class=HTMLResponse)
def certificates(request: Request) -> Response:
    return _certificates_page(request, _member_or_login(request, "/certificates"))


@router.post("/certificates/{serial}/revoke")
async def revoke(serial: str, request: Request) -> Response:
    member = _member_or_login(request, "/certificates")
    runtime = _runtime(request)
    form = await _form(request)
    with on_error_show(_certificates_page, request, member, default_field="revoke", error_serial=serial):
        # The holder revokes after login and an identity proof (the policy's "revoke").
        missing = runtime.registrar.policy.missing("revoke", runtime.registrar.session_evidence(member), now=runtime.clock.now())
        if missing:
            raise Unauthorized("verify your identity before revoking", field="revoke")
        runtime.lifecycle.revoke(serial, form.get("reason", ""), actor=member.actor, member_id=member.member_id)
    return redirect("/certificates?revoked=1")


@router.post("/certificates/{serial}/renew")
def renew(serial: str, request: Request) -> Response:
    """Cloud renewal: the PIN proves possession; the store page then takes it."""
    member = _member_or_login(request, "/certificates")
    runtime = _runtime(request)
    with on_error_show(_certificates_page, request, member, default_field="renew", error_serial=serial):
        application_id = _open_application(request, member, "renew", target_serial=serial)
        collection = runtime.lifecycle.verify(application_id, [], actor=member.actor, member_id=member.member_id)
    application = runtime.lifecycle.application(application_id, member_id=member.member_id)
    context = {
        "steps": (), "step": 0, "flow": "renew", "collection": collection, "application": application,
        "switch_form": _switch_form("renew", collection), **_member_context(runtime, member),
    }
    return _with_application(_store_page(request, context), application_id, request)


@router.post("/certificates/register")
async def register_elsewhere(request: Request) -> Response:
    """타기관 인증서 등록: register an active certificate, issued through another institution,
    at the institution this session belongs to; the identity proof follows on the verify page."""
    member = _member_or_login(request, "/certificates")
    form = await _form(request)
    with on_error_show(_certificates_page, request, member, default_field="serial", form=form):
        application_id = _open_application(request, member, "register", target_serial=form.get("serial", ""))
    return _with_application(redirect("/manage/verify"), application_id, request)


# -- signing -------------------------------------------------------------------------------------


def _sign_page(request: Request, member: MemberPrincipal, *, status: int = 200, **extra: Any) -> Response:
    runtime = _runtime(request)
    active = [c for c in runtime.lifecycle.certificates_of(member.member_id) if c.status == "active" and c.storage == "cloud"]
    # A locked key signs nothing: it is named with the way out (reissue), not offered.
    cloud = [c for c in active if not c.locked]
    locked = [c for c in active if c.locked]
    return render(request, "sign.html", {"cloud_certificates": cloud, "locked_certificates": locked, **_member_context(runtime, member), **extra}, status=status)


@router.get("/sign", response_class=HTMLResponse)
def sign_page(request: Request) -> Response:
    return _sign_page(request, _member_or_login(request, "/sign"))


def transfer_order(form: dict[str, str]) -> bytes:
    """The exact bytes a transfer signature covers: canonical JSON of the order."""
    amount = form.get("amount", "").replace(",", "")
    # ASCII digits and at most ten of them before int(): "²" is a digit to str.isdigit but not
    # to int(), and int() refuses strings past 4300 digits; both were a 500.
    if not (amount.isascii() and amount.isdigit()) or len(amount) > 10 or not 0 < int(amount) <= 1_000_000_000:
        raise InvalidInput("the amount must be a whole number of won", field="amount")
    to_account = form.get("to_account", "")
    # ASCII too: the signed order must say exactly the account a bank would read ("١٢٣" is not it).
    if not to_account or len(to_account) > 32 or not all(c in "0123456789-" for c in to_account):
        raise InvalidInput("the account number is digits and '-'", field="to_account")
    order = {"to_account": to_account, "amount": int(amount), "memo": form.get("memo", "")[:64]}
    return json.dumps(order, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@router.post("/sign")
async def sign(request: Request) -> Response:
    member = _member_or_login(request, "/sign")
    form = await _form(request)
    with on_error_show(_sign_page, request, member, default_field="pin", form=_keep(form, "pin")):
        if form.get("kind") == "document":
            content = form.get("document", "").encode()
            if not content or len(content) > 64 * 1024:
                raise InvalidInput("write the document to sign (up to 64 KB)", field="document")
        else:
            content = transfer_order(form)
        signed = _runtime(request).lifecycle.sign_with_cloud(form.get("serial", ""), form.get("pin", ""), content, member_id=member.member_id, actor=member.actor)
    result = {
        "serial": signed.serial,
        "content": content.decode(),
        "signature_b64": base64.b64encode(signed.signature_der).decode(),
        "renewed_serial": signed.renewed_serial,
    }
    return _sign_page(request, member, result=result, form=_keep(form, "pin"))


# -- a form's address opened as a page ------------------------------------------------------------


@router.get("/issue/institutions/{code}/signup", response_class=HTMLResponse)
@router.get("/issue/institutions/{code}/login", response_class=HTMLResponse)
@router.get("/{flow}/verify/{method}", response_class=HTMLResponse)
@router.get("/{flow}/verify/{method}/start", response_class=HTMLResponse)
@router.get("/{flow}/verify-demo/enroll", response_class=HTMLResponse)
@router.get("/{flow}/verify-complete", response_class=HTMLResponse)
@router.get("/{flow}/store", response_class=HTMLResponse)
@router.get("/certificates/register", response_class=HTMLResponse)
@router.get("/certificates/{serial}/revoke", response_class=HTMLResponse)
@router.get("/certificates/{serial}/renew", response_class=HTMLResponse)
@router.get("/applications/open/resume", response_class=HTMLResponse)
@router.get("/applications/open/cancel", response_class=HTMLResponse)
@router.get("/logout", response_class=HTMLResponse)
def form_address(request: Request) -> Response:
    """The address of a form's answer opened with GET (Enter in the address bar after an error
    page, a restored tab, a copied link): the page of that step, not "page not found"."""
    page = page_of_form(request.url.path)
    return redirect(page) if page is not None else render(request, "not_found.html", status=404)


# -- demo outbox ---------------------------------------------------------------------------------


@router.get("/outbox", response_class=HTMLResponse)
def outbox(request: Request) -> Response:
    runtime = _runtime(request)
    if not runtime.settings.demo:
        return render(request, "not_found.html", status=404)
    member = current_member(request, runtime)
    messages = runtime.registrar.outbox(member_id=member.member_id if member else None)
    return render(request, "outbox.html", {"messages": messages, "own_only": member is not None})
