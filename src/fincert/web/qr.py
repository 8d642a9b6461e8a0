"""QR codes as inline SVG (the ``otpauth://`` URI an authenticator app scans at OTP enrollment).

SVG, not PNG, so the page needs no image route and the code never reaches a cache or a log.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from markupsafe import Markup


def svg(data: str, *, title: str = "QR") -> Markup:
    """An ``<svg>`` element of ``data``; ``title`` is its accessible name."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    text = buffer.getvalue().decode()
    text = text[text.index("<svg"):]
    # role/aria-label make the code announced as one image instead of being skipped.
    text = text.replace("<svg", f'<svg role="img" aria-label="{Markup.escape(title)}"', 1)
    return Markup(text)
