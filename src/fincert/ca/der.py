"""Re-assembling a signed X.509 structure around a signature made elsewhere.

Certificates and CRLs are ``SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }``.
``cryptography`` builders only sign with an in-memory key, so the CA builds a draft signed by
a throwaway key of the same algorithm (which also gives the exact to-be-signed bytes to
check against the profile, as Boulder lints a throwaway-signed precertificate), then signs
those bytes with the real key wherever it lives and swaps the signature in.
"""

from __future__ import annotations


def _read_length(data: bytes, offset: int) -> tuple[int, int]:
    """Return (content length, offset of the content) for the TLV whose length starts at offset."""
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise ValueError("unsupported DER length")
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def signature_algorithm_der(signed_der: bytes, tbs: bytes) -> bytes:
    """The signatureAlgorithm TLV that follows ``tbs`` in a signed structure."""
    if signed_der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    _, content = _read_length(signed_der, 1)
    if signed_der[content : content + len(tbs)] != tbs:
        raise ValueError("the to-be-signed part is not where it should be")
    alg_start = content + len(tbs)
    alg_len, alg_content = _read_length(signed_der, alg_start + 1)
    return signed_der[alg_start : alg_content + alg_len]


def assemble_signed(tbs: bytes, algorithm_der: bytes, signature: bytes) -> bytes:
    bit_string = b"\x03" + encode_length(len(signature) + 1) + b"\x00" + signature
    body = tbs + algorithm_der + bit_string
    return b"\x30" + encode_length(len(body)) + body
