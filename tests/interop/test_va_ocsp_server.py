"""The dedicated OCSP responder (``fincert ocsp serve``) as a real process with two workers:
``openssl ocsp -url`` against it, the same answers and caching headers as the web app's /ocsp
routes, HTTP/1.1 keep-alive and pipelining, HTTP/1.0, limits (413/414/431/400), 404/405,
malformed requests, a worker killed and replaced, and graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from sqlalchemy import select

from fincert.api.app import create_app
from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.config import Settings
from fincert.runtime import Runtime, open_runtime
from fincert.storage.models_va import OcspResponseRecord
from fincert.va.ocsp import parse_response_statuses

pytestmark = pytest.mark.interop

PEM = serialization.Encoding.PEM
PASSPHRASE = "ocsp-server-test-passphrase"
REPO_SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Responder:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise


def start_responder(
    home: Path, public_url: str, port: int, *, workers: int = 2, database_url: str | None = None, upkeep: bool = False
) -> Responder:
    """``fincert ocsp serve`` in its own process group, ready when it answers an OCSP request."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update(
        FINCERT_HOME=str(home), FINCERT_CA_PASSPHRASE=PASSPHRASE, FINCERT_PUBLIC_URL=public_url, FINCERT_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_SRC), env.get("PYTHONPATH")])),
    )
    if database_url is not None:
        env["FINCERT_DATABASE_URL"] = database_url
    log = home / f"ocsp-serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fincert", "ocsp", "serve", "--port", str(port), "--workers", str(workers),
             "--upkeep" if upkeep else "--no-upkeep"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    responder = Responder(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"fincert ocsp serve exited: {log.read_text()}"
        try:
            if httpx.get(f"{responder.base}/ocsp/MAMCAQE", timeout=5).status_code == 200:
                return responder
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    responder.stop(signal.SIGKILL)
    raise AssertionError(f"fincert ocsp serve did not answer: {log.read_text()}")


@dataclass
class Live:
    runtime: Runtime
    responder: Responder
    dir: Path
    files: dict[str, Path]
    certs: dict[str, x509.Certificate]

    @property
    def base(self) -> str:
        return self.responder.base


def pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(PEM) for c in certs))
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("ocsp-server")
    port = free_port()
    # The certificates' AIA names this responder, as an operator routes /ocsp to it.
    public_url = f"http://127.0.0.1:{port}"
    rt = open_runtime(Settings(home=directory / "home", public_url=public_url, ca_passphrase=PASSPHRASE, log_level="WARNING"))
    hierarchy = rt.initialize()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certs = {
        name: rt.ca.issue(IssuanceRequest("financial", key.public_key(), SubjectIdentity("박지훈", "누리증권"))).certificate
        for name in ("good", "revoked", "other")
    }
    rt.ca.revoke(format(certs["revoked"].serial_number, "x"), "keyCompromise", actor="operator:test")
    rt.va.ocsp.refresh()
    files = {
        "issuing": pem(directory / "issuing.pem", hierarchy.issuing),
        "chain": pem(directory / "chain.pem", hierarchy.root, hierarchy.issuing),
        **{name: pem(directory / f"{name}.pem", cert) for name, cert in certs.items()},
    }
    responder = start_responder(directory / "home", public_url, port)
    try:
        yield Live(rt, responder, directory, files, certs)
    finally:
        code = responder.stop()
        rt.close()
        assert code == 0, responder.log.read_text()


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


