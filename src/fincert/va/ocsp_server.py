"""The dedicated OCSP responder process: the pre-signed store over HTTP/1.1, apart from the web app.

CAs run OCSP apart from their web front ends: it is the URL every relying party hits, it needs
nothing of the web stack, and it must keep answering when the web app is busy or down. This
module serves the two OCSP URLs of the HTTP edge (``api/routes/va.py``) with the same answers
and caching headers, on uvloop with httptools' parser (both come with ``uvicorn[standard]``)
instead of the ASGI stack, which was most of the cost of a pre-signed answer:

- ``GET``/``HEAD /ocsp/{base64 request}`` (RFC 6960 A.1, decoded by the route's
  ``decode_get_request``) and ``POST /ocsp`` with ``application/ocsp-request``; a request that
  cannot be parsed or has the wrong content type gets an OCSP ``malformedRequest`` (200);
- the answer comes from ``OcspResponder.held_answer`` on the event loop (memory only) or else
  from ``OcspResponder.respond`` in a thread pool (database, live signature), so the loop never
  waits on either; at most MAX_LIVE_PENDING such answers wait per worker, beyond that the
  client gets OCSP ``tryLater``;
- HTTP/1.1 keep-alive and pipelining (answers in request order), HTTP/1.0 (keep-alive when
  asked), ``Expect: 100-continue``;
- limits, answered with a problem document (RFC 9457) and a closed connection: request target
  (414), header section (431), body larger than ``MAX_REQUEST_BYTES`` (413, where the web app
  answers ``malformedRequest``: no OCSP client sends 16 KiB, so it is refused unread), a request
  not complete within REQUEST_TIMEOUT (408), unparsable HTTP (400); idle keep-alive connections
  close after KEEP_ALIVE_TIMEOUT; other paths 404, other methods 405 with ``Allow``.

:func:`serve` is the process: the parent checks the CA and the responder certificate (issuing
it if needed, once), binds one SO_REUSEPORT listening socket per worker (the kernel spreads
connections across them), forks the workers and restarts one that dies. SIGTERM or SIGINT
stops them gracefully: stop accepting, finish the answers in flight, close idle connections.
Unless ``upkeep`` is off, one more process runs the VA's schedule (refresh, republish) as a web
app process does; it serves nothing, so its passes never hold a worker's GIL.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import email.utils
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import urllib.parse
from typing import Final

import httptools
import uvloop

from fincert.va.ocsp_http import OCSP_MAX_AGE, OCSP_REQUEST, decode_get_request
from fincert.clock import Clock
from fincert.config import Settings
from fincert.errors import ConfigurationError
from fincert.va.ocsp import MAX_REQUEST_BYTES
from fincert.va.responder import INTERNAL_ERROR, MALFORMED, TRY_LATER, OcspAnswer, OcspResponder

log = logging.getLogger(__name__)

#: Longest request target: any GET the route can decode, every character percent-encoded.
MAX_TARGET: Final = len("/ocsp/") + 3 * ((MAX_REQUEST_BYTES * 4) // 3 + 4)
#: Header section limits (names and values together), as common servers set them.
MAX_HEADER_BYTES: Final = 16 * 1024
MAX_HEADERS: Final = 100
#: Seconds an idle keep-alive connection stays open (uvicorn's default).
KEEP_ALIVE_TIMEOUT: Final = 5.0
#: Seconds a started request has to arrive whole (slow senders hold a connection at most this long).
REQUEST_TIMEOUT: Final = 10.0
#: Seconds a refused connection is still read (and discarded) after its answer, so the rest of
#: an unread body does not turn the close into a reset that destroys the answer in the client.
LINGER: Final = 2.0
#: Seconds the answers in flight get after SIGTERM before their connections are cut.
SHUTDOWN_GRACE: Final = 10.0
#: Answers computed in threads (database reads, live signatures) waiting at once per worker.
MAX_LIVE_PENDING: Final = 256
LIVE_THREADS: Final = 4
#: GET request targets whose decoded DER request a worker keeps (about 300 bytes each).
DECODED_PATHS: Final = 50_000
#: When the responder's memory copy of an answer ages out (``MEMORY_TTL``), the answer served
#: for the same request at most this many seconds before is still served while one background
#: job reloads it (stale-while-revalidate): a reload never makes a client wait, and a revocation
#: made in another process shows here within MEMORY_TTL + REVALIDATE_GRACE seconds.
REVALIDATE_GRACE: Final = 2.0
#: Seconds the reload thread rests after each reload.
RELOAD_PAUSE: Final = 0.002
#: Pipelined requests queued on one connection before it stops being read.
MAX_PIPELINE: Final = 32
#: A worker that dies this often within RESTART_WINDOW seconds is not restarted again.
MAX_RESTARTS: Final = 5
RESTART_WINDOW: Final = 60.0

_OCSP_REQUEST: Final = OCSP_REQUEST.encode()
_STATUS: Final = {
    200: b"200 OK", 304: b"304 Not Modified", 400: b"400 Bad Request", 404: b"404 Not Found",
    405: b"405 Method Not Allowed", 408: b"408 Request Timeout", 413: b"413 Payload Too Large",
    414: b"414 URI Too Long", 431: b"431 Request Header Fields Too Large", 500: b"500 Internal Server Error",
}
_PROBLEMS: Final = {
    400: ("Bad Request", "the request is not valid HTTP/1.1"),
    404: ("Not Found", "this host answers OCSP requests at /ocsp only"),
    405: ("Method Not Allowed", "OCSP requests are GET /ocsp/{base64 request} or POST /ocsp"),
    408: ("Request Timeout", "the request did not arrive in time"),
    413: ("Payload Too Large", f"OCSP request bodies are limited to {MAX_REQUEST_BYTES} bytes"),
    414: ("URI Too Long", f"request targets are limited to {MAX_TARGET} bytes"),
    431: ("Request Header Fields Too Large", f"headers are limited to {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes"),
    500: ("Internal Server Error", "the service could not complete the request"),
}
_ALLOW_POST: Final = b"allow: POST\r\n"
_ALLOW_GET: Final = b"allow: GET, HEAD\r\n"


class _Refused(Exception):
    """Raised from a parser callback to stop reading a request and answer ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _http_date(moment: dt.datetime) -> bytes:
    return email.utils.format_datetime(moment.astimezone(dt.timezone.utc), usegmt=True).encode()


