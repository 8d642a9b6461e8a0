"""Signing with a time-stamp from a TSA over HTTP: an unreachable TSA, an HTTP error page and a
real refusal are three different errors, each naming the TSA, none claiming the others."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fincert.clock import FakeClock
from fincert.errors import InvalidInput
from fincert.sign.cms import sign_cms, timestamper_for_url
from fincert.sign.testing import TestPki, build_test_pki
from fincert.sign.tsa import TimeStampAuthority
from fincert.sign.tsa_client import TsaBadReply, TsaRefused, TsaUnreachable

START = datetime(2025, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START - timedelta(days=1))


@pytest.fixture(scope="module")
def authority(pki: TestPki) -> TimeStampAuthority:
    serials = itertools.count(1)
    return TimeStampAuthority(pki.tsa, [], pki.tsa_key, "2.25.1", 1, FakeClock(START), lambda: next(serials))


Answer = Callable[[bytes], tuple[int, str, bytes]]


@pytest.fixture
def tsa_server() -> Iterator[Callable[[Answer], str]]:
    """``tsa_server(answer)`` serves ``answer(request body) -> (status, content type, body)``
    on a free local port and returns the URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, media_type, reply = answer(body)
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/tsa"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once the socket is closed


def sign_with(pki: TestPki, url: str) -> bytes:
    return sign_cms(
        b"transfer order", private_key=pki.signer_key, certificate=pki.signer, chain=[pki.issuing_ca],
        timestamper=timestamper_for_url(url, timeout=5.0), signing_time=START,
    )


@pytest.mark.parametrize("port", ["1", "freshly-closed"])
def test_closed_port_is_unreachable_not_a_refusal(pki, port):
    url = f"http://127.0.0.1:{closed_port() if port == 'freshly-closed' else port}/tsa"
    with pytest.raises(TsaUnreachable) as failed:
        sign_with(pki, url)
    assert isinstance(failed.value, InvalidInput) and failed.value.field == "tsa"
    detail = failed.value.detail
    assert detail.startswith(f"cannot reach the TSA at {url} (") and detail.endswith(")")
    assert "\n" not in detail and "grant" not in detail


def test_unusable_url_is_unreachable_and_never_shows_a_password(pki):
    with pytest.raises(TsaUnreachable) as failed:
        sign_with(pki, "http://stamp:s3cret-pw@127.0.0.1:1/tsa")
    assert "s3cret-pw" not in failed.value.detail
    assert failed.value.detail.startswith("cannot reach the TSA at http://***@127.0.0.1:1/tsa (")


def test_http_error_status_is_named(pki, tsa_server):
    url = tsa_server(lambda body: (503, "text/html", b"<h1>maintenance</h1>\n<p>later</p>"))
    with pytest.raises(TsaBadReply) as failed:
        sign_with(pki, url)
    assert failed.value.detail == f"the TSA at {url} answered HTTP 503"
    assert failed.value.field == "tsa"


def test_answer_that_is_not_a_time_stamp_reply(pki, tsa_server):
    html = tsa_server(lambda body: (200, "text/html", b"<html>login</html>"))
    with pytest.raises(TsaBadReply) as failed:
        sign_with(pki, html)
    assert failed.value.detail == f"the TSA at {html} did not answer with a time-stamp reply (text/html)"
    garbage = tsa_server(lambda body: (200, "application/timestamp-reply", b"\x30\x03garbage"))
    with pytest.raises(TsaBadReply) as failed:
        sign_with(pki, garbage)
    assert "not a time-stamp reply" in failed.value.detail


def test_real_refusal_keeps_the_refusal_message_with_its_status(pki, authority, tsa_server):
    # A request the authority refuses: garbage bytes instead of the client's TimeStampReq.
    url = tsa_server(lambda body: (200, "application/timestamp-reply", authority.respond(b"not a request")))
    with pytest.raises(TsaRefused) as failed:
        sign_with(pki, url)
    assert failed.value.detail == "the time-stamp authority did not grant a time-stamp (rejection, bad_data_format)"


def test_granting_tsa_over_http_still_stamps(pki, authority, tsa_server):
    url = tsa_server(lambda body: (200, "application/timestamp-reply; charset=binary", authority.respond(body)))
    signature = sign_with(pki, url)
    assert signature.startswith(b"\x30")
    from fincert.sign.service import signature_timestamp_time

    assert signature_timestamp_time(signature) == START


def test_grant_with_modifications_is_named(pki, authority, tsa_server):
    """pyHanko refuses grantedWithMods with its generic error; the client names it instead."""
    from asn1crypto import tsp

    def modified(body: bytes) -> tuple[int, str, bytes]:
        reply = tsp.TimeStampResp.load(authority.respond(body))
        reply["status"]["status"] = "granted_with_mods"
        return 200, "application/timestamp-reply", reply.dump(force=True)

    with pytest.raises(TsaRefused) as failed:
        sign_with(pki, tsa_server(modified))
    assert "grantedWithMods" in failed.value.detail and failed.value.field == "tsa"
