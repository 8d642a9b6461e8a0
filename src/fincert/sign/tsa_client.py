"""Asking a time-stamp authority over HTTP (RFC 3161 §3.4) for CMS signing.

pyHanko's own HTTP time-stamper turns every failure (no route to the host, an HTTP error page, a
refusal) into one ``TimestampRequestError``, so a user who typed the wrong port was told the TSA
"did not grant a time-stamp". This client tells the three apart with typed errors: the TSA could
not be reached, it answered with something other than a time-stamp reply, or it refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from asn1crypto import tsp
from pyhanko.sign.timestamps import TimeStamper

from fincert.errors import InvalidInput, brief_reason
from fincert.sign.tsa import _TimeStampResp

__all__ = ["HttpTimeStamper", "TsaBadReply", "TsaRefused", "TsaUnreachable", "TimeStampFailed", "display_url"]

REQUEST_MEDIA_TYPE = "application/timestamp-query"
REPLY_MEDIA_TYPE = "application/timestamp-reply"

#: The PKIStatus under which a reply's token is used. ``granted_with_mods`` (the TSA changed
#: something the request asked for, e.g. its policy) carries a token too, but pyHanko refuses
#: it; this client says so by name instead of pyHanko's generic "did not grant".
_GRANTED = "granted"


class TimeStampFailed(InvalidInput):
    """A time-stamp could not be obtained from the TSA the caller named (``field="tsa"``).

    ``InvalidInput``: the URL is the caller's choice, and the answer is to pick another TSA or
    sign without one.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="tsa")


class TsaUnreachable(TimeStampFailed):
    """No HTTP answer: refused connection, unknown host, timeout, TLS failure, unusable URL."""


class TsaBadReply(TimeStampFailed):
    """An HTTP answer that is not a time-stamp reply (an error status, another media type, not DER)."""


class TsaRefused(TimeStampFailed):
    """A well-formed time-stamp reply whose PKIStatus is not a grant."""


def display_url(url: str) -> str:
    """``url`` fit for an error message: user info (a TSA's basic-auth password) is masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # Cannot tell where a password would be, so show none of it.
        return "(the TSA URL)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}").geturl()


def _reason(exc: BaseException, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return brief_reason(exc, hide=password)  # some transport messages quote the URL they failed on


class HttpTimeStamper(TimeStamper):
    """A pyHanko ``TimeStamper`` posting requests to ``url``; failures are ``TimeStampFailed``."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        shown = display_url(self.url)
        try:
            # A client per request: each synchronous signing call runs its own event loop.
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                reply = await client.post(self.url, content=req.dump(), headers={"Content-Type": REQUEST_MEDIA_TYPE})
        # RequestError: the request did not complete; InvalidURL: httpx could not even build it.
        except (httpx.RequestError, httpx.InvalidURL) as exc:
            raise TsaUnreachable(f"cannot reach the TSA at {shown} ({_reason(exc, self.url)})") from None
        if reply.status_code != 200:
            raise TsaBadReply(f"the TSA at {shown} answered HTTP {reply.status_code}")
        media_type = reply.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != REPLY_MEDIA_TYPE:
            raise TsaBadReply(f"the TSA at {shown} did not answer with a time-stamp reply ({media_type or 'no content type'})")
        try:
            # Read with the token optional: asn1crypto's own class cannot read a rejection at all.
            response = _TimeStampResp.load(reply.content)
            status_info = response["status"]
            status = status_info["status"].native
            fail_info = status_info["fail_info"].native
        except (ValueError, TypeError, KeyError):  # asn1crypto's ways of refusing bytes
            raise TsaBadReply(f"the TSA at {shown} answered with bytes that are not a time-stamp reply") from None
        if status == "granted_with_mods":
            raise TsaRefused(
                f"the TSA at {shown} granted a time-stamp with modifications (grantedWithMods), which is not "
                "accepted: ask it for an unmodified grant or use another TSA"
            )
        if status != _GRANTED:
            # Only the PKIStatus and failInfo names: statusString is free text from the server.
            reasons = ", ".join([str(status), *sorted(str(flag) for flag in fail_info or ())])
            raise TsaRefused(f"the time-stamp authority did not grant a time-stamp ({reasons})")
        return response
