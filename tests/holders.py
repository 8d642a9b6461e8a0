"""A holder's certificate issued in a test the way the holder's client gets one: an OTP proof, an
application, a CSR for a key the test keeps, collection. Shared by API and page tests."""

from __future__ import annotations

import secrets

import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from fincert.ra.verifiers.base import make_evidence


def issue_joint(runtime, member_id: int, key, *, actor: str = "t") -> str:
    """A joint certificate issued to ``member_id`` for ``key`` (an RSA-2048 private key): its serial.
    Enrols an OTP for the member first (replacing one enrolled before)."""
    reg, lc = runtime.registrar, runtime.lifecycle
    otp = reg.enroll(member_id, "otp", actor=actor)
    challenge = reg.start_verification(member_id, "otp", actor=actor)
    evidence = [
        make_evidence("login", runtime.clock.now(), credential_id=str(member_id)),
        reg.complete_verification(member_id, "otp", challenge.challenge_id, pyotp.TOTP(otp["secret"]).at(runtime.clock.now()), actor=actor),
    ]
    application = lc.open_application(member_id, "issue", product="joint", actor=actor)
    collection = lc.verify(application.id, evidence, actor=actor)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    return lc.collect(
        collection.reference_number, collection.authorization_code, csr_pem=csr, random_num=secrets.token_bytes(20), actor=actor,
    ).issued.serial


def npki_holder(rt, root, password: str, *, rrn: str | None = None, name: str = "홍길동", institution: str = "한빛은행"):
    """A joint certificate the CA issues at once for a fresh key (``rrn``: with its VID), written
    as an NPKI folder under ``root``: ``(issued, folder, random_num)``."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from fincert.ca.authority import IssuanceRequest, SubjectIdentity
    from fincert.formats import npki, vid

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    random_num = npki.generate_random_num()
    identify = vid.identify_data_other_name(name, rrn.replace("-", ""), random_num) if rrn else None
    issued = rt.ca.issue(IssuanceRequest("joint", key.public_key(), SubjectIdentity(name, institution), identify_data=identify))
    folder = npki.write_npki_folder(root, "fincert", issued.certificate, npki.write_sign_pri_key(key, password, random_num))
    return issued, folder, random_num