def ask(live: Live, *targets: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``openssl ocsp -url`` (the certificates' AIA URL) for certificates or ``0x`` serials."""
    aia = live.certs["good"].extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    url = next(d.access_location.value for d in aia if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP)
    assert url == f"{live.base}/ocsp"
    args: list[str | Path] = ["ocsp", "-url", url, "-issuer", live.files["issuing"], "-CAfile", live.files["chain"]]
    for target in targets:
        args += ["-serial", target] if target.startswith("0x") else ["-cert", live.files[target]]
    return openssl(*args, *extra)


def request_der(live: Live, *names: str, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder()
    for name in names:
        builder = builder.add_certificate(live.certs[name], live.runtime.ca.hierarchy().issuing, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def get_path(der: bytes) -> str:
    return "/ocsp/" + httpx.URL(base64.b64encode(der).decode()).raw_path.decode().replace("/", "%2F")


class RawConnection:
    """A client socket that sends raw bytes and parses the HTTP answers it gets back."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection"
        self.buffer += chunk

    def read(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self, wait: float = 2) -> bool:
        """Whether the server closes the connection within ``wait`` seconds."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except (TimeoutError, socket.timeout):
            return False
        except ConnectionResetError:
            return True


def exchange(port: int, data: bytes, *, responses: int = 1) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Send raw bytes on a new connection; parse ``responses`` answers; report whether the server closed."""
    with RawConnection(port) as conn:
        conn.sock.sendall(data)
        answers = [conn.read() for _ in range(responses)]
        return answers, conn.closed()


# -- relying parties: openssl ocsp -url ------------------------------------------------------------


def test_openssl_gets_good_live_signed_with_its_nonce(live: Live) -> None:
    result = ask(live, "good", extra=("-resp_text",))
    assert result.returncode == 0, result.stderr
    assert f"{live.files['good']}: good" in result.stdout
    assert "Response verify OK" in result.stderr and "WARNING" not in result.stderr
    assert "OCSP Nonce" in result.stdout  # a nonce request is signed live, with the nonce echoed


def test_openssl_gets_revoked_with_reason_and_unknown_for_a_serial_never_issued(live: Live) -> None:
    revoked = ask(live, "revoked", extra=("-no_nonce",))
    assert revoked.returncode == 0, revoked.stderr
    assert "Response verify OK" in revoked.stderr
    assert f"{live.files['revoked']}: revoked" in revoked.stdout and "Reason: keyCompromise" in revoked.stdout
    unknown = ask(live, "0x1234567890abcdef")
    assert unknown.returncode == 0 and "0x1234567890abcdef: unknown" in unknown.stdout
    assert "Response verify OK" in unknown.stderr


def test_a_multi_certificate_request_is_answered_for_all(live: Live) -> None:
    result = ask(live, "good", "revoked", "0xdeadbeef")
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr and "WARNING" not in result.stderr
    assert f"{live.files['good']}: good" in result.stdout
    assert f"{live.files['revoked']}: revoked" in result.stdout
    assert "0xdeadbeef: unknown" in result.stdout


def test_nonce_less_answers_are_the_presigned_responses(live: Live) -> None:
    out = live.dir / "presigned.der"
    result = ask(live, "other", extra=("-no_nonce", "-respout", str(out)))
    assert "Response verify OK" in result.stderr and f"{live.files['other']}: good" in result.stdout
    with live.runtime.db.reader() as session:
        stored = session.execute(
            select(OcspResponseRecord.der).where(OcspResponseRecord.serial == format(live.certs["other"].serial_number, "x"))
        ).scalar_one()
    assert out.read_bytes() == stored


def test_a_revocation_made_by_another_process_reaches_the_responder(live: Live) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = live.runtime.ca.issue(IssuanceRequest("joint", key.public_key(), SubjectIdentity("정하늘", "누리증권"))).certificate
    path = pem(live.dir / "later.pem", cert)
    args = ("ocsp", "-url", f"{live.base}/ocsp", "-issuer", live.files["issuing"], "-CAfile", live.files["chain"], "-cert", path, "-no_nonce")
    assert f"{path}: good" in openssl(*args).stdout  # signed on the miss, now held in the workers' memory
    live.runtime.ca.revoke(format(cert.serial_number, "x"), "keyCompromise", actor="operator:test")  # re-signed here
    # The workers see it when their copy ages out (MEMORY_TTL, then one reload in the background).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = openssl(*args)
        assert "Response verify OK" in result.stderr, result.stderr
        if f"{path}: revoked" in result.stdout:
            break
        time.sleep(0.5)
    assert f"{path}: revoked" in result.stdout and "Reason: keyCompromise" in result.stdout


# -- the same answers and headers as the web app's routes -------------------------------------------


def test_get_and_post_answers_match_the_web_apps_routes(live: Live) -> None:
    der = request_der(live, "good")
    path = get_path(der)
    ours_get = httpx.get(live.base + path)
    ours_post = httpx.post(f"{live.base}/ocsp", content=der, headers={"content-type": "application/ocsp-request"})
    with TestClient(create_app(live.runtime)) as app:
        theirs_get = app.get(path)
        theirs_post = app.post("/ocsp", content=der, headers={"content-type": "application/ocsp-request"})
    for ours, theirs in ((ours_get, theirs_get), (ours_post, theirs_post)):
        assert ours.status_code == theirs.status_code == 200
        assert ours.content == theirs.content  # the same pre-signed response
        for header in ("content-type", "etag", "last-modified", "expires"):
            assert ours.headers[header] == theirs.headers[header], header
        ours_cache, theirs_cache = ours.headers["cache-control"], theirs.headers["cache-control"]
        assert ours_cache.split("max-age=")[0] == theirs_cache.split("max-age=")[0] == "public, "
        assert ours_cache.split(",", 2)[2] == theirs_cache.split(",", 2)[2] == " no-transform, must-revalidate"
        assert abs(int(ours_cache.split("max-age=")[1].split(",")[0]) - int(theirs_cache.split("max-age=")[1].split(",")[0])) <= 2
    parsed = ocsp.load_der_ocsp_response(ours_get.content)
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD and parsed.serial_number == live.certs["good"].serial_number


def test_every_base64_spelling_of_a_get_gets_the_same_answer_and_304_on_its_etag(live: Live) -> None:
    der = request_der(live, "good")
    standard = base64.b64encode(der).decode()
    bodies = set()
    for path in (get_path(der), "/ocsp/" + standard, "/ocsp/" + base64.urlsafe_b64encode(der).decode().rstrip("="), get_path(der) + "?x=1"):
        response = httpx.get(live.base + path)
        assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response", path
        bodies.add(response.content)
    assert len(bodies) == 1
    again = httpx.get(live.base + get_path(der), headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == response.headers["etag"]
    head = httpx.head(live.base + get_path(der))
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(response.content))


def test_nonce_posts_are_live_signed_and_not_cached(live: Live) -> None:
    response = httpx.post(
        f"{live.base}/ocsp", content=request_der(live, "good", nonce=b"fedcba9876543210"),
        headers={"content-type": "application/ocsp-request"},
    )
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    parsed = ocsp.load_der_ocsp_response(response.content)
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"fedcba9876543210"


@pytest.mark.parametrize(
    "method, path, body, content_type",
    [
        ("POST", "/ocsp", b"\x30\x03garbage", "application/ocsp-request"),
        ("POST", "/ocsp", b"", "application/ocsp-request"),
        ("POST", "/ocsp", None, "application/json"),  # a valid request under the wrong type
        ("GET", "/ocsp/!!!notbase64", None, None),
        ("GET", "/ocsp/", None, None),
        ("GET", "/ocsp/" + "A" * 30_000, None, None),
        ("GET", "/ocsp/MAMCAQ==", None, None),
    ],
)
def test_malformed_requests_get_an_ocsp_malformed_request(live: Live, method: str, path: str, body: bytes | None, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    content = request_der(live, "good") if body is None and method == "POST" else body
    response = httpx.request(method, live.base + path, content=content, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response"
    assert response.headers["cache-control"] == "no-store"
    assert parse_response_statuses(response.content)[0] == "malformed_request"


def test_openssl_reads_the_malformed_request_answer(live: Live) -> None:
    response = httpx.post(f"{live.base}/ocsp", content=b"garbage", headers={"content-type": "application/ocsp-request"})
    out = live.dir / "malformed.der"
    out.write_bytes(response.content)
    assert "Responder Error: malformedrequest (1)" in openssl("ocsp", "-respin", out, "-resp_text", "-noverify").stdout


# -- HTTP: connections, methods, limits ------------------------------------------------------------------


def test_keep_alive_serves_two_requests_on_one_connection(live: Live) -> None:
    request = b"GET " + get_path(request_der(live, "good")).encode() + b" HTTP/1.1\r\nHost: ocsp\r\n\r\n"
    with RawConnection(live.responder.port) as conn:
        answers = []
        for _ in range(2):
            conn.sock.sendall(request)
            answers.append(conn.read())
        assert not conn.closed(wait=0.5)
    assert [status for status, _, _ in answers] == [200, 200] and "connection" not in answers[0][1]
    assert answers[0][2] == answers[1][2]
    assert ocsp.load_der_ocsp_response(answers[0][2]).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_signed_live(live: Live) -> None:
    get = b"GET " + get_path(request_der(live, "revoked")).encode() + b" HTTP/1.1\r\nHost: ocsp\r\n\r\n"
    live_der = request_der(live, "other", nonce=b"0123456789abcdef")  # a thread, the database, a signature
    post = b"POST /ocsp HTTP/1.1\r\nHost: ocsp\r\nContent-Type: application/ocsp-request\r\nContent-Length: %d\r\n\r\n%s" % (
        len(live_der), live_der,
    )
    with RawConnection(live.responder.port) as conn:
        conn.sock.sendall(get)
        assert conn.read()[0] == 200  # now this worker holds the GET's answer in memory
        # The memory answer is ready at once, the live one later: it must still go second.
        conn.sock.sendall(post + get.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        answers = [conn.read(), conn.read()]
        closed = conn.closed()
    first, second = (ocsp.load_der_ocsp_response(body) for _, _, body in answers)
    assert first.serial_number == live.certs["other"].serial_number and first.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert first.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    assert second.serial_number == live.certs["revoked"].serial_number and second.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answers[1][1]["connection"] == "close" and closed


def test_http_1_0_closes_unless_asked_to_keep_alive(live: Live) -> None:
    path = get_path(request_der(live, "good")).encode()
    answers, closed = exchange(live.responder.port, b"GET " + path + b" HTTP/1.0\r\n\r\n")
    assert answers[0][0] == 200 and closed
    answers, closed = exchange(live.responder.port, b"GET " + path + b" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert answers[0][0] == 200 and answers[0][1]["connection"] == "keep-alive" and not closed


def test_oversized_bodies_get_413_and_the_connection_closes(live: Live) -> None:
    declared = b"POST /ocsp HTTP/1.1\r\nHost: ocsp\r\nContent-Type: application/ocsp-request\r\nContent-Length: 20000\r\n\r\n"
    answers, closed = exchange(live.responder.port, declared + b"\x30" * 100)  # refused before the body is read
    assert answers[0][0] == 413 and answers[0][1]["content-type"] == "application/problem+json" and closed
    chunked = b"POST /ocsp HTTP/1.1\r\nHost: ocsp\r\nContent-Type: application/ocsp-request\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (5000, b"\x30" * 5000)
    answers, closed = exchange(live.responder.port, chunked + chunk * 4 + b"0\r\n\r\n")
    assert answers[0][0] == 413 and closed


def test_other_methods_get_405_and_other_paths_404(live: Live) -> None:
    for method, path, allow in (("PUT", "/ocsp", "POST"), ("GET", "/ocsp", "POST"), ("DELETE", "/ocsp/MAMCAQE", "GET, HEAD"),
                                ("POST", "/ocsp/MAMCAQE", "GET, HEAD")):
        response = httpx.request(method, live.base + path, content=b"x")
        assert response.status_code == 405 and response.headers["allow"] == allow, (method, path)
        assert response.headers["content-type"] == "application/problem+json" and response.json()["status"] == 405
    for path in ("/", "/ocspx", "/crl/1/full.crl", "/api/v1/institutions"):
        response = httpx.get(live.base + path)
        assert response.status_code == 404 and response.json()["status"] == 404, path


def test_oversized_targets_and_headers_and_broken_http_get_4xx_and_the_server_keeps_answering(live: Live) -> None:
    port = live.responder.port
    long_target = b"GET /ocsp/" + b"A" * 70_000 + b" HTTP/1.1\r\nHost: ocsp\r\n\r\n"
    many_headers = b"GET /ocsp/MAMCAQE HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    big_header = b"GET /ocsp/MAMCAQE HTTP/1.1\r\nX-Big: " + b"v" * 20_000 + b"\r\n\r\n"
    for data, status in ((long_target, 414), (many_headers, 431), (big_header, 431), (b"\x16\x03\x01 not http\r\n\r\n", 400),
                         (b"GET /ocsp/MAMCAQE HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400)):
        answers, closed = exchange(port, data)
        assert answers[0][0] == status and closed, status
    assert ask(live, "good", extra=("-no_nonce",)).returncode == 0


# -- processes -----------------------------------------------------------------------------------------------


def test_a_killed_worker_is_replaced(live: Live) -> None:
    before = live.responder.workers()
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = live.responder.workers()
        if len(now) == 2 and before[0] not in now:
            break
        time.sleep(0.1)
    assert len(now) == 2 and before[0] not in now and before[1] in now
    for _ in range(20):  # both sockets answer (the kernel spreads connections across the workers)
        assert httpx.get(live.base + get_path(request_der(live, "good")), headers={"connection": "close"}).status_code == 200


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_finishes_and_closes_open_connections(live: Live, signum: int) -> None:
    port = free_port()
    responder = start_responder(live.runtime.home, live.base, port, upkeep=True)
    workers = responder.workers()
    assert len(workers) == 3  # two workers and the upkeep process
    path = get_path(request_der(live, "good")).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        idle.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: ocsp\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert responder.stop(signum) == 0, responder.log.read_text()
        idle.settimeout(5)
        assert idle.recv(1) == b""  # the idle keep-alive connection was closed, not left hanging
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/ocsp/MAMCAQE")


def test_on_postgresql_too(tmp_path: Path, postgres_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rt = open_runtime(Settings(home=tmp_path, database_url=postgres_url, public_url=base, ca_passphrase=PASSPHRASE, log_level="WARNING"))
    try:
        hierarchy = rt.initialize()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = rt.ca.issue(IssuanceRequest("joint", key.public_key(), SubjectIdentity("최유진", "한빛은행"))).certificate
        responder = start_responder(tmp_path, base, port, database_url=postgres_url)
        try:
            pem(tmp_path / "chain.pem", hierarchy.root, hierarchy.issuing)
            pem(tmp_path / "issuing.pem", hierarchy.issuing)
            pem(tmp_path / "cert.pem", cert)
            for extra in ((), ("-no_nonce",)):  # live with a nonce, then the pre-signed store (signed on the miss)
                result = openssl("ocsp", "-url", f"{base}/ocsp", "-issuer", tmp_path / "issuing.pem", "-CAfile", tmp_path / "chain.pem",
                                 "-cert", tmp_path / "cert.pem", *extra)
                assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stderr
                assert f"{tmp_path / 'cert.pem'}: good" in result.stdout
        finally:
            assert responder.stop() == 0, responder.log.read_text()
    finally:
        rt.close()


def test_serving_before_init_is_one_line_of_error(tmp_path: Path, cli) -> None:
    result = cli(["ocsp", "serve", "--port", str(free_port())], tmp_path, env={"FINCERT_CA_PASSPHRASE": PASSPHRASE})
    assert result.returncode == 1
    assert result.stderr.strip() == "fincert: error: the CA is not initialised: run `fincert init`"
