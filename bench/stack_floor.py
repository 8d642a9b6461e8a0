"""The ceiling of the web stack on this machine: the least a persisted issuance over HTTP can do.

A peer for the API issuance benchmark (issue 4), served the same way as fincert (uvicorn, the
same worker count, a sync FastAPI route on the same path, the same request bodies, the same
PostgreSQL): parse the JSON body, load the CSR and check its signature, build and sign a
certificate with the fincert profile's extensions under an RSA-2048 key held in memory, store
its serial and DER with one autocommitted INSERT over a raw psycopg connection, and answer
with the serial and the PEM. It does nothing else a CA must: no application or authorization
code, no serial reservation before signing, no profile check, no VID, no audit record, no
holder record. Whatever rate it reaches bounds what fincert can reach on the same cores.

``uvicorn --factory bench.stack_floor:make_app`` with ``FINCERT_BENCH_FLOOR_DSN`` set.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from fastapi import FastAPI
from pydantic import BaseModel

TABLE = "bench_floor_certificates"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, serial text UNIQUE NOT NULL, der bytea NOT NULL)"


class CollectIn(BaseModel):
    reference_number: str
    authorization_code: str
    storage: str
    csr: str
    random_num: str


def make_app() -> FastAPI:
    dsn = os.environ["FINCERT_BENCH_FLOOR_DSN"]
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"), x509.NameAttribute(NameOID.COMMON_NAME, "floor CA")])
    policy = x509.PolicyInformation(x509.ObjectIdentifier("1.3.6.1.4.1.32473.410.1.1"), None)
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://127.0.0.1:8000/ocsp")),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://127.0.0.1:8000/ca/2.crt")),
        ]
    )
    cdp = x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier("http://127.0.0.1:8000/crl/2/0.crl")], None, None, None)])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    connections = threading.local()  # one autocommit connection per threadpool thread

    def connection() -> psycopg.Connection:
        conn = getattr(connections, "conn", None)
        if conn is None:
            conn = connections.conn = psycopg.connect(dsn, autocommit=True)
        return conn

    # Every worker runs this at start: CREATE TABLE IF NOT EXISTS is not safe against a concurrent
    # one (the loser fails on pg_type's unique index, and its worker dies), so take turns.
    with psycopg.connect(dsn) as conn:  # one transaction, committed on leaving
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
        conn.execute(CREATE_TABLE)

    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/certificates/collect")
    def collect(body: CollectIn) -> dict[str, Any]:
        csr = x509.load_pem_x509_csr(body.csr.encode())
        if not csr.is_signature_valid:
            raise ValueError("bad CSR signature")
        public_key = csr.public_key()
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        serial = x509.random_serial_number()
        certificate = (
            x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer).public_key(public_key)
            .serial_number(serial).not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.CertificatePolicies([policy]), critical=False)
            .add_extension(cdp, critical=False)
            .add_extension(aia, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
            .add_extension(aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        serial_text = format(serial, "x")
        connection().execute(
            f"INSERT INTO {TABLE} (serial, der) VALUES (%s, %s)", (serial_text, certificate.public_bytes(serialization.Encoding.DER))
        )
        return {"serial": serial_text, "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode()}

    return app
