"""Minimal DER framing for the structures ``fincert.sign`` assembles and reads by hand.

Writing (time-stamp tokens): asn1crypto re-walks every nested value when it dumps, so a token
that embeds the TSA certificate's names cost far more to encode than to sign. The shapes are
fixed (RFC 3161, RFC 5652), so they are framed here from parts that are already DER. Mirrors
``fincert.va._der`` (the VA's OCSP framing) plus SET OF ordering.

Reading (the verification fast path): :func:`element` and :func:`elements` split DER into
``(tag, header offset, contents offset, end)`` without building objects, which is what makes a
CMS signature cheap to take apart. They accept only what DER allows for the shapes we read:
single-octet tags, definite lengths in their shortest form, no trailing bytes inside a parent.
Anything else raises ``DerError`` and the caller falls back to the full (asn1crypto) parser.
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
