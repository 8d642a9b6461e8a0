"""Minimal DER encoding shared by the VA: TLV framing for the few structures we assemble by hand.

``asn1crypto`` re-walks every nested value when it dumps (signing an OCSP response spent most of
its time re-encoding the responder certificate), and ``cryptography`` cannot build these
structures at all; the outer layers are fixed shapes, so they are framed here from parts that
are already DER.
"""

from __future__ import annotations

import datetime
from typing import Final

# AlgorithmIdentifiers: RFC 4055 wants NULL parameters for sha256WithRSAEncryption, RFC 5758
# wants none for ecdsa-with-SHA256.
SHA256_WITH_RSA: Final = bytes.fromhex("300d06092a864886f70d01010b0500")
ECDSA_WITH_SHA256: Final = bytes.fromhex("300a06082a8648ce3d040302")


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def tlv(tag: int, content: bytes | bytearray) -> bytes:
    return bytes((tag,)) + length(len(content)) + content


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def integer(n: int) -> bytes:
    # One extra bit for the sign keeps positive values from reading as negative.
    return tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def bit_string(data: bytes) -> bytes:
    return tlv(0x03, b"\x00" + data)


def generalized_time(when_utc_seconds: datetime.datetime) -> bytes:
    """GeneralizedTime ``YYYYMMDDHHMMSSZ`` of a UTC datetime already cut to whole seconds."""
    t = when_utc_seconds
    return b"\x18\x0f" + f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z".encode()
