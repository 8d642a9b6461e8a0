"""The TSA endpoint (RFC 3161 over HTTP) and signature verification for relying parties.

``POST /tsa`` takes ``application/timestamp-query`` and answers ``application/timestamp-reply``
(a rejection reply for a malformed query, 415 for another content type). ``POST /api/v1/verify``
takes the signature (and the content of a detached one) as base64 in JSON or as files in a
multipart form, and returns the verification report.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from fincert.api.limits import BodyTooLarge
from fincert.errors import InvalidInput
from fincert.sign.service import decode_base64

router = APIRouter()

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"


class UnsupportedMediaType(InvalidInput):
    kind = "unsupported-media-type"
    http_status = 415


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@router.post(
    "/tsa",
    tags=["tsa"],
    summary="RFC 3161 time-stamp authority",
    description=(
        "POST a DER `TimeStampReq` as `application/timestamp-query`; the answer is a DER "
        "`TimeStampResp` (`application/timestamp-reply`): granted with a token signed by the TSA "
        "certificate (critical EKU id-kp-timeStamping, under the root), or a rejection with an "
        "RFC 3161 failInfo for a malformed or unacceptable query."
    ),
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {TIMESTAMP_QUERY: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        200: {"content": {TIMESTAMP_REPLY: {"schema": {"type": "string", "format": "binary"}}}, "description": "TimeStampResp"},
        415: {"description": "Content type is not application/timestamp-query"},
    },
)
async def timestamp(request: Request) -> Response:
    if _media_type(request) != TIMESTAMP_QUERY:
        raise UnsupportedMediaType(f"send the TimeStampReq as {TIMESTAMP_QUERY}", field="content-type")
    body = await request.body()
    runtime = request.app.state.runtime
    reply = await run_in_threadpool(runtime.tsa.respond, body)
    return Response(reply, media_type=TIMESTAMP_REPLY)


class VerifyRequest(BaseModel):
    """JSON form of a verification request."""

    signature: str = Field(description="The DER CMS signature, base64.")
    content: str | None = Field(
        default=None, description="The signed content, base64 (required for a detached signature)."
    )
    rrn: str | None = Field(
        default=None, description="The holder's resident number, for the VID check (never stored or echoed)."
    )
    random_num: str | None = Field(default=None, description="The holder's randomNum (40 hex digits), for the VID check.")


class VerificationResult(BaseModel):
    """The verification report (the same object `fincert verify --json` prints)."""

    valid: bool = Field(description="Intact, signature verifies, trusted path, any time-stamp valid, not revoked at the signing moment.")
    failure: str | None = Field(description="Why the signature is not valid; null when valid.")
    signer: str = Field(description="Signer certificate subject (RFC 4514).")
    signer_serial: str = Field(description="Signer certificate serial, lowercase hex.")
    signed_at: str | None = Field(description="signingTime signed attribute: the signer's claim.")
    timestamp: str | None = Field(description="genTime of the signature time-stamp, if any.")
    timestamp_valid: bool | None = Field(description="Whether the time-stamp token verified (null without one).")
    timestamp_authority: str | None = Field(description="Subject of the TSA certificate.")
    certificate_status: str = Field(description="good | revoked | unknown | not-checked")
    revocation_time: str | None
    revocation_reason: str | None
    judged_at: str = Field(description="The moment path and status were judged at: the valid time-stamp, else now.")
    intact: bool
    signature_ok: bool
    trusted: bool
    path: list[str] = Field(description="Subjects from the signer to the trust root.")
    non_repudiation: bool = Field(description="The signer's keyUsage asserts nonRepudiation.")
    vid_match: bool | None = Field(description="VID check result; null when no resident number was given.")


_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["signature"],
    "properties": {
        "signature": {"type": "string", "format": "binary", "description": "The DER CMS signature file."},
        "content": {"type": "string", "format": "binary", "description": "The signed file (detached signatures)."},
        "rrn": {"type": "string", "description": "Holder's resident number, for the VID check."},
        "random_num": {"type": "string", "description": "randomNum, 40 hex digits."},
    },
}


@router.post(
    "/api/v1/verify",
    tags=["signatures"],
    summary="Verify a CMS signature",
    description=(
        "Integrity, signer, certificate path to this deployment's root, nonRepudiation, the "
        "certificate's status at the signing moment (the signature time-stamp's genTime when "
        "present, else now) and the time-stamp; with `rrn` and `random_num`, the VID. An invalid "
        "signature is a 200 answer with `valid: false`; bytes that are not a signature are a 400."
    ),
    response_model=VerificationResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": VerifyRequest.model_json_schema()},
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            },
        }
    },
)
async def verify(request: Request) -> dict[str, Any]:
    signature, content, rrn, random_num = await _verify_inputs(request)
    verifier = request.app.state.runtime.signatures.verifier
    verification = await run_in_threadpool(
        lambda: verifier.verify(signature, content, rrn=rrn, random_num_hex=random_num)
    )
    return verification.as_json()


async def _verify_inputs(request: Request) -> tuple[bytes, bytes | None, str | None, str | None]:
    media_type = _media_type(request)
    if media_type == "application/json":
        parsed = parse_json_body(VerifyRequest, await request.body())
        signature = decode_base64(parsed.signature, "signature")
        assert signature is not None
        return signature, decode_base64(parsed.content, "content"), parsed.rrn, parsed.random_num
    if media_type == "multipart/form-data":
        try:
            form = await request.form()
        except BodyTooLarge:
            raise
        except Exception:  # noqa: BLE001 - any parse failure of the client's form is its error
            raise InvalidInput("the multipart form cannot be read") from None
        signature_part = form.get("signature")
        if signature_part is None:
            raise InvalidInput("the form needs a signature part", field="signature")
        content_part = form.get("content")
        return (
            await _part_bytes(signature_part),
            await _part_bytes(content_part) if content_part is not None else None,
            _part_text(form.get("rrn")),
            _part_text(form.get("random_num")),
        )
    raise UnsupportedMediaType("send application/json or multipart/form-data", field="content-type")


async def _part_bytes(part: UploadFile | str) -> bytes:
    if isinstance(part, str):
        return part.encode("utf-8")
    return await part.read()


def _part_text(part: UploadFile | str | None) -> str | None:
    if part is None or isinstance(part, str):
        return part or None
    raise InvalidInput("rrn and random_num are text fields, not files")


def parse_json_body(model: type[BaseModel], body: bytes) -> Any:
    """Parse and validate a JSON body; ``InvalidInput`` naming the field, never echoing values."""
    try:
        return model.model_validate(json.loads(body))
    except json.JSONDecodeError:
        raise InvalidInput("the body is not JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidInput(f"invalid request field {field or 'body'}: {first.get('msg', 'invalid')}", field=field or None) from None
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 JSON") from None
    except ValueError:
        # json.loads refuses an integer literal past Python's digit limit (4300) with a plain
        # ValueError, not a JSONDecodeError.
        raise InvalidInput("the body holds a number with too many digits") from None
    except RecursionError:
        # json.loads recurses once per nesting level; a body of nested brackets is malformed input.
        raise InvalidInput("the body is nested too deeply") from None
