"""The plumbing the service's pure-ASGI middlewares share (``security.SecurityHeaders``,
``security.CsrfProtection``, ``metrics.RequestMetrics``, ``limits.BodySizeLimit``):
``HttpMiddleware`` (HTTP requests to ``handle``, anything else passed through),
``on_response_start`` (act on the response's start message as it goes out) and ``send_problem``
(answer at once with a problem document, before the app runs)."""

from __future__ import annotations

import abc
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fincert.api.problems import PROBLEM_TYPE_BASE


class HttpMiddleware(abc.ABC):
    """A pure-ASGI middleware of HTTP requests: each goes to ``handle``; anything else (lifespan,
    websockets) passes through to the app untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abc.abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (call ``self.app`` to pass it on)."""


def on_response_start(send: Send, act: Callable[[Message], None]) -> Send:
    """``send`` that first hands the response's start message to ``act``, which may read its
    status or change its headers (``MutableHeaders(scope=message)``); the rest goes out as it is."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            act(message)
        await send(message)

    return sending


async def send_whole(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    """Answer with all of ``body`` at once, with its content type and length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_problem(send: Send, status: int, title: str, kind: str, detail: str) -> None:
    """Answer with an RFC 9457 problem document (as ``problems.problem`` would, from a middleware)."""
    body = json.dumps({"type": PROBLEM_TYPE_BASE + kind, "title": title, "status": status, "detail": detail}).encode()
    await send_whole(send, status, b"application/problem+json", body)
