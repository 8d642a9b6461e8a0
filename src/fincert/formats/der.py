"""Minimal DER: framing the structures the VA and ``fincert.sign`` assemble by hand, and a strict
reader for the ones the signature verifier takes apart.

Pure functions over bytes (no database, web or global state), shared by ``fincert.va`` (OCSP
responses, CRLs) and ``fincert.sign`` (time-stamp tokens, the CMS verification fast path).

Writing: ``asn1crypto`` re-walks every nested value when it dumps (signing an OCSP response spent
most of its time re-encoding the responder certificate, and a time-stamp token that embeds the
TSA certificate's names cost far more to encode than to sign), and ``cryptography`` cannot build
these structures at all. Their outer layers are fixed shapes (RFC 6960, RFC 5280, RFC 3161,
RFC 5652), so they are framed here from parts that are already DER: :func:`tlv` and its
shorthands, :func:`set_of` with DER's SET OF ordering, and the AlgorithmIdentifiers the VA signs
with. Every tag framed here is a single octet (below 31, or a context tag such as ``0xA0``).

Reading: :func:`element` and :func:`elements` split DER into ``(tag, header offset, contents
offset, end)`` without building objects, which is what makes a CMS signature cheap to take apart.
They are strict and accept only what DER allows for the shapes read: single-octet tags, definite
lengths in their shortest form, no trailing bytes inside a parent. Anything else raises
:class:`DerError`, and the caller falls back to the full parser (asn1crypto/pyHanko).
"""

from __future__ import annotations

import datetime
from typing import Final

# --- writing ----------------------------------------------------------------------------------

# AlgorithmIdentifiers: RFC 4055 wants NULL parameters for sha256WithRSAEncryption, RFC 5758
# wants none for ecdsa-with-SHA256.
SHA256_WITH_RSA: Final = bytes.fromhex("300d06092a864886f70d01010b0500")
ECDSA_WITH_SHA256: Final = bytes.fromhex("300a06082a8648ce3d040302")


def length(n: int) -> bytes:
    """A definite length in its shortest form."""
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def tlv(tag: int, content: bytes | bytearray) -> bytes:
    """One TLV with a single-octet tag (every tag used here is below 31, or a context tag)."""
    return bytes((tag,)) + length(len(content)) + content


def header_length(encoded: bytes) -> int:
    """How many octets the tag and length of a single-octet-tag TLV take."""
    first = encoded[1]
    return 2 if first < 0x80 else 2 + (first & 0x7F)


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_of(*elements: bytes) -> bytes:
    # X.690 §11.6: DER orders SET OF elements by their encodings. Every element framed here is a
    # SEQUENCE, so plain byte order equals the zero-padded comparison DER prescribes.
    return tlv(0x31, b"".join(sorted(elements)))


def integer(n: int) -> bytes:
    """An INTEGER in its minimal two's-complement form.

    Negative values are framed too: the OCSP responder echoes the serial of a request's CertID,
    which a client may send negative (the certificate is then ``unknown``). The octet count comes
    from the magnitude's bits plus one sign bit (``~n`` for negatives, so -128 is ``80``, not
    ``ff80``).
    """
    return tlv(0x02, n.to_bytes((n if n >= 0 else ~n).bit_length() // 8 + 1, "big", signed=True))


def bit_string(data: bytes) -> bytes:
    """A BIT STRING of whole octets (no unused bits)."""
    return tlv(0x03, b"\x00" + data)


def generalized_time(when_utc_seconds: datetime.datetime) -> bytes:
    """GeneralizedTime ``YYYYMMDDHHMMSSZ`` of a UTC datetime already cut to whole seconds."""
    t = when_utc_seconds
    return b"\x18\x0f" + f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z".encode()


# --- reading ----------------------------------------------------------------------------------

#: (tag octet, offset of the tag, offset of the contents, offset just past the element).
Element = tuple[int, int, int, int]


class DerError(ValueError):
    """Bytes that are not DER of the restricted kind :func:`element` reads."""


def element(data: bytes, pos: int, limit: int) -> Element:
    """The DER element starting at ``pos``, which must end at or before ``limit``."""
    if pos + 2 > limit:
        raise DerError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-octet tags are not read here")
    size = data[pos + 1]
    start = pos + 2
    if size >= 0x80:
        start, size = _long_length(data, pos, limit)
    end = start + size
    if end > limit:
        raise DerError("element runs past its parent")
    return tag, pos, start, end


def elements(data: bytes, start: int, end: int) -> list[Element]:
    """The elements that exactly fill ``data[start:end]`` (a constructed value's contents)."""
    # element() inlined, with the one- and two-octet lengths of CMS read in place: this loop
    # runs ~70 times per signature on the verification fast path.
    found = []
    pos = start
    while pos < end:
        if pos + 2 > end:
            raise DerError("truncated element")
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise DerError("multi-octet tags are not read here")
        size = data[pos + 1]
        body = pos + 2
        if size >= 0x80:
            if size == 0x81 and pos + 3 <= end:
                size, body = data[pos + 2], pos + 3
                if size < 0x80:
                    raise DerError("length not in its shortest form")
            elif size == 0x82 and pos + 4 <= end:
                size, body = (data[pos + 2] << 8) | data[pos + 3], pos + 4
                if size < 0x100:
                    raise DerError("length not in its shortest form")
            else:
                body, size = _long_length(data, pos, end)
        stop = body + size
        if stop > end:
            raise DerError("element runs past its parent")
        found.append((tag, pos, body, stop))
        pos = stop
    return found


def children(data: bytes, item: Element, tag: int) -> list[Element]:
    """The elements inside ``item``, which must carry ``tag``."""
    if item[0] != tag:
        raise DerError("unexpected tag")
    return elements(data, item[2], item[3])


def _long_length(data: bytes, pos: int, limit: int) -> tuple[int, int]:
    """(contents offset, length) of an element at ``pos`` whose length takes several octets."""
    count = data[pos + 1] & 0x7F
    # 0x80 is BER's indefinite length; more than 4 length octets is not a signature.
    if count == 0 or count > 4 or pos + 2 + count > limit:
        raise DerError("unsupported length")
    if data[pos + 2] == 0:
        raise DerError("length not in its shortest form")
    start = pos + 2 + count
    size = int.from_bytes(data[pos + 2 : start], "big")
    if size < 0x80 or size < 1 << (8 * (count - 1)):
        raise DerError("length not in its shortest form")
    return start, size
