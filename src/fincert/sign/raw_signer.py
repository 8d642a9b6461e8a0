"""Where a signing key lives, kept out of the CMS and TSA code.

Owns the ``RawSigner`` protocol (a key that signs bytes and never hands itself over, such as a
PIN-unlocked cloud key in the vault), its in-memory implementation over a ``cryptography``
private key, and the bridge that lets pyHanko's CMS machinery drive either of them.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

HashName = Literal["sha256", "sha384", "sha512"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """The ``cryptography`` hash for one of the digest names fincert signs with."""
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {name!r}") from None


@runtime_checkable
class RawSigner(Protocol):
    """A private key that signs on request and never leaves wherever it is kept.

    ``sign`` receives the whole message (not a digest), hashes it with ``hash_alg`` and returns
    the signature in the form its algorithm defines: PKCS#1 v1.5 or, when ``pss`` is true,
    RSASSA-PSS with MGF1 over the same hash and a salt as long as the digest (RSA keys); a DER
    ECDSA-Sig-Value (EC keys, which ignore ``pss``). Raises whatever the key's custody raises
    (for a vault: ``Locked``, ``Unauthorized``).
    """

    def sign(self, data: bytes, hash_alg: HashName, *, pss: bool = False) -> bytes: ...


class PrivateKeySigner:
    """A ``RawSigner`` over a private key held in this process (file keys, the TSA's key)."""

    def __init__(self, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise TypeError("only RSA and EC private keys can sign CMS here")
        self._key = private_key

    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, data: bytes, hash_alg: HashName, *, pss: bool = False) -> bytes:
        digest = hash_algorithm(hash_alg)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(digest))
        if pss:
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(digest), salt_length=digest.digest_size
            )
        else:
            pad = padding.PKCS1v15()
        return self._key.sign(data, pad, digest)


def as_raw_signer(
    key: RawSigner | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
) -> RawSigner:
    """Accept either an in-memory private key or something that signs for one."""
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return PrivateKeySigner(key)
    if isinstance(key, RawSigner):
        return key
    raise TypeError("expected an RSA/EC private key or an object with sign(data, hash_alg)")


def to_asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def pss_mechanism(hash_alg: HashName) -> algos.SignedDigestAlgorithm:
    """RSASSA-PSS parameters matching ``PrivateKeySigner``: MGF1 with the same hash, salt = hLen.

    Spelled out here rather than taken from pyHanko's ``optimal_pss_params`` (maximum salt)
    because a remote key must be told exactly which salt length to use, and hLen is what
    RFC 4056 recommends and every verifier accepts.
    """
    digest_algorithm = algos.DigestAlgorithm({"algorithm": hash_alg})
    return algos.SignedDigestAlgorithm(
        {
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams(
                {
                    "hash_algorithm": digest_algorithm,
                    "mask_gen_algorithm": algos.MaskGenAlgorithm(
                        {"algorithm": "mgf1", "parameters": digest_algorithm}
                    ),
                    "salt_length": hash_algorithm(hash_alg).digest_size,
                    "trailer_field": "trailer_field_bc",
                }
            ),
        }
    )


class RawSignerBridge(Signer):
    """pyHanko ``Signer`` that asks a ``RawSigner`` for the signature value.

    pyHanko builds the signed attributes, SignerInfo and SignedData; only the raw signature
    crosses to the key, so a vault key signs exactly the DER of the signed attributes.
    """

    def __init__(
        self,
        raw_signer: RawSigner,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
        *,
        pss: bool = False,
        hash_alg: HashName = "sha256",
    ) -> None:
        signing_cert = to_asn1_certificate(certificate)
        is_rsa = signing_cert.public_key.algorithm == "rsa"
        if pss and not is_rsa:
            raise ValueError("RSASSA-PSS needs an RSA key")
        self._raw_signer = raw_signer
        self._pss = pss and is_rsa
        super().__init__(
            signing_cert=signing_cert,
            cert_registry=SimpleCertificateStore.from_certs(
                [to_asn1_certificate(c) for c in chain]
            ),
            signature_mechanism=pss_mechanism(hash_alg) if self._pss else None,
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm not in _HASHES:
            raise ValueError(f"unsupported digest algorithm {digest_algorithm!r}")
        return self._raw_signer.sign(data, digest_algorithm, pss=self._pss)  # type: ignore[arg-type]
