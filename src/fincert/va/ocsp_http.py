"""OCSP over HTTP (RFC 6960 Appendix A, RFC 5019): what every fincert OCSP edge shares.

Used by the web app's ``/ocsp`` routes (``api/routes/va.py``) and by the dedicated responder
process (``va/ocsp_server.py``), so both decode requests and cap caching the same way.
"""

from __future__ import annotations

import base64
import binascii

from fincert.va.ocsp import MAX_REQUEST_BYTES

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
#: Cap on a cached OCSP response's max-age (RFC 5019 §6.2 asks for at most nextUpdate): a
#: revocation re-signs at once, and this bounds how long a CDN may keep serving the old answer.
OCSP_MAX_AGE = 3600


def decode_get_request(encoded: str) -> bytes | None:
    """The DER request of an RFC 6960 Appendix A.1 GET path, or None when it is not base64.

    Accepts standard and URL-safe base64, with or without padding; the path arrives
    percent-decoded, and a '+' some clients leave raw may have become a space on the way.
    """
    text = encoded.strip("/").replace(" ", "+").replace("-", "+").replace("_", "/")
    if not text or len(text) > (MAX_REQUEST_BYTES * 4) // 3 + 4:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
