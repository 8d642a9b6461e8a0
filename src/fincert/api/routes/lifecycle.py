"""Certificate lifecycle API: applications, collection, my certificates, operator actions."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fincert.api.auth import MemberDep, OperatorDep, RuntimeDep
from fincert.api.params import NO_NUL, RowId
from fincert.api.routes.ra import PageCursor, PageLimit
from fincert.errors import InvalidInput
from fincert.ra.lifecycle import POLICY_PURPOSE, Collection
from fincert.ra.registrar import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/api/v1", tags=["certificates"])


class ApplicationIn(BaseModel):
    kind: Literal["issue", "reissue", "renew", "register"]
    product: Literal["financial", "joint"] = "financial"
    reason: Literal["lost", "forgotten", "locked", "expired"] | None = None
    serial: str | None = Field(default=None, max_length=64, description="the certificate a reissue/renew/register is about")


class CollectIn(BaseModel):
    reference_number: str = Field(max_length=32, pattern=NO_NUL)
    authorization_code: str = Field(max_length=64, pattern=NO_NUL)
    storage: Literal["file", "cloud"]
    csr: str | None = Field(default=None, max_length=16_000, description="PEM PKCS#10 request (file storage)")
    random_num: str | None = Field(default=None, max_length=64, description="hex, the 20-byte randomNum kept with the key (file storage)")
    pin: str | None = Field(default=None, max_length=16, description="6-digit PIN (cloud storage)")
    renewal_proof: str | None = Field(default=None, max_length=2_000, description="base64 signature of the CSR DER by the current key (file renewal)")


class RevokeIn(BaseModel):
    reason: str = Field(
        max_length=32,
        description=(
            "an RFC 5280 reason name: a holder gives one of unspecified, keyCompromise, affiliationChanged, superseded, "
            "cessationOfOperation; an institution's operator also certificateHold (효력 정지). Any other is a 400 problem naming `reason`"
        ),
    )


class CloudSignIn(BaseModel):
    pin: str = Field(max_length=16)
    data_b64: str = Field(max_length=1_000_000)
    attached: bool = False


def _b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field} is not valid base64", field=field) from None


def _hex(text: str, field: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidInput(f"{field} is not valid hex", field=field) from None


@router.post("/me/applications", status_code=201, summary="Apply for a certificate (인증서 신청), reissue, renew or register")
def open_application(body: ApplicationIn, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    view = runtime.lifecycle.open_application(
        member.member_id, body.kind, product=body.product, reason=body.reason, target_serial=body.serial, actor=member.actor
    )
    # What this session still has to prove before the application can be verified.
    evidence = runtime.registrar.session_evidence(member)
    missing = [] if body.kind == "renew" else runtime.registrar.policy.missing(POLICY_PURPOSE[body.kind], evidence, now=runtime.clock.now())
    return {**view.as_json(), "missing": missing}


@router.get("/me/applications/{application_id}", summary="One of my applications")
def get_application(application_id: RowId, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.lifecycle.application(application_id, member_id=member.member_id).as_json()


@router.post("/me/applications/{application_id}/verify", summary="Use this session's identity proofs for the application")
def verify_application(application_id: RowId, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    evidence = runtime.registrar.session_evidence(member)
    result = runtime.lifecycle.verify(application_id, evidence, actor=member.actor, member_id=member.member_id)
    if isinstance(result, Collection):
        return {
            "application_id": result.application_id,
            "status": "verified",
            "reference_number": result.reference_number,
            "authorization_code": result.authorization_code,
        }
    return result.as_json()


@router.post("/me/applications/{application_id}/cancel", summary="Cancel my open application")
def cancel_application(application_id: RowId, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.lifecycle.cancel(application_id, actor=member.actor, member_id=member.member_id).as_json()


class CollectedOut(BaseModel):
    """The issued certificate (인증서 다운로드 및 저장): PEM certificate and chain."""

    serial: str
    product: str
    storage: str
    not_before: str
    not_after: str
    replaced: str | None
    certificate: str
    chain: list[str]


@router.post(
    "/certificates/collect",
    response_model=CollectedOut,
    summary="Collect a certificate with the reference number and authorization code (인증서 다운로드)",
)
async def collect(body: CollectIn, runtime: RuntimeDep) -> JSONResponse:
    # The hot path of issuance: one threadpool hop for the blocking work, and the answer built
    # here rather than validated again against the response model (another hop).
    if body.storage == "file":
        if not body.csr or not body.random_num:
            raise InvalidInput("file storage needs csr and random_num", field="csr" if not body.csr else "random_num")
        csr_pem, random_num = body.csr.encode(), _hex(body.random_num, "random_num")
        renewal_proof = _b64(body.renewal_proof, "renewal_proof") if body.renewal_proof else None

        def work() -> dict[str, Any]:
            return runtime.lifecycle.collect(
                body.reference_number, body.authorization_code, csr_pem=csr_pem, random_num=random_num,
                renewal_proof=renewal_proof, actor="holder-client",
            ).as_json()
    else:
        if not body.pin:
            raise InvalidInput("cloud storage needs a 6-digit PIN", field="pin")
        pin = body.pin

        def work() -> dict[str, Any]:
            return runtime.lifecycle.collect(body.reference_number, body.authorization_code, pin=pin, actor="holder-client").as_json()

    return JSONResponse(await run_in_threadpool(work))


@router.get("/me/certificates", summary="My certificates")
def my_certificates(member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    return {"certificates": [c.as_json() for c in runtime.lifecycle.certificates_of(member.member_id)]}


@router.post("/me/certificates/{serial}/revoke", summary="Revoke my certificate")
def revoke_mine(serial: str, body: RevokeIn, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    missing = runtime.registrar.policy.missing("revoke", runtime.registrar.session_evidence(member), now=runtime.clock.now())
    if missing:
        raise InvalidInput("verify your identity first: still needed " + ", ".join(missing), field="evidence")
    return runtime.lifecycle.revoke(serial, body.reason, actor=member.actor, member_id=member.member_id).as_json()


@router.post("/me/certificates/{serial}/sign", summary="Sign data (CMS) with my cloud certificate, unlocked by its PIN")
def sign_with_cloud(serial: str, body: CloudSignIn, member: MemberDep, runtime: RuntimeDep) -> dict[str, Any]:
    content = _b64(body.data_b64, "data_b64")
    if not content:
        # A signature over nothing commits the holder to nothing a relying party could show.
        raise InvalidInput("data_b64 is empty: there is nothing to sign", field="data_b64")
    result = runtime.lifecycle.sign_with_cloud(
        serial, body.pin, content, member_id=member.member_id, actor=member.actor, detached=not body.attached
    )
    return {
        "signature_b64": base64.b64encode(result.signature_der).decode(),
        "serial": result.serial,
        "random_num": result.random_num.hex(),
        "renewed_serial": result.renewed_serial,
    }


@router.get("/institutions/{code}/certificates", summary="Certificates issued through the institution, a page at a time")
def institution_certificates(
    code: str, operator: OperatorDep, runtime: RuntimeDep, limit: PageLimit = DEFAULT_PAGE_SIZE, before: PageCursor = None
) -> dict[str, Any]:
    """Newest first; `next` is the cursor of the following page (`before=next`), null on the last."""
    page = runtime.lifecycle.certificates_page(operator.institution_id, limit=limit, before=before)
    return {"certificates": [c.as_json() for c in page.items], "next": page.next}


@router.post("/institutions/{code}/certificates/{serial}/revoke", summary="Revoke a certificate issued through the institution")
def operator_revoke(code: str, serial: str, body: RevokeIn, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.lifecycle.revoke(serial, body.reason, actor=operator.actor, institution_id=operator.institution_id).as_json()


@router.post(
    "/institutions/{code}/certificates/{serial}/restore",
    summary="Restore a certificate on hold (certificateHold) issued through the institution",
)
def operator_restore(code: str, serial: str, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.lifecycle.restore(serial, actor=operator.actor, institution_id=operator.institution_id).as_json()


@router.post("/institutions/{code}/applications/{application_id}/cancel", summary="Forced cancellation of a pending application")
def operator_cancel(code: str, application_id: RowId, operator: OperatorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.lifecycle.cancel(application_id, actor=operator.actor, institution_id=operator.institution_id).as_json()
