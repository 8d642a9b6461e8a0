"""Registration-authority API: institutions, sign-up, login, members, identity verification."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from fincert.api.auth import MemberDep, OperatorDep, RuntimeDep
from fincert.api.params import NO_NUL, OptionalRowIdQuery, RowId
from fincert.errors import Forbidden, InvalidInput, NotFound
from fincert.ra.registrar import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

#: The paging parameters of an institution's lists (members here, certificates in ``lifecycle``).
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"How many rows at most (1 to {MAX_PAGE_SIZE}).")]
PageCursor = Annotated[
    str | None,
    Query(max_length=128, description="Where to continue: the `next` of the previous page, passed back as it is (opaque)."),
]

router = APIRouter(prefix="/api/v1", tags=["registration"])

NO_CHALLENGE = "-"


class MemberIn(BaseModel):
    name: str = Field(
        max_length=128,
        description=(
            "the real name as on the ID card: 1-30 Hangul or Latin letters, with a single space, hyphen or "
            "apostrophe between letters, counted after the service composes it (NFC) and collapses runs of "
            "spaces (a 400 problem naming `name` otherwise). Decomposed (NFD) Hangul is accepted: its jamo "
            "(홍 is 3) count only towards the 128 characters a request may send"
        ),
    )
    rrn: str = Field(max_length=32, description="resident registration number, YYMMDD-GNNNNNN")
    phone: str = Field(max_length=32)
    email: str = Field(max_length=254)


class SignUpIn(MemberIn):
    login_id: str = Field(max_length=64)
    password: str = Field(max_length=128)


class LoginIn(BaseModel):
    institution: str = Field(max_length=32)
    login_id: str = Field(max_length=64)
    password: str = Field(max_length=128)


class EnrollIn(BaseModel):
    method: Literal["otp", "security-card"]


class VerifyIn(BaseModel):
    response: Any = Field(description="the code, the four security-card digits, or the WebAuthn credential JSON")


@router.get("/institutions", summary="Institutions to choose from (금융기관 선택)")
def list_institutions(runtime: RuntimeDep) -> dict[str, Any]:
    return {"institutions": [v.as_json() for v in runtime.institutions.list()]}


@router.post("/institutions/{code}/signup", status_code=201, summary="Online sign-up by the member (회원 가입)")
def sign_up(code: str, body: SignUpIn, runtime: RuntimeDep) -> dict[str, Any]:
    view = runtime.registrar.register_member(
        code, name=body.name, rrn=body.rrn, phone=body.phone, email=body.email,
        login_id=body.login_id, password=body.password, actor="member:signup", online=True,
    )
    return view.as_json()


@router.post("/auth/login", summary="Member login; returns a session token")
def login(body: LoginIn, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    address = request.client.host if request.client else "unknown"
    result = runtime.registrar.login(body.institution, body.login_id, body.password, address=address)
    return {"token": result.token, "member_id": result.member_id, "expires_at": result.expires_at.isoformat()}


@router.post("/auth/logout", status_code=204, summary="End the member session")
def logout(member: MemberDep, runtime: RuntimeDep) -> None:
    runtime.registrar.logout(member)


@router.get("/me", summary="The logged-in member (resident number masked)")
def me(member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    view = runtime.registrar.show_member(member.member_id)
    evidence = runtime.registrar.session_evidence(member)
    policy = runtime.registrar.policy
    now = runtime.clock.now()
    return {
        **view.as_json(),
        "evidence": [e.get("method") for e in evidence],
        "missing": {p: policy.missing(p, evidence, now=now) for p in ("issue", "reissue")},
    }


@router.post("/me/verifications/{method}", summary="Start an identity proof (본인 확인)")
def start_verification(method: str, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    challenge = runtime.registrar.start_verification(member.member_id, method, actor=member.actor)
    return {
        "method": challenge.method,
        # Methods without a server-side challenge (TOTP) answer at a fixed path segment.
        "challenge_id": challenge.challenge_id or NO_CHALLENGE,
        "prompt": challenge.prompt,
        "expires_at": challenge.expires_at.isoformat() if challenge.expires_at else None,
    }


@router.post("/me/verifications/{method}/{challenge_id}", summary="Answer an identity proof")
def complete_verification(method: str, challenge_id: str, body: VerifyIn, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    if method != "webauthn" and not isinstance(body.response, str):
        # A code is typed text; anything else is a malformed request, refused before it could
        # count as a failed attempt against the holder's lockout.
        raise InvalidInput("the response is the code as a string", field="response")
    evidence = runtime.registrar.complete_verification(
        member.member_id, method, None if challenge_id == NO_CHALLENGE else challenge_id, body.response, actor=member.actor
    )
    items = runtime.registrar.add_session_evidence(member, evidence)
    return {"verified": evidence["method"], "evidence": [e.get("method") for e in items]}


@router.post("/me/webauthn/registration", summary="Begin registering a biometric authenticator")
def begin_webauthn(member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    # A password alone must not be enough to add an authenticator that later stands in for
    # the OTP or security card: registration needs one of those proofs in this session.
    proven = {e.get("method") for e in runtime.registrar.session_evidence(member)}
    if not proven & {"otp", "security-card", "webauthn"}:
        raise Forbidden("verify with your OTP or security card before registering biometrics")
    return runtime.registrar.begin_webauthn(member.member_id, actor=member.actor)


@router.post("/me/webauthn/registration/{challenge_id}", summary="Finish registering a biometric authenticator")
def finish_webauthn(challenge_id: str, body: VerifyIn, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.registrar.finish_webauthn(member.member_id, challenge_id, body.response, actor=member.actor)


class MemberLookupIn(BaseModel):
    rrn: str = Field(max_length=32, pattern=NO_NUL, description="resident registration number, YYMMDD-GNNNNNN (in the body: never in a URL)")


@router.get("/institutions/{code}/members", summary="The institution's members, a page at a time")
def list_members(
    code: str,
    operator: OperatorDep,
    runtime: RuntimeDep,
    limit: PageLimit = DEFAULT_PAGE_SIZE,
    before: PageCursor = None,
    q: Annotated[
        str,
        Query(max_length=128, description="Keep members whose name starts with this, with this member number, or with this phone number."),
    ] = "",
) -> dict[str, Any]:
    """Oldest first; `next` is the cursor of the following page (`before=next`), null on the last."""
    page = runtime.registrar.members_page(operator.institution_id, limit=limit, before=before, query=q)
    return {"members": [m.as_json() for m in page.items], "next": page.next}


@router.post("/institutions/{code}/members/lookup", summary="The member with a resident number (exact match, by its blind index)")
def lookup_member(code: str, body: MemberLookupIn, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.registrar.find_member_by_rrn(operator.institution_id, body.rrn, actor=operator.actor).as_json()


@router.post("/institutions/{code}/members", status_code=201, summary="Register a member (by an operator)")
def register_member(code: str, body: MemberIn, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    view = runtime.registrar.register_member(
        code, name=body.name, rrn=body.rrn, phone=body.phone, email=body.email, actor=operator.actor
    )
    return view.as_json()


@router.get("/institutions/{code}/members/{member_id}", summary="One member (resident number masked)")
def show_member(code: str, member_id: RowId, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.registrar.show_member(member_id, institution_id=operator.institution_id).as_json()


@router.post("/institutions/{code}/members/{member_id}/enrollments", summary="Enroll a security card or OTP (shown once)")
def enroll(code: str, member_id: RowId, body: EnrollIn, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.registrar.enroll(member_id, body.method, actor=operator.actor, institution_id=operator.institution_id)


@router.get("/institutions/{code}/audit", summary="The institution's audit records")
def institution_audit(
    code: str,
    operator: OperatorDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many of the newest records (1 to 1000).")] = 100,
) -> dict[str, Any]:
    return {"records": runtime.registrar.institution_audit(operator.institution_id, limit=limit)}


@router.get("/demo/outbox", summary="Demo mode only: the SMS/e-mail messages 'sent'")
def demo_outbox(runtime: RuntimeDep, member_id: OptionalRowIdQuery = None) -> dict[str, Any]:
    if not runtime.settings.demo:
        raise NotFound("the message outbox is shown in demo mode only")
    return {"messages": runtime.registrar.outbox(member_id=member_id)}