class OcspHttpService:
    """One worker's OCSP answers over HTTP: routing, caching headers, the pool for live answers."""

    def __init__(self, responder: OcspResponder, clock: Clock, *, live_threads: int = LIVE_THREADS) -> None:
        self.responder = responder
        self.clock = clock
        self.executor = concurrent.futures.ThreadPoolExecutor(live_threads, thread_name_prefix="fincert-ocsp-live")
        # One thread reloads aged-out answers in the background, so a burst of them (all loaded
        # at the same moment, all ageing out together) competes with the event loop only once.
        self.reloader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fincert-ocsp-reload")
        self._revalidating: set[bytes] = set()
        # Per request: the answer last served from the responder's memory and when.
        self._served: dict[bytes, tuple[OcspAnswer, float]] = {}
        self.connections: set[OcspConnection] = set()
        self.shutting_down = False
        self.live_pending = 0
        self._date_second = -1
        self._date = b""
        # Per answer: its ETag/Last-Modified/Expires lines, formatted once (by ETag).
        self._validity: dict[str, tuple[bytes, bytes]] = {}
        # GET paths already decoded (percent-decoding and base64 were a third of a memory answer):
        # relying parties ask about the same certificates with the same bytes again and again.
        self._decoded: dict[bytes, bytes] = {}

    # -- the answer to one request ----------------------------------------------------------

    def answer(
        self, method: bytes, target: bytes, content_type: bytes, if_none_match: bytes | None, body: bytes, connection: bytes
    ) -> bytes | asyncio.Future[bytes]:
        """The HTTP response to one whole request, or a future of it when it needs a thread."""
        head = method == b"HEAD"
        if method == b"GET" or head:
            der = self._decoded.get(target)
            if der is not None:  # a path seen before: skip routing and decoding
                return self._status(der, if_none_match, connection, head)
        if target[:1] != b"/":  # absolute form (through a proxy), or '*'
            try:
                path = httptools.parse_url(target).path or b""
            except httptools.HttpParserInvalidURLError:
                return self.problem(400, connection, head=head)
            query = 0  # not cached
        else:
            query = target.find(b"?")
            path = target if query < 0 else target[:query]
        text = path.decode("latin-1")
        if "%" in text:  # as uvicorn hands the path to the route: percent-decoded
            text = urllib.parse.unquote(text)
        if text.startswith("/ocsp/"):
            if method != b"GET" and not head:
                return self.problem(405, connection, _ALLOW_GET)
            der = decode_get_request(text[6:])
            if der is not None and query < 0:
                if len(self._decoded) >= DECODED_PATHS:
                    self._decoded.clear()
                self._decoded[target] = der
            if der is None:
                return self.ocsp(MALFORMED, cacheable_method=False, if_none_match=None, connection=connection, head=head)
        elif text == "/ocsp":
            if method != b"POST":
                return self.problem(405, connection, _ALLOW_POST, head=head)
            if content_type.split(b";", 1)[0].strip().lower() != _OCSP_REQUEST:
                return self.ocsp(MALFORMED, cacheable_method=False, if_none_match=None, connection=connection)
            der = body
        else:
            return self.problem(404, connection, head=head)
        return self._status(der, if_none_match, connection, head)

    def _status(self, der: bytes, if_none_match: bytes | None, connection: bytes, head: bool) -> bytes | asyncio.Future[bytes]:
        # From memory on the event loop (no database, no signature); anything else in a thread.
        held = self.responder.held_answer(der)
        if held is not None:
            if held.cacheable:
                if len(self._served) >= DECODED_PATHS:
                    self._served.clear()
                self._served[der] = (held, time.monotonic())
            return self.ocsp(held, cacheable_method=True, if_none_match=if_none_match, connection=connection, head=head)
        served = self._served.get(der)
        if served is not None and time.monotonic() - served[1] < REVALIDATE_GRACE:
            # The responder's copy has just aged out: answer with the one it held a moment ago
            # (still inside its own validity) while one background job reloads it.
            found = served[0]
            assert found.this_update is not None and found.next_update is not None
            if found.this_update <= self.clock.now() < found.next_update:
                self._revalidate(der)
                return self.ocsp(found, cacheable_method=True, if_none_match=if_none_match, connection=connection, head=head)
        return self._live(der, if_none_match, connection, head)

    def _revalidate(self, der: bytes) -> None:
        if der in self._revalidating:
            return
        self._revalidating.add(der)
        job = asyncio.get_running_loop().run_in_executor(self.reloader, self._reload, der)
        job.add_done_callback(lambda _job: self._revalidating.discard(der))

    def _reload(self, der: bytes) -> None:
        self.responder.respond(der)
        # A reload holds the GIL for a database read; back to back, a burst of them kept the
        # event loop waiting for it (p99 ~10-18 ms at 10,000/s). A pause between them, without
        # the GIL, lets the loop run.
        time.sleep(RELOAD_PAUSE)

    def _live(self, der: bytes, if_none_match: bytes | None, connection: bytes, head: bool) -> bytes | asyncio.Future[bytes]:
        if self.live_pending >= MAX_LIVE_PENDING:
            return self.ocsp(TRY_LATER, cacheable_method=False, if_none_match=None, connection=connection, head=head)
        self.live_pending += 1
        loop = asyncio.get_running_loop()
        response: asyncio.Future[bytes] = loop.create_future()

        def answered(job: asyncio.Future[OcspAnswer]) -> None:
            self.live_pending -= 1
            try:
                found = job.result()
            except BaseException:  # noqa: BLE001 - respond() never raises; a cancelled pool at shutdown might
                log.exception("OCSP live answer failed")
                found = INTERNAL_ERROR
            if not response.done():
                response.set_result(self.ocsp(found, cacheable_method=True, if_none_match=if_none_match, connection=connection, head=head))

        loop.run_in_executor(self.executor, self.responder.respond, der).add_done_callback(answered)
        return response

    # -- response bytes -----------------------------------------------------------------------

    def date(self) -> bytes:
        second = int(time.time())
        if second != self._date_second:
            self._date = b"date: " + email.utils.formatdate(second, usegmt=True).encode() + b"\r\n"
            self._date_second = second
        return self._date

    def ocsp(
        self, found: OcspAnswer, *, cacheable_method: bool, if_none_match: bytes | None, connection: bytes, head: bool = False
    ) -> bytes:
        """The headers the route sets (``api/routes/va.py:_ocsp_http``) around the DER answer."""
        if found.cacheable and cacheable_method:
            assert found.this_update is not None and found.next_update is not None and found.etag is not None
            validity = self._validity.get(found.etag)
            if validity is None:
                if len(self._validity) >= 100_000:
                    self._validity.clear()
                etag = found.etag.encode()
                validity = (
                    etag,
                    b"etag: " + etag + b"\r\nlast-modified: " + _http_date(found.this_update)
                    + b"\r\nexpires: " + _http_date(found.next_update) + b"\r\n",
                )
                self._validity[found.etag] = validity
            max_age = max(0, min(OCSP_MAX_AGE, int((found.next_update - self.clock.now()).total_seconds())))
            cache = b"cache-control: public, max-age=%d, no-transform, must-revalidate\r\n%s" % (max_age, validity[1])
            if if_none_match == validity[0]:
                return b"HTTP/1.1 304 Not Modified\r\n" + cache + self.date() + connection + b"\r\n"
        else:
            # Nonce responses, live answers to POSTs and errors are for one client only.
            cache = b"cache-control: no-store\r\n"
        der = found.der
        header = b"HTTP/1.1 200 OK\r\ncontent-type: application/ocsp-response\r\ncontent-length: %d\r\n%s%s%s\r\n" % (
            len(der), cache, self.date(), connection,
        )
        return header if head else header + der

    def problem(self, status: int, connection: bytes, extra: bytes = b"", *, head: bool = False) -> bytes:
        title, detail = _PROBLEMS[status]
        kind = "too-large" if status == 413 else f"http-{status}"
        body = json.dumps({"type": "https://fincert.dev/problems/" + kind, "title": title, "status": status, "detail": detail}).encode()
        return (
            b"HTTP/1.1 %s\r\ncontent-type: application/problem+json\r\ncontent-length: %d\r\n%s%s%s\r\n%s"
            % (_STATUS[status], len(body), extra, self.date(), connection, b"" if head else body)
        )

    # -- connections --------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Close idle keep-alive connections and time out requests that do not arrive whole."""
        for conn in list(self.connections):
            conn.check_timeouts(now)

    def close_idle(self) -> None:
        """Shutdown: stop reading every connection; idle ones close now, busy ones after their answers."""
        self.shutting_down = True
        for conn in list(self.connections):
            conn.finish()


