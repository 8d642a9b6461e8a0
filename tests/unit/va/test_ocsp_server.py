"""The dedicated OCSP responder's HTTP layer (``va/ocsp_server.py``) over a stand-in responder and
transport: answers in request order behind a live answer, stale-while-revalidate when the
responder's memory copy ages out, routing, caching headers, refusals. The real process against
openssl is tested in ``tests/interop/test_va_ocsp_server.py``."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import threading

import pytest

from fincert.clock import FakeClock
from fincert.va import ocsp_server
from fincert.va.ocsp_server import OcspConnection, OcspHttpService
from fincert.va.responder import MALFORMED, OcspAnswer

REQUEST = b"\x30\x03\x02\x01\x07"  # stands for a DER request; the stand-in responder never parses it
PATH = b"/ocsp/" + base64.b64encode(REQUEST)


class StandInResponder:
    """Holds answers like OcspResponder: ``held`` is what memory has, ``respond`` what a thread gets."""

    def __init__(self, clock: FakeClock) -> None:
        now = clock.now()
        self.current = OcspAnswer.signed(b"\x30\x03\x0a\x01\x00", now, now + dt.timedelta(hours=12), cacheable=True)
        self.held: OcspAnswer | None = self.current
        self.respond_calls: list[bytes] = []
        self.release = threading.Event()
        self.release.set()

    def held_answer(self, der: bytes) -> OcspAnswer | None:
        if der != REQUEST:
            return MALFORMED
        return self.held

    def respond(self, der: bytes) -> OcspAnswer:
        self.respond_calls.append(der)
        self.release.wait(10)
        self.held = self.current  # as the real one: the answer is in memory again
        return self.current


class Transport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def get_extra_info(self, _name: str) -> None:
        return None

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def responder(clock: FakeClock) -> StandInResponder:
    return StandInResponder(clock)


def run(coroutine_function):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine_function())


def connect(service: OcspHttpService) -> tuple[OcspConnection, Transport]:
    transport = Transport()
    conn = OcspConnection(service, asyncio.get_running_loop())
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def statuses(data: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def test_pipelined_answers_keep_request_order_behind_a_live_one(responder: StandInResponder, clock: FakeClock) -> None:
    async def scenario() -> None:
        service = OcspHttpService(responder, clock)  # type: ignore[arg-type]
        conn, transport = connect(service)
        responder.held = None  # the first request needs a thread ...
        responder.release.clear()
        conn.data_received(b"POST /ocsp HTTP/1.1\r\nContent-Type: application/ocsp-request\r\nContent-Length: 5\r\n\r\n" + REQUEST)
        await asyncio.sleep(0.05)
        responder.held = responder.current  # ... the second is in memory, ready at once
        conn.data_received(b"GET /nowhere HTTP/1.1\r\n\r\n")
        assert transport.written == b""  # the 404 waits for the live answer ahead of it
        responder.release.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(statuses(bytes(transport.written))) == 2:
                break
        assert statuses(bytes(transport.written)) == [200, 404]
        service.executor.shutdown()
        service.reloader.shutdown()

    run(scenario)


def test_an_aged_out_answer_is_served_once_more_while_one_reload_runs(responder: StandInResponder, clock: FakeClock) -> None:
    async def scenario() -> None:
        service = OcspHttpService(responder, clock)  # type: ignore[arg-type]
        conn, transport = connect(service)
        get = b"GET " + PATH + b" HTTP/1.1\r\n\r\n"
        conn.data_received(get)
        assert statuses(bytes(transport.written)) == [200] and not responder.respond_calls
        responder.held = None  # the responder's memory copy ages out
        responder.release.clear()
        conn.data_received(get + get)  # both answered at once, from the answer held a moment ago
        assert statuses(bytes(transport.written)) == [200, 200, 200]
        assert bytes(transport.written).count(responder.current.der) == 3
        await asyncio.sleep(0.05)
        assert responder.respond_calls == [REQUEST]  # one reload for both
        responder.release.set()
        await asyncio.sleep(0.05)
        assert responder.held is responder.current

        # Past the grace period a client waits for the responder, as without the server's help.
        responder.held = None
        served, _at = service._served[REQUEST]
        service._served[REQUEST] = (served, 0.0)
        conn.data_received(get)
        assert statuses(bytes(transport.written)) == [200, 200, 200]
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(statuses(bytes(transport.written))) == 4:
                break
        assert statuses(bytes(transport.written)) == [200, 200, 200, 200] and len(responder.respond_calls) == 2
        service.executor.shutdown()
        service.reloader.shutdown()

    run(scenario)


def test_an_answer_past_its_next_update_is_never_served_from_the_grace(responder: StandInResponder, clock: FakeClock) -> None:
    async def scenario() -> None:
        service = OcspHttpService(responder, clock)  # type: ignore[arg-type]
        conn, transport = connect(service)
        get = b"GET " + PATH + b" HTTP/1.1\r\n\r\n"
        conn.data_received(get)
        responder.held = None
        clock.advance(hours=13)
        responder.release.clear()
        conn.data_received(get)
        assert statuses(bytes(transport.written)) == [200]  # waiting for the responder
        responder.release.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(statuses(bytes(transport.written))) == 2:
                break
        assert statuses(bytes(transport.written)) == [200, 200]
        service.executor.shutdown()
        service.reloader.shutdown()

    run(scenario)


def test_cache_headers_and_conditional_requests(responder: StandInResponder, clock: FakeClock) -> None:
    async def scenario() -> None:
        service = OcspHttpService(responder, clock)  # type: ignore[arg-type]
        conn, transport = connect(service)
        conn.data_received(b"GET " + PATH + b" HTTP/1.1\r\n\r\n")
        head = bytes(transport.written).split(b"\r\n\r\n")[0].decode()
        assert "cache-control: public, max-age=3600, no-transform, must-revalidate" in head
        assert f"etag: {responder.current.etag}" in head and "last-modified: " in head and "expires: " in head
        transport.written.clear()
        conn.data_received(b"GET " + PATH + b" HTTP/1.1\r\nIf-None-Match: " + responder.current.etag.encode() + b"\r\n\r\n")
        assert bytes(transport.written).startswith(b"HTTP/1.1 304 ") and responder.current.der not in transport.written
        transport.written.clear()
        clock.advance(hours=11, minutes=59, seconds=30)  # max-age never runs past nextUpdate
        conn.data_received(b"GET " + PATH + b" HTTP/1.1\r\n\r\n")
        assert b"max-age=30," in transport.written
        service.executor.shutdown()
        service.reloader.shutdown()

    run(scenario)


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /ocsp HTTP/1.1\r\n\r\n", 405),
        (b"PATCH /ocsp/abc HTTP/1.1\r\n\r\n", 405),
        (b"GET /status HTTP/1.1\r\n\r\n", 404),
        (b"HEAD /status HTTP/1.1\r\n\r\n", 404),
        (b"POST /ocsp HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", 413),
        (b"GET /ocsp/" + b"A" * (ocsp_server.MAX_TARGET + 1) + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /ocsp/x HTTP/1.1\r\n" + b"A: b\r\n" * (ocsp_server.MAX_HEADERS + 1) + b"\r\n", 431),
        (b"NOT-HTTP\r\n\r\n", 400),
    ],
)
def test_refusals_and_routing(responder: StandInResponder, clock: FakeClock, request_bytes: bytes, status: int) -> None:
    async def scenario() -> None:
        service = OcspHttpService(responder, clock)  # type: ignore[arg-type]
        conn, transport = connect(service)
        conn.data_received(request_bytes)
        written = bytes(transport.written)
        assert statuses(written) == [status]
        assert b"content-type: application/problem+json" in written
        if request_bytes.startswith(b"HEAD"):
            assert written.endswith(b"\r\n\r\n")  # no body for HEAD
        if status >= 413 or status == 400:
            assert b"connection: close" in written
        service.executor.shutdown()
        service.reloader.shutdown()

    run(scenario)
