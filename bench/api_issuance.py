"""Issuance through the HTTP API, from a verified application to a stored certificate (issue 4).

Prepared beforehand, outside the timing: N members (one institution each round-robin, distinct
resident numbers), each with an application opened and identity-verified (login + OTP) through
the registrar, which yields the reference number and authorization code; and client CSRs from
a pool of RSA-2048 keys (key generation is the holder's cost, not the service's), with a fresh
``randomNum`` per request.

Timed: ``POST /api/v1/certificates/collect`` (file storage: CSR + randomNum) from concurrent
keep-alive clients against a real uvicorn server on loopback (2 worker processes, the app built
by ``app_factory`` from FINCERT_* variables), on PostgreSQL. Every response must be a 200 with a
certificate. Compared with the raw ``cryptography`` build+sign loop in the same run: the two
alternate over ROUNDS rounds (this machine's speed drifts by tens of percent within a minute),
each ratio is taken against its own round's raw rate, and the medians are reported.

A second peer runs in the same rounds: ``bench/stack_floor.py``, the least a persisted issuance
over this stack can do (uvicorn with the same workers, a FastAPI route on the same path, the same
bodies; CSR check, build+sign, one INSERT on raw psycopg, nothing else a CA must do). Its rate
bounds what fincert can reach on these cores, so fincert : floor says how much of the stack's
ceiling the CA's own work leaves.

A third peer, also in the same rounds: ``bench/domain_ceiling.py``, the same collections through
the lifecycle directly, with no HTTP (as many processes as workers, the clients as threads). Its
rate bounds what the API can reach with the CA's path as it is, so fincert : that says what the
web layer and the load generator cost.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bench import proc_cpu
from bench.common import deployment, timed
from fincert.ra.verifiers.base import make_evidence

ROUNDS = 3
PER_ROUND = 400
CLIENTS = 8
WORKERS = 2
KEY_POOL = 50


def app_factory():
    """The API app of the deployment named by FINCERT_* variables (for ``uvicorn --factory``)."""
    from fincert.api.app import create_app
    from fincert.config import Settings
    from fincert.runtime import open_runtime

    runtime = open_runtime(Settings())
    return create_app(runtime)


def _raw_build_sign_rate(count: int) -> float:
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = dt.datetime.now(dt.timezone.utc)

    def build_sign() -> None:
        (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(subject_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(issuer_key, hashes.SHA256())
        )

    return timed(build_sign, count)


def _csr(key: rsa.RSAPrivateKey) -> str:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def _prepare(rt, count: int) -> list[tuple[str, str]]:
    """Verified applications: (reference number, authorization code) each."""
    rt.institutions.ensure_samples()
    codes = [i.code for i in rt.institutions.list()]
    registrar, lifecycle = rt.registrar, rt.lifecycle
    collections = []
    for i in range(count):
        rrn = f"{70 + i // 3000 % 30:02d}{1 + i // 250 % 12:02d}{1 + i % 28:02d}-1{secrets.randbelow(10**6):06d}"
        member = registrar.register_member(
            codes[i % len(codes)], name="홍길동", rrn=rrn, phone="010-1234-5678", email="h@example.com", actor="bench"
        ).id
        otp = registrar.enroll(member, "otp", actor="bench")
        application = lifecycle.open_application(member, "issue", product="joint", actor="bench")
        challenge = registrar.start_verification(member, "otp", actor="bench")
        evidence = [
            make_evidence("login", rt.clock.now(), credential_id=str(member)),
            registrar.complete_verification(
                member, "otp", challenge.challenge_id, pyotp.TOTP(otp["secret"]).at(rt.clock.now()), actor="bench"
            ),
        ]
        collection = lifecycle.verify(application.id, evidence, actor="bench")
        collections.append((collection.reference_number, collection.authorization_code))
    return collections


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(rt, port: int, factory: str = "bench.api_issuance:app_factory") -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        FINCERT_HOME=str(rt.settings.home),
        FINCERT_DATABASE_URL=rt.settings.database_url,
        FINCERT_BENCH_FLOOR_DSN=rt.settings.database_url.replace("postgresql+psycopg://", "postgresql://"),
        FINCERT_CA_PASSPHRASE="bench-passphrase",
        FINCERT_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), *sys.path]),
    )
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", factory, "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
            "--log-level", "warning", "--no-access-log",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the bench server did not start")


def _collect_all(port: int, bodies: list[bytes]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(bodies))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            start = time.perf_counter()
            conn.request("POST", "/api/v1/certificates/collect", body, {"content-type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200 or b'"serial"' not in payload:
                with lock:
                    failures.append(f"{response.status}: {payload[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} collections failed, e.g. {failures[0]}")
    return len(bodies) / elapsed, latencies


def _collect_measured(port: int, server_pid: int, bodies: list[bytes]) -> tuple[float, list[float], float | None]:
    """``_collect_all`` plus the CPU per collection, in ms, of the server's processes and every
    PostgreSQL backend (None without ``/proc``): steadier than the rate on a drifting machine."""
    before = (proc_cpu.tree_seconds(server_pid), proc_cpu.postgres_backend_seconds())
    rate, latencies = _collect_all(port, bodies)
    after = (proc_cpu.tree_seconds(server_pid), proc_cpu.postgres_backend_seconds())
    if None in before or None in after:
        return rate, latencies, None
    used = (after[0] - before[0]) + (after[1] - before[1])  # type: ignore[operator]
    return rate, latencies, used / len(bodies) * 1000


def run(report: dict) -> None:
    from bench import domain_ceiling  # it reuses this module's preparation and settings

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(KEY_POOL)]
    csrs = [_csr(k) for k in keys]
    section: dict[str, object] = {}
    with deployment("postgresql") as rt:
        started = time.perf_counter()
        per_ceiling_round = PER_ROUND + domain_ceiling.WARM * WORKERS
        collections = _prepare(rt, CLIENTS * 2 + ROUNDS * PER_ROUND + ROUNDS * per_ceiling_round)
        section["preparation (verified applications), s"] = time.perf_counter() - started
        ceiling_collections = collections[CLIENTS * 2 + ROUNDS * PER_ROUND :]
        collections = collections[: CLIENTS * 2 + ROUNDS * PER_ROUND]
        bodies = [
            json.dumps(
                {
                    "reference_number": ref,
                    "authorization_code": code,
                    "storage": "file",
                    "csr": csrs[i % KEY_POOL],
                    "random_num": secrets.token_hex(20),
                }
            ).encode()
            for i, (ref, code) in enumerate(collections)
        ]
        port, floor_port = _free_port(), _free_port()
        server = _start_server(rt, port)
        floor = _start_server(rt, floor_port, "bench.stack_floor:make_app")
        raws, rates, ratios, latencies, floors, floor_ratios = [], [], [], [], [], []
        ceilings: list[float] = []
        ceiling_ratios: list[float] = []
        cpu_api: list[float] = []
        cpu_floor: list[float] = []
        try:
            warm, bodies = bodies[: CLIENTS * 2], bodies[CLIENTS * 2 :]
            _collect_all(port, warm)  # connection pools, imports, CA key load in each worker
            _collect_all(floor_port, warm)  # the floor neither knows nor checks the applications
            for round_ in range(ROUNDS):
                raw = _raw_build_sign_rate(1000)
                round_bodies = bodies[round_ * PER_ROUND : (round_ + 1) * PER_ROUND]
                floor_rate, _, floor_cpu = _collect_measured(floor_port, floor.pid, round_bodies)
                api_rate, round_latencies, api_cpu = _collect_measured(port, server.pid, round_bodies)
                ceiling_rate, _, _, _ = domain_ceiling.measure(
                    rt, ceiling_collections[round_ * per_ceiling_round : (round_ + 1) * per_ceiling_round],
                    [c.encode() for c in csrs],
                )
                ceilings.append(ceiling_rate)
                ceiling_ratios.append(api_rate / ceiling_rate)
                if api_cpu is not None and floor_cpu is not None:
                    cpu_api.append(api_cpu)
                    cpu_floor.append(floor_cpu)
                raws.append(raw)
                floors.append(floor_rate)
                rates.append(api_rate)
                ratios.append(api_rate / raw)
                floor_ratios.append(api_rate / floor_rate)
                latencies.extend(round_latencies)
        finally:
            for process in (server, floor):
                process.terminate()
                process.wait(timeout=30)
        latencies.sort()
        section["raw cryptography build+sign (RSA-2048), certificates/s (median of rounds)"] = statistics.median(raws)
        section[f"API collect on PostgreSQL, {CLIENTS} clients, {WORKERS} workers, certificates/s (median of rounds)"] = statistics.median(rates)
        section["API collect, certificates/s per round"] = ", ".join(f"{r:,.0f}" for r in rates)
        section["stack floor (bench/stack_floor.py), certificates/s (median of rounds)"] = statistics.median(floors)
        section["stack floor, certificates/s per round"] = ", ".join(f"{r:,.0f}" for r in floors)
        section["ratio API : stack floor (median of per-round ratios)"] = statistics.median(floor_ratios)
        section["CA path without HTTP (bench/domain_ceiling.py), certificates/s (median of rounds)"] = statistics.median(ceilings)
        section["CA path without HTTP, certificates/s per round"] = ", ".join(f"{r:,.0f}" for r in ceilings)
        section["ratio API : CA path without HTTP (median of per-round ratios)"] = statistics.median(ceiling_ratios)
        section["API collect latency p50, ms"] = statistics.median(latencies) * 1000
        section["API collect latency p99, ms"] = latencies[int(len(latencies) * 0.99) - 1] * 1000
        section["ratio API : raw (median of per-round ratios)"] = statistics.median(ratios)
        if cpu_api:
            cores = os.cpu_count() or 1
            api_ms, floor_ms = statistics.median(cpu_api), statistics.median(cpu_floor)
            section["CPU per collection, API (workers + PostgreSQL), ms (median of rounds)"] = api_ms
            section["CPU per collection, stack floor (server + PostgreSQL), ms (median of rounds)"] = floor_ms
            section[f"API rate if all {cores} cores did nothing else, certificates/s"] = cores * 1000 / api_ms
            section[f"stack floor rate if all {cores} cores did nothing else, certificates/s"] = cores * 1000 / floor_ms
        section["goal (issue 4)"] = ">= 500 certificates/s"
    report["issuance through the API (verified application -> stored certificate)"] = section


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    out: dict = {}
    run(out)
    print(json.dumps(out, indent=2, ensure_ascii=False))