_CLOSE: Final = b"connection: close\r\n"
_KEEP_ALIVE_10: Final = b"connection: keep-alive\r\n"


class OcspConnection(asyncio.Protocol):
    """One client connection: httptools parses, answers go out in request order."""

    def __init__(self, service: OcspHttpService, loop: asyncio.AbstractEventLoop) -> None:
        self._service = service
        self._loop = loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        # Answers not yet written, in request order: bytes, or futures of answers still in a thread.
        self._queue: collections.deque[bytes | asyncio.Future[bytes]] = collections.deque()
        self._last_queued = False  # the queue ends with the connection's last answer
        self._linger = False  # after the last answer: half-close and drain instead of closing
        self._linger_timer: asyncio.TimerHandle | None = None
        self._reading = True
        self._write_paused = False
        self._idle_since = loop.time()
        self._started: float | None = None
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._content_type = b""
        self._if_none_match: bytes | None = None
        self._header_bytes = 0
        self._header_count = 0
        self._expect_continue = False

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment] - uvloop's transports do not subclass asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:  # answers are one small write each: never wait for a delayed ACK (Nagle)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        self._service.connections.add(self)
        if self._service.shutting_down:
            self.finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self._service.connections.discard(self)
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        self._transport = None
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        if self._last_queued:
            return  # after the last answer of this connection, nothing more is parsed
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status)
            else:
                log.error("OCSP request handling failed: %s", type(refused).__name__, exc_info=refused)
                self._refuse(500)
        except httptools.HttpParserUpgrade:
            # The request before the upgrade is answered; this server speaks nothing else.
            self._last_queued = True
            self._flush()
        except httptools.HttpParserError:
            if not self._last_queued:  # data after a 'Connection: close' request is ignored
                self._refuse(400)

    def eof_received(self) -> bool | None:
        if self._queue and self._linger_timer is None:
            self._last_queued = True  # the client has sent all it will: answer what is owed, then close
            return True
        return None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    # -- httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._started = self._loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_TARGET:
            raise _Refused(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value)
        if self._header_count > MAX_HEADERS or self._header_bytes > MAX_HEADER_BYTES:
            raise _Refused(431)
        name = name.lower()
        if name == b"content-type":
            self._content_type = value
        elif name == b"if-none-match":
            self._if_none_match = value
        elif name == b"content-length":
            if int(value) > MAX_REQUEST_BYTES:  # the parser has checked it is a number
                raise _Refused(413)
        elif name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True

    def on_headers_complete(self) -> None:
        if self._expect_continue and not self._queue and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes > MAX_REQUEST_BYTES:  # chunked bodies declare no length
            raise _Refused(413)
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        parser = self._parser
        self._started = None
        keep_alive = parser.should_keep_alive() and not self._service.shutting_down
        if not keep_alive:
            connection = _CLOSE
        elif parser.get_http_version() == "1.0":
            connection = _KEEP_ALIVE_10
        else:
            connection = b""
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        response = self._service.answer(parser.get_method(), self._url, self._content_type, self._if_none_match, body, connection)
        self._reset()
        self._enqueue(response, last=not keep_alive)

    # -- answering in order ---------------------------------------------------------------------------

    def _enqueue(self, response: bytes | asyncio.Future[bytes], *, last: bool) -> None:
        if last:
            self._last_queued = True
        if not self._queue and isinstance(response, bytes):
            self._write(response)  # the common case: answered from memory, nothing ahead of it
            return
        self._queue.append(response)
        if not isinstance(response, bytes):
            response.add_done_callback(self._flushed)
        self._flush()

    def _flushed(self, _future: asyncio.Future[bytes]) -> None:
        self._flush()

    def _flush(self) -> None:
        queue = self._queue
        while queue:
            head = queue[0]
            if isinstance(head, bytes):
                data = head
            elif head.done():
                data = head.result()
            else:
                break
            queue.popleft()
            if self._transport is None:
                return
            self._transport.write(data)
        self._after_write()

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)
            self._after_write()

    def _after_write(self) -> None:
        if self._queue:
            self._update_reading()
            return
        self._idle_since = self._loop.time()
        transport = self._transport
        if not self._last_queued:
            self._update_reading()
        elif transport is None or self._linger_timer is not None:
            return
        elif self._linger and transport.can_write_eof():
            transport.write_eof()  # FIN after the answer; what the client still sends is drained
            self._linger_timer = self._loop.call_later(LINGER, transport.close)
            if not self._reading:
                self._reading = True
                transport.resume_reading()
        else:
            transport.close()

    def _update_reading(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        want = self._linger_timer is not None or (
            not self._write_paused and len(self._queue) < MAX_PIPELINE and not self._last_queued
        )
        if want != self._reading:
            self._reading = want
            if want:
                self._transport.resume_reading()
            else:
                self._transport.pause_reading()

    def _refuse(self, status: int) -> None:
        """Answer ``status`` after the answers already queued, then close."""
        self._started = None
        self._linger = True
        self._enqueue(self._service.problem(status, _CLOSE), last=True)

    # -- timeouts and shutdown ----------------------------------------------------------------------

    def check_timeouts(self, now: float) -> None:
        if self._transport is None or self._last_queued:
            return
        if self._started is not None:
            if now - self._started > REQUEST_TIMEOUT:
                self._refuse(408)
        elif not self._queue and now - self._idle_since > KEEP_ALIVE_TIMEOUT:
            self._transport.close()

    def finish(self) -> None:
        """Read no more requests; close once the answers already owed are written."""
        if self._transport is None:
            return
        if self._started is None and not self._queue:
            self._transport.close()
            return
        # A request half-received is dropped with the connection; answers owed still go out.
        self._last_queued = True
        self._started = None
        self._update_reading()
        if not self._queue:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


# -- the worker processes ---------------------------------------------------------------------------


async def _serve_worker(service: OcspHttpService, sock: socket.socket, parent_pid: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(lambda: OcspConnection(service, loop), sock=sock, backlog=1024)

    def tick() -> None:
        service.sweep(loop.time())
        if os.getppid() != parent_pid:  # the parent is gone (killed): do not serve unsupervised
            stop.set()
        if not stop.is_set():
            loop.call_later(1.0, tick)

    loop.call_later(1.0, tick)
    await stop.wait()

    server.close()
    service.close_idle()
    deadline = loop.time() + SHUTDOWN_GRACE
    while service.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for conn in list(service.connections):
        conn.abort()
    await asyncio.sleep(0)


def _child_setup(inherited: list[socket.socket]) -> None:
    """In a forked child: default signal handling until its own is installed, no parent sockets."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    for sock in inherited:
        sock.close()


def _worker(sock: socket.socket, others: list[socket.socket], settings: Settings, parent_pid: int) -> None:
    """A forked worker: its own runtime (database pool), the responder loaded, one event loop."""
    from fincert.runtime import open_runtime

    _child_setup(others)
    rt = open_runtime(settings, migrate=False)
    try:
        responder = rt.va.ocsp
        responder.responder()  # loads the delegated certificate and key, so memory answers start at once
        service = OcspHttpService(responder, rt.clock)
        try:
            uvloop.run(_serve_worker(service, sock, parent_pid))
        finally:
            service.executor.shutdown(wait=True, cancel_futures=True)
            service.reloader.shutdown(wait=True, cancel_futures=True)
    finally:
        rt.close()


def _upkeep(inherited: list[socket.socket], settings: Settings, parent_pid: int) -> None:
    """A forked process running the VA's schedule, apart from the workers: a pass (queries,
    signatures, CRLs) inside a worker held its GIL long enough to show in the workers' p99."""
    from fincert.runtime import open_runtime

    _child_setup(inherited)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    rt = open_runtime(settings, migrate=False)
    try:
        rt.va.upkeep.start()
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:
                break
        rt.va.upkeep.stop()
    finally:
        rt.close()


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address (SO_REUSEPORT); port 0 picks a free port for all."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot resolve the listening address {host!r}: {exc.strerror}") from exc
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            address = sock.getsockname()  # the port 0 picked, for the next sockets
            sock.listen(1024)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sockets


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    upkeep: bool = True,
    settings: Settings | None = None,
) -> None:
    """Run the responder until SIGTERM or SIGINT; returns after the workers have stopped.

    Raises ``ConfigurationError`` when the address cannot be bound or the workers keep dying,
    and the runtime's errors (``NotFound`` before ``fincert init``) before anything listens.
    """
    from fincert.logs import use_json_logs
    from fincert.runtime import open_runtime

    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    settings = settings or Settings()
    rt = open_runtime(settings)  # applies migrations once, before the workers start
    try:
        # Issued here, once, rather than by racing workers; each worker then loads it.
        rt.va.ocsp.responder()
    finally:
        rt.close()
    use_json_logs()
    sockets = bind_sockets(host, port, workers)
    bound_port = sockets[0].getsockname()[1]
    parent_pid = os.getpid()
    context = multiprocessing.get_context("fork")
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    stopping: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    previous_wakeup = signal.set_wakeup_fd(wake_write.fileno())

    def start(index: int) -> multiprocessing.process.BaseProcess:
        """Worker ``index``, or the upkeep process for ``index == workers``."""
        if index == workers:
            target, args, name = _upkeep, ([*sockets, wake_read, wake_write], settings, parent_pid), "fincert-ocsp-upkeep"
        else:
            others = [s for i, s in enumerate(sockets) if i != index] + [wake_read, wake_write]
            target, args, name = _worker, (sockets[index], others, settings, parent_pid), f"fincert-ocsp-{index}"
        process = context.Process(target=target, args=args, name=name)
        process.start()
        return process

    processes = {index: start(index) for index in range(workers + (1 if upkeep else 0))}
    log.info("OCSP responder on http://%s:%d/ocsp with %d worker(s)", host, bound_port, workers)
    restarts: collections.deque[float] = collections.deque()
    failed = False
    try:
        while not stopping:
            sentinels = {process.sentinel: index for index, process in processes.items()}
            ready = multiprocessing.connection.wait([*sentinels, wake_read], timeout=5.0)
            try:
                while wake_read.recv(512):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            if stopping:
                break
            for sentinel in ready:
                if sentinel not in sentinels:
                    continue
                index = sentinels[sentinel]
                processes[index].join()
                now = time.monotonic()
                restarts.append(now)
                while restarts and now - restarts[0] > RESTART_WINDOW:
                    restarts.popleft()
                log.warning("OCSP process %s exited (code %s)", processes[index].name, processes[index].exitcode)
                if len(restarts) > MAX_RESTARTS:
                    failed = True
                    stopping.append(0)
                    break
                processes[index] = start(index)
    finally:
        for sock in sockets:
            sock.close()
        for process in processes.values():
            if process.is_alive():
                try:
                    os.kill(process.pid, signal.SIGTERM)  # type: ignore[arg-type]
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + SHUTDOWN_GRACE + 5
        for process in processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        wake_read.close()
        wake_write.close()
    if failed:
        raise ConfigurationError(f"OCSP workers exited {MAX_RESTARTS + 1} times within {RESTART_WINDOW:.0f} s; see the log")
    log.info("OCSP responder stopped")

