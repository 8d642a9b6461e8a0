"""Validation authority: the OCSP responder under load, against `openssl ocsp` and the raw signing
rate, and a CRL of 1,000,000 revoked certificates built from the database.

- fincert: `uvicorn` serving `create_app` (2 worker processes, as on a 2-core host) answering
  GET requests from the pre-signed store;
- peer: `openssl ocsp -index index.txt -port ... -rsigner -rkey -CA` with the same responder
  certificate and key and the same certificates (live-signs each request);
- raw: building and signing one response in-process (`va.ocsp.presign_single`, P-256).

The load generator is a separate Python process (asyncio, raw sockets, keep-alive where the
server allows it) sending a bounded number of requests over a fixed number of connections; it
shares the two cores with the server, as wrk would. All on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import random
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUESTS = 30_000
CONNECTIONS = 32
CERTIFICATES = 200
CRL_ENTRIES = int(os.environ.get("FINCERT_BENCH_CRL_ENTRIES", "1000000"))
PASSPHRASE = "bench-passphrase"
REPO = Path(__file__).resolve().parent.parent
#: Subprocesses import fincert from the checkout even when it is not installed in the venv.
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH")]))}


# -- load generator (runs in its own process) -------------------------------------------------


async def _client(host: str, port: int, paths: list[bytes], count: int, latencies: list[float], keep_alive: bool) -> None:
    reader = writer = None
    for i in range(count):
        path = paths[i % len(paths)]
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        request = b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\n" + (b"" if keep_alive else b"Connection: close\r\n") + b"\r\n"
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = None
        close = not keep_alive
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"unexpected response {head[:60]!r}")
        body = await reader.readexactly(length) if length is not None else await reader.read()
        if not body.startswith(b"\x30"):
            raise RuntimeError("not an OCSP response")
        latencies.append(time.perf_counter() - start)
        if close or length is None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _load(host: str, port: int, paths: list[bytes], total: int, connections: int, keep_alive: bool) -> dict:
    latencies: list[float] = []
    per = total // connections
    start = time.perf_counter()
    await asyncio.gather(*(_client(host, port, paths[i:] + paths[:i], per, latencies, keep_alive) for i in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "responses": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def load(port: int, paths: list[str], total: int, connections: int, keep_alive: bool) -> dict:
    """Run the load generator in a separate process; returns rate and latency percentiles."""
    args = json.dumps({"port": port, "paths": paths, "total": total, "connections": connections, "keep_alive": keep_alive})
    result = subprocess.run([sys.executable, __file__, "load"], input=args, capture_output=True, text=True, timeout=600, env=SUBPROCESS_ENV)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout)


# -- servers ---------------------------------------------------------------------------------


def make_app():  # uvicorn --factory bench.va:make_app
    """The status edge as a dedicated responder host runs it: the VA router, problem documents
    and the body limit of ``create_app``, without the other components' routers."""
    from fastapi import FastAPI

    from fincert.api import problems
    from fincert.api.limits import BodySizeLimit
    from fincert.api.routes import va
    from fincert.runtime import open_runtime

    app = FastAPI()
    app.state.runtime = open_runtime()
    problems.install(app)
    app.include_router(va.router)
    app.add_middleware(BodySizeLimit)
    return app


