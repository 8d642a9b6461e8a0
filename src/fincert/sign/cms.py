"""CMS SignedData signatures (RFC 5652) as the holder's electronic signature.

Owns producing a DER ContentInfo/SignedData over a message, detached or with the content
encapsulated, through pyHanko's ``Signer`` machinery: signed attributes contentType,
messageDigest, signingTime, signingCertificateV2 (ESSCertIDv2, SHA-256) and
cmsAlgorithmProtection; sha256WithRSAEncryption by default, RSASSA-PSS on request, ECDSA for EC
keys; and optionally a signature time-stamp (id-aa-signatureTimeStampToken) as an unsigned
attribute from any pyHanko ``TimeStamper``: ``fincert.sign.tsa.InProcessTimeStamper`` for our
own TSA, ``timestamper_for_url(url)`` for a TSA over HTTP.

The key may be in memory (``sign_cms``) or anywhere that signs on request, such as a cloud key
behind a PIN (``sign_cms_with``, given a ``RawSigner``): only the DER of the signed attributes
is sent to be signed.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime, timezone
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper

from fincert.sign._sync import run_coroutine
from fincert.sign.raw_signer import (
    HashName,
    PrivateKeySigner,
    RawSigner,
    RawSignerBridge,
    hash_algorithm,
)
from fincert.sign.tsa_client import HttpTimeStamper

__all__ = [
    "RawSigner",
    "PrivateKeySigner",
    "async_sign_cms_with",
    "sign_cms",
    "sign_cms_with",
    "timestamper_for_url",
]


def sign_cms(
    content: bytes,
    *,
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    detached: bool = True,
    pss: bool = False,
    timestamper: TimeStamper | None = None,
    hash_alg: HashName = "sha256",
    signing_time: datetime | None = None,
) -> bytes:
    """Sign ``content`` with an in-memory key; return a DER ContentInfo (SignedData).

    ``chain`` holds the certificates to embed besides the signer's (issuing CA, root).
    ``signing_time`` defaults to now; it is the signer's own claim, the time-stamp is the proof.
    """
    return sign_cms_with(
        content,
        raw_signer=PrivateKeySigner(private_key),
        certificate=certificate,
        chain=chain,
        detached=detached,
        pss=pss,
        timestamper=timestamper,
        hash_alg=hash_alg,
        signing_time=signing_time,
    )


def sign_cms_with(
    content: bytes,
    *,
    raw_signer: RawSigner,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    detached: bool = True,
    pss: bool = False,
    timestamper: TimeStamper | None = None,
    hash_alg: HashName = "sha256",
    signing_time: datetime | None = None,
) -> bytes:
    """As ``sign_cms``, for a key that signs on request and never leaves its custody."""
    signing = _signing(content, raw_signer, certificate, chain, detached, pss, timestamper, hash_alg, signing_time)
    return run_coroutine(signing).dump()


async def async_sign_cms_with(
    content: bytes,
    *,
    raw_signer: RawSigner,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    detached: bool = True,
    pss: bool = False,
    timestamper: TimeStamper | None = None,
    hash_alg: HashName = "sha256",
    signing_time: datetime | None = None,
) -> bytes:
    """The coroutine behind ``sign_cms_with``, for callers already in an event loop.

    Raises ``ValueError`` for PSS with a non-RSA key or an unknown hash, and
    ``pyhanko.sign.timestamps.TimestampRequestError`` when the TSA refuses.
    """
    signing = _signing(content, raw_signer, certificate, chain, detached, pss, timestamper, hash_alg, signing_time)
    return (await signing).dump()


def _signing(
    content: bytes,
    raw_signer: RawSigner,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    detached: bool,
    pss: bool,
    timestamper: TimeStamper | None,
    hash_alg: HashName,
    signing_time: datetime | None,
) -> Coroutine[Any, Any, cms.ContentInfo]:
    """What ``sign_cms_with`` and ``async_sign_cms_with`` share: check the arguments and build
    the signer now (a ``ValueError`` comes before any event loop starts), and return the
    not-yet-started coroutine that signs, for the caller to run or await."""
    hash_algorithm(hash_alg)
    signer = RawSignerBridge(raw_signer, certificate, chain, pss=pss, hash_alg=hash_alg)
    when = (signing_time or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return signer.async_sign_general_data(
        bytes(content),
        hash_alg,
        detached=detached,
        timestamper=timestamper,
        # signingTime is second-precision UTCTime; dropping microseconds keeps what is signed
        # equal to what a verifier reads back.
        signed_attr_settings=PdfCMSSignedAttributes(signing_time=when.replace(microsecond=0)),
    )


def timestamper_for_url(url: str, *, timeout: float = 5.0) -> TimeStamper:
    """A pyHanko timestamper that posts RFC 3161 requests to a TSA over HTTP(S); its failures are
    ``fincert.sign.tsa_client.TimeStampFailed`` (unreachable, not a reply, refused)."""
    return HttpTimeStamper(url, timeout=timeout)
