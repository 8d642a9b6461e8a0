"""An example relying party (a bank) over the API: signed-challenge login and signed transfers.

The flow a bank's web page follows: get a challenge, have the holder sign its bytes (CMS) and
post the signature to log in; have the holder sign a transfer order (JSON bytes) with a
signature time-stamp and post it; the bank verifies it and keeps it as an evidence record.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fincert.api.params import NO_NUL
from fincert.sign.service import decode_base64

router = APIRouter(prefix="/api/v1/rp", tags=["relying party (example bank)"])


class ChallengeAnswer(BaseModel):
    challenge_id: str
    challenge: str = Field(description="32 random bytes, base64: sign exactly these bytes.")
    expires_at: str


class LoginRequest(BaseModel):
    challenge_id: str = Field(max_length=64, pattern=NO_NUL)
    signature: str = Field(description="CMS signature over the challenge bytes, base64 (detached or attached).")


class TransferRequest(BaseModel):
    order: str | None = Field(
        default=None,
        description=(
            "The exact signed bytes of the order, base64: a JSON object with from_account, "
            "to_account and amount (won). May be omitted when the signature is attached."
        ),
    )
    signature: str = Field(description="CMS signature with a signature time-stamp, base64.")


def _rp(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.runtime.signatures.relying_party


def _required(text: str, field: str) -> bytes:
    value = decode_base64(text, field)
    assert value is not None
    return value


@router.post("/challenge", summary="A one-time login challenge (valid 5 minutes)", response_model=ChallengeAnswer)
def challenge(request: Request) -> dict[str, Any]:
    return _rp(request).new_challenge().as_json()


@router.post("/login", summary="Log in with a signature over the challenge")
async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
    signature = _required(body.signature, "signature")
    verification = await run_in_threadpool(_rp(request).login, body.challenge_id, signature)
    report = verification.as_json()
    return {"signer": report["signer"], "signer_serial": report["signer_serial"], "verification": report}


@router.post("/transfer", summary="Submit a signed, time-stamped transfer order", status_code=201)
async def transfer(body: TransferRequest, request: Request) -> dict[str, Any]:
    signature = _required(body.signature, "signature")
    order = decode_base64(body.order, "order")
    record = await run_in_threadpool(_rp(request).accept_transfer, order, signature)
    return record.as_json()


@router.get("/evidence/{reference}", summary="An accepted order with its signature, time-stamp and report")
def evidence(
    request: Request,
    reference: Annotated[str, Path(max_length=64, pattern=NO_NUL, description="The random reference the transfer's answer gave.")],
) -> dict[str, Any]:
    return _rp(request).evidence(reference).as_json()
