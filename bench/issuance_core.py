"""Issuance core (reserve, draft, check, sign, persist with audit) vs the raw build+sign loop."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

import statistics
import threading
import time

from bench.common import deployment, rate, timed
from fincert.ca.authority import IssuanceRequest, SubjectIdentity, new_serial

COUNT = 400
ROUNDS = 3


def raw_build_sign_rate(ca_key: rsa.RSAPrivateKey, subscriber: rsa.RSAPublicKey, count: int = COUNT) -> float:
    """The peer: cryptography building and signing the same end-entity certificate (the
    profile's extensions) in a loop, with nothing checked or stored."""
    issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"), x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fincert"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "한빛은행"),
            x509.NameAttribute(NameOID.COMMON_NAME, "홍길동()00000000000000000001"),
        ]
    )
    now = dt.datetime.now(dt.timezone.utc)
    policy = x509.PolicyInformation(x509.ObjectIdentifier("1.3.6.1.4.1.32473.410.1.1"), ["http://127.0.0.1:8000/cps", x509.UserNotice(None, "금융인증서")])
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://127.0.0.1:8000/ocsp")),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://127.0.0.1:8000/ca/2.crt")),
        ]
    )
    cdp = x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier("http://127.0.0.1:8000/crl/2/0.crl")], None, None, None)])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    def one() -> None:
        (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(subscriber)
            .serial_number(new_serial()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1095))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.CertificatePolicies([policy]), critical=False)
            .add_extension(cdp, critical=False)
            .add_extension(aia, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(subscriber), critical=False)
            .add_extension(aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )

    return timed(one, count)


def concurrent_rate(fn, *, clients: int, count: int) -> float:
    """Rate of ``count`` calls spread over ``clients`` threads (database waits overlap)."""
    per_client = count // clients

    def worker() -> None:
        for _ in range(per_client):
            fn()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rate(per_client * clients, time.perf_counter() - start)


def run(report: dict) -> None:
    """Rounds that alternate the raw loop and fincert, each ratio taken against the raw rate of
    its own round (this machine's speed drifts by tens of percent within a minute when other
    work runs); the medians of the rounds are reported."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subscriber = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    raw_rates: list[float] = []
    section: dict[str, float | str] = {}
    for backend in ("sqlite", "postgresql"):
        with deployment(backend) as rt:
            request = IssuanceRequest("financial", subscriber, SubjectIdentity("홍길동", "한빛은행"))
            rt.ca.issue(request)  # warm up: key load, draft key, connection pool
            rates: dict[int, list[float]] = {1: [], 4: [], 8: []}
            ratios: dict[int, list[float]] = {1: [], 4: [], 8: []}
            for _ in range(ROUNDS):
                raw = raw_build_sign_rate(ca_key, subscriber, COUNT // 2)
                raw_rates.append(raw)
                for clients in rates:
                    if clients == 1:
                        fincert = timed(lambda: rt.ca.issue(request), COUNT // 2)
                    else:
                        fincert = concurrent_rate(lambda: rt.ca.issue(request), clients=clients, count=COUNT)
                    rates[clients].append(fincert)
                    ratios[clients].append(fincert / raw)
            for clients in rates:
                label = "1 client" if clients == 1 else f"{clients} clients"
                section[f"fincert issuance core on {backend}, {label}"] = statistics.median(rates[clients])
                section[f"ratio {backend} {label} : raw (median of rounds)"] = statistics.median(ratios[clients])
    section["raw build+sign (cryptography, RSA-2048 CA), median of rounds"] = statistics.median(raw_rates)
    section["raw build+sign, slowest and fastest round"] = f"{min(raw_rates):,.0f} .. {max(raw_rates):,.0f}"
    section["raw build+sign, 2 threads (for reference: signing releases the GIL)"] = concurrent_rate(
        lambda: raw_build_sign_rate(ca_key, subscriber, 1), clients=2, count=COUNT
    )
    section["goal"] = "persisted issuance on PostgreSQL >= 25% of the raw build+sign rate"
    report["issuance core (certificates/s): reserve, draft, check, sign, store with audit"] = section
