"""Request size limits: refuse oversized bodies with 413 before reading them whole."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fincert.api.asgi import HttpMiddleware, send_problem, send_whole

DEFAULT_MAX_BODY = 1 * 1024 * 1024


class BodySizeLimit(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_BODY) -> None:
        super().__init__(app)
        self.max_body = max_body

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _too_large(send, self.max_body, scope)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            # Raised where no exception handler runs (a middleware reading the body, e.g. the
            # CSRF check of a form); inside the app the handler answers (``problems.install``).
            await _too_large(send, self.max_body, scope)


class BodyTooLarge(HTTPException):
    """A body without a Content-Length (chunked) grew past the limit while being read.

    An ``HTTPException`` so that the app's own handlers answer it: FastAPI re-raises an
    ``HTTPException`` met while reading a body (any other error would become its generic
    400 "There was an error parsing the body"), and the answer then passes through the
    metrics and security middlewares like any other, instead of being logged as a 500.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes")
        self.limit = limit


async def _too_large(send: Send, limit: int, scope: Scope) -> None:
    if str(scope.get("path", "")).startswith("/ocsp"):
        # OCSP clients understand OCSP answers, not problem documents (RFC 6960 §2.3).
        from fincert.va.ocsp import error_response

        await send_whole(send, 200, b"application/ocsp-response", error_response("malformedRequest"))
        return
    await send_problem(send, 413, "Payload Too Large", "too-large", f"request bodies are limited to {limit} bytes")
