"""Signature verification and time-stamping through fincert's services vs the raw libraries.

Verification: ``SignatureVerifier.verify`` (integrity + path to the root + the signer's and
CAs' status read from the database on every call + the signature time-stamp; after the first
call the signer's and TSA's paths come from its ``PathCache``, the fast path of
``fincert.sign.verify``) against pyHanko's ``async_validate_detached_cms`` on the same
signature with the same trust root and no status check. Time-stamps:
``TimeStampService.respond`` (serials reserved from the database counter in blocks) against
``TimeStampAuthority.respond`` with an in-memory counter. Goals from issue 6: ≥ 2,000
verifications/s and ≥ 1,000 time-stamps/s.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext

from bench.common import deployment, timed
from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.formats import pkcs12
from fincert.sign.tsa import TimeStampAuthority, build_timestamp_request

VERIFY_COUNT = 200
TIMESTAMP_COUNT = 1000
DATA = "계좌이체 1,000,000원 승인".encode()


def _raw_pyhanko_rate(signature: bytes, root_der: bytes, count: int) -> float:
    signed_data = cms.ContentInfo.load(signature)["content"]
    root = asn1_x509.Certificate.load(root_der)

    async def loop() -> None:
        for _ in range(count):
            context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
            status = await async_validate_detached_cms(DATA, signed_data, signer_validation_context=context)
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
            signature = signing.sign(DATA, key, tsa="local").signature_der
            verifier = rt.signatures.verifier
            assert verifier.verify(signature, DATA).valid  # warm up: caches, pool
            root_der = rt.ca.hierarchy().root.public_bytes(serialization.Encoding.DER)

            raw_verify = _raw_pyhanko_rate(signature, root_der, VERIFY_COUNT)
            service_verify = timed(lambda: verifier.verify(signature, DATA), VERIFY_COUNT)
            section[f"{backend}: raw pyHanko validate (path, no status), verifications/s"] = raw_verify
            section[f"{backend}: fincert verify (path + DB status + time-stamp), verifications/s"] = service_verify
            section[f"{backend}: verify ratio fincert : raw"] = service_verify / raw_verify

            request = build_timestamp_request(DATA)
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
    section["goals"] = ">= 2,000 verifications/s, >= 1,000 time-stamps/s"
    report["signatures (one client)"] = section
