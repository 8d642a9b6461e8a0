"""Member login cost (issue 3): argon2id at the chosen parameters, and a whole login on each
backend, against argon2-cffi's library defaults (64 MiB) as the peer. Goal: a login < 50 ms."""

from __future__ import annotations

import time

import argon2

from bench.common import deployment, timed
from fincert.ra.passwords import PasswordHasher

COUNT = 40


def _ms(rate: float) -> float:
    return 1000.0 / rate


def run(report: dict) -> None:
    ours = PasswordHasher()
    stored = ours.hash("s3cret-pass")
    library = argon2.PasswordHasher()
    library_hash = library.hash("s3cret-pass")
    section: dict = {
        "argon2id verify, fincert parameters (m=19 MiB, t=2, p=1), ms": _ms(timed(lambda: ours.verify(stored, "s3cret-pass"), COUNT)),
        "argon2id verify, argon2-cffi defaults (64 MiB, t=3, p=4), ms": _ms(timed(lambda: library.verify(library_hash, "s3cret-pass"), 10)),
    }
    for backend in ("sqlite", "postgresql"):
        with deployment(backend) as rt:
            rt.institutions.ensure_samples()
            rt.registrar.register_member(
                "HANBIT", name="홍길동", rrn="900101-1234567", phone="010-1234-5678", email="h@example.com",
                login_id="hong90", password="s3cret-pass", actor="bench", online=True,
            )
            start = time.perf_counter()
            for _ in range(COUNT):
                rt.registrar.login("HANBIT", "hong90", "s3cret-pass", address="127.0.0.1")
            section[f"whole login on {backend} (throttle check, verify, session, audit), ms"] = (time.perf_counter() - start) * 1000 / COUNT
    section["goal (issue 3)"] = "< 50 ms per login, at or above the OWASP argon2id minimum"
    report["member login"] = section
