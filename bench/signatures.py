"""Signature verification and time-stamping through fincert's services vs the raw libraries.

Verification: ``SignatureVerifier.verify`` on time-stamped signatures by a fincert 'joint'
RSA-2048 certificate, each call checking integrity (messageDigest), the signature over the
signed attributes, the time-stamp token (imprint over the signature value, TSA signature, TSA
path and EKU), the paths to the root (remembered by exact certificate bytes in its
``PathCache`` after the first call, validity re-checked at the judged time) and the signer's
and CAs' status from the VA's pre-signed OCSP store (``PresignedOcspStatus``; the store is
filled by ``OcspResponder.refresh`` as the VA's upkeep does). ``DISTINCT_SIGNATURES``
documents are signed and verified in turn, so nothing is remembered per signature. The
database statements run during the timed loop are counted and printed. The peer, in the same
run: pyHanko's ``async_validate_detached_cms`` on the same signatures with the same trust
root and no status check. Time-stamps: ``TimeStampService.respond`` (serials reserved from the
database counter in blocks) against ``TimeStampAuthority.respond`` with an in-memory counter.
Goals from issue 6: ≥ 2,000 verifications/s and ≥ 1,000 time-stamps/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import event

from bench.common import deployment, timed
from bench.issuance_core import concurrent_rate
from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.formats import pkcs12
from fincert.sign.tsa import TimeStampAuthority, build_timestamp_request

RAW_VERIFY_COUNT = 200
VERIFY_COUNT = 3000
DISTINCT_SIGNATURES = 50
TIMESTAMP_COUNT = 1000


def _document(i: int) -> bytes:
    return f"계좌이체 {1_000_000 + i:,}원 승인".encode()


def _raw_pyhanko_rate(signed: list[tuple[bytes, bytes]], root_der: bytes, count: int) -> float:
    parsed = [(document, cms.ContentInfo.load(signature)["content"]) for document, signature in signed]
    root = asn1_x509.Certificate.load(root_der)

    async def loop() -> None:
        for document, signed_data in itertools.islice(itertools.cycle(parsed), count):
            context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
            status = await async_validate_detached_cms(document, signed_data, signer_validation_context=context)
            assert status.bottom_line

    start = time.perf_counter()
    asyncio.run(loop())
    return count / (time.perf_counter() - start)


def run(report: dict) -> None:
    holder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    section: dict[str, float | str] = {}
    for backend in ("sqlite", "postgresql"):
        with deployment(backend) as rt:
            issued = rt.ca.issue(IssuanceRequest("joint", holder.public_key(), SubjectIdentity("홍길동", "한빛은행")))
            p12 = pkcs12.write_pkcs12(holder, issued.certificate, [], "bench-password-1!", "b", kdf_rounds=1000)
            signing = rt.signatures.signing
            key = signing.pkcs12_key(p12, "bench-password-1!")
            signed = [
                (_document(i), signing.sign(_document(i), key, tsa="local").signature_der) for i in range(DISTINCT_SIGNATURES)
            ]
            rt.va.ocsp.refresh()  # the responder certificate and the pre-signed responses
            verifier = rt.signatures.verifier
            # Warm up: the first call validates the paths with pyHanko and loads the held response.
            assert all(verifier.verify(signature, document).valid for document, signature in signed)
            root_der = rt.ca.hierarchy().root.public_bytes(serialization.Encoding.DER)

            raw_verify = _raw_pyhanko_rate(signed, root_der, RAW_VERIFY_COUNT)
            turns = itertools.cycle(signed)

            def verify_next() -> None:
                document, signature = next(turns)
                verifier.verify(signature, document)

            with _statements(rt) as seen:
                service_verify = timed(verify_next, VERIFY_COUNT)
            section[f"{backend}: raw pyHanko validate (path, no status), verifications/s"] = raw_verify
            section[f"{backend}: fincert verify (path + status from the pre-signed OCSP store + time-stamp), verifications/s"] = service_verify
            section[f"{backend}: verify ratio fincert : raw"] = service_verify / raw_verify
            section[f"{backend}: database statements during {VERIFY_COUNT:,} verifications"] = len(seen)

            request = build_timestamp_request(_document(0))
            tsa = rt.tsa
            tsa.respond(request)
            counter = itertools.count(1)
            raw_tsa = TimeStampAuthority(
                tsa.certificate, [], rt.keys.private_key_for_library(rt.ca.active_service_certificate("tsa")[2]),
                tsa.policy_oid, 1, rt.clock, lambda: next(counter),
            )
            raw_stamps = timed(lambda: raw_tsa.respond(request), TIMESTAMP_COUNT)
            service_stamps = timed(lambda: tsa.respond(request), TIMESTAMP_COUNT)
            section[f"{backend}: raw TimeStampAuthority.respond, time-stamps/s"] = raw_stamps
            section[f"{backend}: fincert TSA (DB serial), time-stamps/s"] = service_stamps
            section[f"{backend}: time-stamp ratio fincert : raw"] = service_stamps / raw_stamps
            # A TSA answers many clients at once; the RSA signature releases the GIL, so two
            # client threads use both cores (the raw peer measured the same way).
            raw_two = concurrent_rate(lambda: raw_tsa.respond(request), clients=2, count=TIMESTAMP_COUNT)
            service_two = concurrent_rate(lambda: tsa.respond(request), clients=2, count=TIMESTAMP_COUNT)
            section[f"{backend}: raw TimeStampAuthority.respond, 2 client threads, time-stamps/s"] = raw_two
            section[f"{backend}: fincert TSA (DB serial), 2 client threads, time-stamps/s"] = service_two
            section[f"{backend}: time-stamp ratio fincert : raw, 2 client threads"] = service_two / raw_two
    section["goals"] = ">= 2,000 verifications/s, >= 1,000 time-stamps/s"
    report["signatures (one client unless stated)"] = section


@contextlib.contextmanager
def _statements(rt) -> Iterator[list[str]]:
    """The SQL statements the deployment's database receives inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001 - SQLAlchemy event signature
        seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", record)
