"""Request size limits: refuse oversized bodies with 413 before reading them whole."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY = 1 * 1024 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_body, scope)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int, scope: Scope) -> None:
    if str(scope.get("path", "")).startswith("/ocsp"):
        # OCSP clients understand OCSP answers, not problem documents (RFC 6960 §2.3).
        from fincert.va.ocsp import error_response

        der = error_response("malformedRequest")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/ocsp-response"), (b"content-length", str(len(der)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": der})
        return
    body = json.dumps(
        {
            "type": "https://fincert.dev/problems/too-large",
            "title": "Payload Too Large",
            "status": 413,
            "detail": f"request bodies are limited to {limit} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