def serve(port: int, workers: int) -> None:
    """Run `workers` uvicorn processes on one listening socket (the launcher of the benchmark).

    uvicorn's own ``--workers`` binds its socket without naming the protocol, so asyncio does
    not set TCP_NODELAY on accepted connections and every keep-alive answer waits ~40 ms for a
    delayed ACK (measured: p50 44 ms). Binding the socket here with IPPROTO_TCP and forking the
    workers keeps Nagle off, as a production process manager would.
    """
    import multiprocessing

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)

    def worker() -> None:
        config = uvicorn.Config(make_app(), log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])

    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=worker) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read() if process.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def wait_for_ocsp(port: int, path: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the workers answer (the parent's socket accepts before they are ready)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not answer")


def stop(process: subprocess.Popen) -> None:
    """Stop a server and its worker processes (it leads its own process group)."""

    def signal_group(signum: int) -> None:
        try:
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
        except ProcessLookupError:
            pass

    signal_group(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        process.wait()


# -- the deployment ----------------------------------------------------------------------------


def prepare(home: Path, port: int) -> tuple[list[str], Path, dict]:
    """Issue certificates (some revoked), pre-sign their responses, write openssl's inputs."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509 import ocsp

    from fincert.ca.authority import IssuanceRequest, SubjectIdentity
    from fincert.config import Settings
    from fincert.runtime import open_runtime
    from fincert.va.ocsp import presign_single
    from fincert.va.responder import RESPONSE_VALIDITY

    rt = open_runtime(Settings(home=home, public_url=f"http://127.0.0.1:{port}", ca_passphrase=PASSPHRASE, log_level="WARNING"))
    raw: dict[str, float] = {}
    try:
        hierarchy = rt.initialize()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certs = [
            rt.ca.issue(IssuanceRequest("financial", key.public_key(), SubjectIdentity("홍길동", "한빛은행"))).certificate
            for _ in range(CERTIFICATES)
        ]
        for cert in certs[::10]:
            rt.ca.revoke(format(cert.serial_number, "x"), "keyCompromise", actor="bench")
        rt.va.ocsp.refresh()
        responder = rt.va.ocsp.responder()
        assert responder is not None

        # The raw rate: build + sign one response, in-process.
        now = dt.datetime.now(dt.timezone.utc)
        status = rt.va.ocsp.status(certs[1].serial_number)
        count = 3000
        start = time.perf_counter()
        for _ in range(count):
            presign_single(responder.signer, certs[1].serial_number, status, now, now + RESPONSE_VALIDITY)
        raw["raw build+sign in-process (P-256), responses/s"] = count / (time.perf_counter() - start)

        paths = [
            "/ocsp/" + base64.b64encode(
                ocsp.OCSPRequestBuilder().add_certificate(c, hierarchy.issuing, hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)
            ).decode().replace("/", "%2F").replace("+", "%2B")
            for c in certs
        ]

        # openssl's responder: the same responder certificate and key, an index of the same certificates.
        pem = serialization.Encoding.PEM
        (home / "issuing.pem").write_bytes(hierarchy.issuing.public_bytes(pem))
        (home / "responder.pem").write_bytes(responder.certificate.public_bytes(pem))
        label = rt.ca.active_service_certificate("ocsp-responder")[2]
        (home / "responder.key").write_bytes(
            rt.keys.private_key_for_library(label).private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        lines = []
        for cert in certs:
            expires = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
            found = rt.va.ocsp.status(cert.serial_number)
            serial = format(cert.serial_number, "X")
            serial = "0" + serial if len(serial) % 2 else serial
            subject = "/" + "/".join(a.rfc4514_string() for a in cert.subject)
            if found.status == "revoked":
                lines.append(f"R\t{expires}\t{found.revoked_at:%y%m%d%H%M%SZ},keyCompromise\t{serial}\tunknown\t{subject}")
            else:
                lines.append(f"V\t{expires}\t\t{serial}\tunknown\t{subject}")
        (home / "index.txt").write_text("\n".join(lines) + "\n")
    finally:
        rt.close()
    return paths, home, raw


def ocsp_section() -> dict:
    section: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="fincert-bench-va-") as tmp:
        home = Path(tmp)
        port = free_port()
        paths, home, raw = prepare(home, port)
        section.update(raw)
        env = {**SUBPROCESS_ENV, "FINCERT_HOME": str(home), "FINCERT_CA_PASSPHRASE": PASSPHRASE,
               "FINCERT_PUBLIC_URL": f"http://127.0.0.1:{port}", "FINCERT_LOG_LEVEL": "WARNING"}
        for workers in (1, 2):
            port = free_port()  # a fresh port: the previous round's workers may still be closing
            server = subprocess.Popen(
                [sys.executable, __file__, "serve", str(port), str(workers)],
                cwd=REPO, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
            )
            try:
                wait_for_port(port, server)
                wait_for_ocsp(port, paths[0], server)
                load(port, paths, 2000, 8, True)  # warm up: every worker loads its responder and memory
                result = load(port, paths, REQUESTS, CONNECTIONS, True)
            finally:
                stop(server)
            for key, value in result.items():
                section[f"fincert (uvicorn, {workers} worker{'s' if workers > 1 else ''}, pre-signed GET) {key}"] = value
            section[f"fincert {workers} worker(s) : raw build+sign"] = result["per_second"] / raw["raw build+sign in-process (P-256), responses/s"]
            last = result

        openssl_port = free_port()
        peer = subprocess.Popen(
            ["openssl", "ocsp", "-index", home / "index.txt", "-port", str(openssl_port), "-rsigner", home / "responder.pem",
             "-rkey", home / "responder.key", "-CA", home / "issuing.pem", "-nmin", "60", "-multi", "2"],
            # No new session: `-multi` makes openssl a process group leader itself, which fails in one.
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            wait_for_port(openssl_port, peer)
            # openssl's responder takes the base64 request at the root path.
            peer_paths = [p.removeprefix("/ocsp") for p in paths]
            peer_result = load(openssl_port, peer_paths, REQUESTS // 4, CONNECTIONS, False)
        finally:
            stop(peer)
        for key, value in peer_result.items():
            section[f"openssl ocsp -index (-multi 2, live signing) {key}"] = value
        section["ratio fincert (2 workers) : openssl ocsp"] = last["per_second"] / peer_result["per_second"]
    return section


# -- CRL of 1,000,000 entries --------------------------------------------------------------------


def fill(url: str, home: str) -> None:
    """Put CRL_ENTRIES revoked certificate rows in the database (run in a subprocess)."""
    from sqlalchemy import insert

    from fincert.config import Settings
    from fincert.runtime import open_runtime
    from fincert.storage.models import Certificate

    rt = open_runtime(Settings(home=Path(home), database_url=url, ca_passphrase=PASSPHRASE, log_level="WARNING"))
    hierarchy = rt.initialize()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    reasons = ["keyCompromise", "superseded", "cessationOfOperation", "unspecified", "affiliationChanged"]
    batch = 50_000
    for start in range(0, CRL_ENTRIES, batch):
        rows = [
            {
                "serial": format(secrets.randbits(126) | (1 << 126), "x"), "issuer_id": hierarchy.issuing_id, "status": "issued",
                "product": "joint", "subject": "CN=bench", "public_key_sha256": "0" * 64, "request_json": "{}",
                "crl_partition": i // 20_000, "not_before": now, "not_after": now + dt.timedelta(days=365),
                "created_at": now, "issued_at": now, "revoked_at": now - dt.timedelta(seconds=i % 86_400),
                "revocation_reason": reasons[i % len(reasons)],
            }
            for i in range(start, min(start + batch, CRL_ENTRIES))
        ]
        with rt.db.transaction() as session:
            session.execute(insert(Certificate), rows)
    rt.close()


def regenerate(url: str, home: str) -> None:
    """Time one publication through the CRL publisher and report the process's peak memory."""
    from fincert.config import Settings
    from fincert.runtime import open_runtime

    rt = open_runtime(Settings(home=Path(home), database_url=url, ca_passphrase=PASSPHRASE, log_level="WARNING"))
    rt.ca.hierarchy()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    publication = rt.va.crl.publish()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rt.close()
    print(json.dumps({
        "seconds": elapsed, "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024, "revoked": publication.revoked,
        "partitions": publication.partitions, "full_crl_mb": publication.full_crl_bytes / 1e6,
        "phases": publication.timings,
    }))


def crl_section() -> dict:
    from bench.common import PG_ADMIN_DSN

    import psycopg

    section: dict[str, object] = {}
    for backend in ("sqlite", "postgresql"):
        with tempfile.TemporaryDirectory(prefix="fincert-bench-crl-") as home:
            dbname = None
            if backend == "sqlite":
                url = f"sqlite:///{home}/crl.db"
            else:
                dbname = f"fincert_bench_{secrets.token_hex(4)}"
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{dbname}"')
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
            try:
                for step in ("fill", "regenerate"):
                    result = subprocess.run(
                        [sys.executable, __file__, step, url, home], capture_output=True, text=True, timeout=1800, env=SUBPROCESS_ENV
                    )
                    if result.returncode != 0:
                        raise RuntimeError(result.stderr[-2000:])
                measured = json.loads(result.stdout.strip().splitlines()[-1])
            finally:
                if dbname:
                    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        prefix = f"CRL of {measured['revoked']:,} revoked ({backend}), {measured['partitions']} partitions + full"
        section[f"{prefix}: seconds"] = measured["seconds"]
        section[f"{prefix}: peak RSS MB (whole process)"] = measured["peak_rss_mb"]
        section[f"{prefix}: full CRL MB"] = measured["full_crl_mb"]
        for phase, seconds in measured["phases"].items():
            section[f"{prefix}: phase {phase} seconds"] = seconds
    return section


def run(report: dict) -> None:
    report["validation authority: OCSP (responses/s, latency ms)"] = ocsp_section()
    report["validation authority: CRL regeneration"] = crl_section()


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(REPO / "src")]
    command = sys.argv[1]
    if command == "load":
        job = json.loads(sys.stdin.read())
        paths = [p.encode() for p in job["paths"]]
        random.Random(5).shuffle(paths)
        print(json.dumps(asyncio.run(_load("127.0.0.1", job["port"], paths, job["total"], job["connections"], job["keep_alive"]))))
    elif command == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    elif command == "fill":
        fill(sys.argv[2], sys.argv[3])
    elif command == "regenerate":
        regenerate(sys.argv[2], sys.argv[3])
