"""Validation authority: OCSP responders under load, against `openssl ocsp` and the raw signing
rate, and a CRL of 1,000,000 revoked certificates built from the database.

- fincert, dedicated: `fincert ocsp serve` (va/ocsp_server.py: uvloop + httptools, N worker
  processes on SO_REUSEPORT sockets) answering GET requests from the pre-signed store;
- fincert, web stack: uvicorn (httptools/uvloop) serving the VA router of the FastAPI app, the
  same answers through ASGI, for comparison;
- peer: `openssl ocsp -index index.txt -port ... -rsigner -rkey -CA -multi 2` with the same
  responder certificate and key and the same certificates (live-signs each request, closes
  each connection);
- raw: building and signing one response in-process (`va.ocsp.presign_single`, P-256).

The load generator is wrk (C, epoll; the `wrk` Debian package, which `make bench` installs):
one thread, a fixed number of connections for a fixed time, cycling through the request paths,
with bench/wrk_ocsp.lua checking every response (HTTP 200, OCSP content type, a successful
OCSPResponse) — one bad response or socket error fails the run. Every server is measured in
ROUNDS alternating rounds (the best kept), then the two 2-worker fincert servers once more,
each alone, paced to ~10,000 requests/s (latency at the goal's rate, not at saturation).
Without wrk the Python asyncio generator below runs instead (bounded by a request count) and
says so; it costs the server more of the two shared cores. The CPU time of the server
processes, of the load generator and of anything else is measured over each run. All on
loopback.
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
import shutil
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
#: wrk: one thread (it uses well under one core at these rates), CONNECTIONS connections, this long.
WRK_SECONDS = 10
WRK_THREADS = 1
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_ocsp.lua"
#: The paced runs measure latency near the goal's rate (10,000/s) rather than at saturation:
#: each connection waits this long after every response (wrk counts it in whole milliseconds;
#: with CONNECTIONS connections it comes to ~10,000-11,000 requests/s here).
PACE_MS = 2
#: Each server is measured this many times, alternating with the others; the best round counts.
ROUNDS = 2
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


def serve_uvicorn(port: int, workers: int) -> None:
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
        count = 10_000
        busy, own, start = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        for _ in range(count):
            presign_single(responder.signer, certs[1].serial_number, status, now, now + RESPONSE_VALIDITY)
        raw["raw build+sign in-process (P-256), responses/s"] = count / (time.perf_counter() - start)
        raw["raw build+sign: CPU s of other processes meanwhile"] = max(0.0, busy_cpu_seconds() - busy - (time.process_time() - own))

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


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group ``pgid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # after the command: state, ppid, pgrp, ..., utime (11), stime (12)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(port: int, paths_file: Path, seconds: int, connections: int, *, pace_ms: float | None = None) -> dict:
    """One bounded wrk run through bench/wrk_ocsp.lua; raises if any response was not a good OCSP answer.

    ``pace_ms``: each connection waits this long between a response and its next request.
    """
    env = {**os.environ, "FINCERT_WRK_PATHS": str(paths_file)}
    if pace_ms is not None:
        env["FINCERT_WRK_PACE_MS"] = str(pace_ms)
    result = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_SCRIPT),
         f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, timeout=seconds + 120,
    )
    line = next((line for line in result.stdout.splitlines() if line.startswith("FINCERT-WRK ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
    data = json.loads(line.removeprefix("FINCERT-WRK "))
    errors = {kind: count for kind, count in data["errors"].items() if count}
    if data["bad"] or errors or not data["ok"]:
        raise RuntimeError(
            f"wrk: {data['ok']} good responses, {data['bad']} bad (first: {data['bad_sample'] or '-'}), socket errors {errors}"
        )
    return {
        "responses": data["ok"],
        "per_second": data["ok"] / data["duration_s"],
        "p50_ms": data["p50_ms"],
        "p99_ms": data["p99_ms"],
    }


class LoadGenerator:
    """wrk when installed, else the Python generator; the same one for every server of a run."""

    def __init__(self, home: Path) -> None:
        self.wrk = shutil.which("wrk") is not None
        self.home = home
        self._files: dict[tuple[str, ...], Path] = {}
        if self.wrk:
            version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("[", 1)[0].strip()
            self.description = f"{version}, {WRK_THREADS} thread, {CONNECTIONS} connections, {WRK_SECONDS} s per server"
        else:
            self.description = (
                f"Python asyncio generator (wrk NOT FOUND; `make bench` installs it), {REQUESTS:,} requests over "
                f"{CONNECTIONS} connections; it takes more of the shared cores, so rates are lower"
            )
            print(f"  load generator: {self.description}", flush=True)

    def _paths_file(self, paths: list[str]) -> Path:
        key = tuple(paths)
        if key not in self._files:
            self._files[key] = self.home / f"wrk-paths-{len(self._files)}.txt"
            self._files[key].write_text("\n".join(paths) + "\n")
        return self._files[key]

    def warm_up(self, port: int, paths: list[str], *, keep_alive: bool) -> None:
        """Every worker loads its responder and memory (never for openssl: see ocsp_section)."""
        if self.wrk:
            run_wrk(port, self._paths_file(paths), 2, 8)
        else:
            load(port, paths, 2000, 8, keep_alive)

    def measure(self, port: int, paths: list[str], server_group: int, *, keep_alive: bool, pace_ms: float | None = None) -> dict:
        """One bounded run; adds the CPU time the server, the generator and everything else on
        the machine used during it. ``pace_ms`` (wrk only) paces each connection."""
        before = group_cpu_seconds(server_group), children_cpu_seconds(), busy_cpu_seconds()
        if self.wrk:
            result = run_wrk(port, self._paths_file(paths), WRK_SECONDS, CONNECTIONS, pace_ms=pace_ms)
        else:
            result = load(port, paths, REQUESTS if keep_alive else REQUESTS // 4, CONNECTIONS, keep_alive)
        server_cpu = group_cpu_seconds(server_group) - before[0]
        load_cpu = children_cpu_seconds() - before[1]
        busy = busy_cpu_seconds() - before[2]
        result["server CPU us/response"] = server_cpu / result["responses"] * 1e6
        result["load generator CPU us/response"] = load_cpu / result["responses"] * 1e6
        # Another process busy during the run takes cores from both: shown so a run can be judged.
        result["CPU s of other processes during the run"] = max(0.0, busy - server_cpu - load_cpu)
        return result


def start_openssl(home: Path, paths: list[str]) -> tuple[subprocess.Popen, int]:
    """A fresh `openssl ocsp` responder, ready when it has answered a real request.

    Never probed with a bare connect, never warmed up, never reused after a run: a connection
    closed before its request is sent (a port probe, or wrk stopping at the end of a run) leaves
    an `openssl ocsp -multi` child spinning at 100% CPU (OpenSSL 3.0.19), which would take a core
    from whatever runs next.
    """
    port = free_port()
    peer = subprocess.Popen(
        ["openssl", "ocsp", "-index", home / "index.txt", "-port", str(port), "-rsigner", home / "responder.pem",
         "-rkey", home / "responder.key", "-CA", home / "issuing.pem", "-nmin", "60", "-multi", "2"],
        # No new session: `-multi` makes openssl a process group leader itself, which fails in one.
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_ocsp(port, paths[0], peer)
    except BaseException:
        stop(peer)
        raise
    return peer, port


def ocsp_section() -> dict:
    """Every server under the same load, in ROUNDS alternating rounds; each server's best round
    is reported (the shared machine's speed drifts by tens of percent within minutes)."""
    section: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="fincert-bench-va-") as tmp:
        home = Path(tmp)
        port = free_port()
        paths, home, raw = prepare(home, port)
        raw_rate = raw["raw build+sign in-process (P-256), responses/s"]
        section.update(raw)
        generator = LoadGenerator(home)
        section["load generator"] = generator.description + f", best of {ROUNDS} alternating rounds"
        env = {**SUBPROCESS_ENV, "FINCERT_HOME": str(home), "FINCERT_CA_PASSPHRASE": PASSPHRASE,
               "FINCERT_PUBLIC_URL": f"http://127.0.0.1:{port}", "FINCERT_LOG_LEVEL": "WARNING"}
        commands = {
            **{f"fincert ocsp serve ({n} worker{'s' if n > 1 else ''})": [sys.executable, "-m", "fincert", "ocsp", "serve", "--workers", str(n), "--port"]
               for n in (1, 2)},
            **{f"fincert uvicorn/FastAPI ({n} worker{'s' if n > 1 else ''})": [sys.executable, __file__, "serve-uvicorn", str(n)]
               for n in (1, 2)},
        }
        peer_name = "openssl ocsp -index (-multi 2, live signing, a connection per request)"
        # openssl's responder takes the base64 request at the root path.
        peer_paths = [p.removeprefix("/ocsp") for p in paths]
        rounds: dict[str, list[dict]] = {name: [] for name in [*commands, peer_name]}
        servers: dict[str, tuple[subprocess.Popen, int]] = {}
        try:
            # The fincert servers stay up (idle between their runs); each is warmed up once.
            for name, command in commands.items():
                port = free_port()
                server = subprocess.Popen(
                    [*command, str(port)], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
                )
                servers[name] = (server, port)
                wait_for_ocsp(port, paths[0], server)
                generator.warm_up(port, paths, keep_alive=True)
            for number in range(1, ROUNDS + 1):
                for name, (server, port) in servers.items():
                    result = generator.measure(port, paths, server.pid, keep_alive=True)
                    rounds[name].append(result)
                    print(f"  round {number} {name}: {result['per_second']:,.0f}/s p99 {result['p99_ms']:.1f} ms", flush=True)
                peer, peer_port = start_openssl(home, peer_paths)
                try:
                    result = generator.measure(peer_port, peer_paths, peer.pid, keep_alive=False)
                finally:
                    stop(peer)
                rounds[peer_name].append(result)
                print(f"  round {number} openssl ocsp: {result['per_second']:,.0f}/s p99 {result['p99_ms']:.1f} ms", flush=True)
            if generator.wrk:
                # Each paced run with its server alone on the machine (the others stopped first).
                paced = ("fincert uvicorn/FastAPI (2 workers)", "fincert ocsp serve (2 workers)")
                for name in [n for n in servers if n not in paced]:
                    stop(servers.pop(name)[0])
                for name in paced:
                    server, port = servers[name]
                    result = generator.measure(port, paths, server.pid, keep_alive=True, pace_ms=PACE_MS)
                    stop(servers.pop(name)[0])
                    for key, value in result.items():
                        section[f"{name}, paced ({PACE_MS} ms between a connection's requests): {key}"] = value
                    print(f"  paced {name}: {result['per_second']:,.0f}/s p99 {result['p99_ms']:.1f} ms", flush=True)
        finally:
            for server, _ in servers.values():
                stop(server)
        best: dict[str, dict] = {}
        for name, results in rounds.items():
            best[name] = max(results, key=lambda r: r["per_second"])
            label = name if name == peer_name else f"{name}, pre-signed GET"
            for key, value in best[name].items():
                section[f"{label}: {key}"] = value
            section[f"{label}: responses/s in each round"] = ", ".join(f"{r['per_second']:,.0f}" for r in results)
        ours = best["fincert ocsp serve (2 workers)"]
        web = best["fincert uvicorn/FastAPI (2 workers)"]
        peer = best[peer_name]
        section["ratio fincert ocsp serve (2 workers) : openssl ocsp"] = ours["per_second"] / peer["per_second"]
        section["ratio fincert uvicorn/FastAPI (2 workers) : openssl ocsp"] = web["per_second"] / peer["per_second"]
        section["ratio fincert ocsp serve : uvicorn/FastAPI (2 workers each)"] = ours["per_second"] / web["per_second"]
        section["ratio fincert ocsp serve (2 workers) : raw build+sign"] = ours["per_second"] / raw_rate
        section["ratio of server CPU per response, openssl ocsp : fincert ocsp serve (2 workers)"] = (
            peer["server CPU us/response"] / ours["server CPU us/response"]
        )
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
    elif command == "serve-uvicorn":
        serve_uvicorn(int(sys.argv[3]), int(sys.argv[2]))
    elif command == "fill":
        fill(sys.argv[2], sys.argv[3])
    elif command == "regenerate":
        regenerate(sys.argv[2], sys.argv[3])
