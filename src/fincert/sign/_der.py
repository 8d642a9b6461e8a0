"""Minimal DER framing for the structures ``fincert.sign`` assembles by hand (time-stamp tokens).

asn1crypto re-walks every nested value when it dumps, so a token that embeds the TSA
certificate's names cost far more to encode than to sign. The shapes are fixed (RFC 3161,
RFC 5652), so they are framed here from parts that are already DER. Mirrors ``fincert.va._der``
(the VA's OCSP framing) plus SET OF ordering; the two could become one shared module.
"""

from __future__ import annotations

import datetime


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def tlv(tag: int, content: bytes | bytearray) -> bytes:
    """One TLV with a single-octet tag (every tag used here is below 31)."""
    return bytes((tag,)) + length(len(content)) + content


def header_length(encoded: bytes) -> int:
    """How many octets the tag and length of a single-octet-tag TLV take."""
    first = encoded[1]
    return 2 if first < 0x80 else 2 + (first & 0x7F)


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_of(*elements: bytes) -> bytes:
    # X.690 §11.6: DER orders SET OF elements by their encodings. Every element here is a
    # SEQUENCE, so plain byte order equals the zero-padded comparison DER prescribes.
    return tlv(0x31, b"".join(sorted(elements)))


def integer(n: int) -> bytes:
    """A non-negative INTEGER, minimal: one extra bit keeps the sign bit clear."""
    if n < 0:
        raise ValueError("only non-negative integers are framed here")
    return tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def generalized_time(when_utc_seconds: datetime.datetime) -> bytes:
    """GeneralizedTime ``YYYYMMDDHHMMSSZ`` of a UTC datetime already cut to whole seconds."""
    t = when_utc_seconds
    return b"\x18\x0f" + f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z".encode()
