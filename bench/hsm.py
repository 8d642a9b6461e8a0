"""CA keys on a PKCS#11 token (SoftHSM2) against keys in memory: `python bench/run.py hsm`.

Peers in the same run: the raw ``cryptography`` RSA-2048 signature in memory, and the raw
python-pkcs11 signing loop on the same token (what any Python code gets from this module).
Then fincert's ``Pkcs11KeyBackend.sign`` over that loop (the lock, the handle cache, the label
check), and the issuance core on PostgreSQL with 8 clients, its CA key in encrypted files and
on the token, alternating over rounds.

SoftHSM2 signs in software, so this measures what the PKCS#11 path costs, not what a hardware
module's signature costs (a network HSM adds a round trip per signature).
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.common import deployment, timed
from bench.issuance_core import concurrent_rate
from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.keys.backend import KeyType

LIBRARY = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "135790"
ROUNDS = 3
SIGNATURES = 1000
ISSUANCES = 800
CLIENTS = 8


def _token(directory: Path) -> str:
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # before this process loads the module
    label = f"bench-{secrets.token_hex(3)}"
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "24682468", "--pin", PIN],
                   check=True, capture_output=True)
    return label


def run(report: dict) -> None:
    section: dict[str, float | str] = {}
    if shutil.which("softhsm2-util") is None or not LIBRARY.is_file():
        section["skipped"] = "SoftHSM2 is not installed (Debian softhsm2; `make bench` installs it)"
        report["CA keys on a PKCS#11 token (SoftHSM2)"] = section
        return
    import pkcs11

    from fincert.keys.pkcs11 import Pkcs11KeyBackend

    data = secrets.token_bytes(900)  # about a tbsCertificate
    memory_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory(prefix="fincert-bench-hsm-") as directory:
        label = _token(Path(directory))
        backend = Pkcs11KeyBackend(LIBRARY, label, PIN)
        backend.generate("bench-rsa", KeyType.RSA2048)
        session = pkcs11.lib(str(LIBRARY)).get_token(token_label=label).open()  # shares the backend's login
        (raw_key,) = session.get_objects({pkcs11.Attribute.LABEL: "bench-rsa", pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})
        memory, raw, fincert = [], [], []
        for _ in range(ROUNDS):
            memory.append(timed(lambda: memory_key.sign(data, padding.PKCS1v15(), hashes.SHA256()), SIGNATURES))
            raw.append(timed(lambda: raw_key.sign(data, mechanism=pkcs11.Mechanism.SHA256_RSA_PKCS), SIGNATURES))
            fincert.append(timed(lambda: backend.sign("bench-rsa", data), SIGNATURES))
        session.close()
        section["RSA-2048 signatures/s in memory (cryptography), median of rounds"] = statistics.median(memory)
        section["RSA-2048 signatures/s on the token, raw python-pkcs11 loop"] = statistics.median(raw)
        section["RSA-2048 signatures/s on the token, fincert Pkcs11KeyBackend.sign"] = statistics.median(fincert)
        section["ratio Pkcs11KeyBackend : raw python-pkcs11 (median of rounds)"] = statistics.median(f / r for f, r in zip(fincert, raw))
        section["ratio token : memory, raw loops"] = statistics.median(r / m for r, m in zip(raw, memory))
        backend.close()

        subscriber = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        request = IssuanceRequest("financial", subscriber, SubjectIdentity("홍길동", "한빛은행"))
        token_settings = {"key_backend": "pkcs11", "pkcs11_library": LIBRARY, "pkcs11_token": label, "pkcs11_pin": PIN}
        rates: dict[str, list[float]] = {"file": [], "pkcs11": []}
        with deployment("postgresql") as on_files, deployment("postgresql", **token_settings) as on_token:
            for rt in (on_files, on_token):
                rt.ca.issue(request)  # warm up: key load or token login, connection pool
            for _ in range(ROUNDS):
                for name, rt in (("file", on_files), ("pkcs11", on_token)):
                    rates[name].append(concurrent_rate(lambda rt=rt: rt.ca.issue(request), clients=CLIENTS, count=ISSUANCES))
        section[f"issuance core on PostgreSQL, {CLIENTS} clients, CA key in encrypted files (certificates/s)"] = statistics.median(rates["file"])
        section[f"issuance core on PostgreSQL, {CLIENTS} clients, CA key on the token (certificates/s)"] = statistics.median(rates["pkcs11"])
        section["ratio token : files, issuance core (median of rounds)"] = statistics.median(
            t / f for t, f in zip(rates["pkcs11"], rates["file"])
        )
    report["CA keys on a PKCS#11 token (SoftHSM2)"] = section
