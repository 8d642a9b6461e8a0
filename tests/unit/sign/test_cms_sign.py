"""CMS signing: structure, attributes and algorithms of what sign_cms / sign_cms_with produce."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from fincert.clock import FakeClock
from fincert.sign.cms import PrivateKeySigner, RawSigner, sign_cms, sign_cms_with
from fincert.sign.testing import TestPki, build_test_pki
from fincert.sign.tsa import InProcessTimeStamper, TimeStampAuthority

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
DATA = "이체 확인: 1,000,000원".encode()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START)


@pytest.fixture(scope="module")
def ec_signer(pki: TestPki):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = pki.issue_signer(key.public_key(), not_before=START, not_after=START + timedelta(days=30))
    return key, cert


def _sign(pki: TestPki, **kwargs) -> cms.SignedData:
    der = sign_cms(
        DATA,
        private_key=pki.signer_key,
        certificate=pki.signer,
        chain=[pki.issuing_ca],
        signing_time=START + timedelta(hours=2, microseconds=5),
        **kwargs,
    )
    content_info = cms.ContentInfo.load(der)
    assert content_info["content_type"].native == "signed_data"
    return content_info["content"]


def _attr(attrs: cms.CMSAttributes, name: str):
    values = [a["values"][0] for a in attrs if a["type"].native == name]
    assert len(values) == 1, name
    return values[0]


def _der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_detached_signature_has_no_content_and_the_four_signed_attributes(pki):
    signed_data = _sign(pki)
    signer_info = signed_data["signer_infos"][0]
    attrs = signer_info["signed_attrs"]

    assert signed_data["encap_content_info"]["content"].native is None
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    assert _attr(attrs, "content_type").native == "data"
    assert _attr(attrs, "message_digest").native == hashlib.sha256(DATA).digest()
    assert _attr(attrs, "signing_time").native == START + timedelta(hours=2)
    ess = _attr(attrs, "signing_certificate_v2")["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(_der(pki.signer)).digest()
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_rsa"
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    assert signer_info["unsigned_attrs"].native is None
    embedded = {c.chosen.dump() for c in signed_data["certificates"]}
    assert embedded == {_der(pki.signer), _der(pki.issuing_ca)}
    # An independent check of the signature value with cryptography, not pyHanko.
    pki.signer.public_key().verify(
        signer_info["signature"].native, attrs.untag().dump(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_attached_signature_encapsulates_the_content(pki):
    signed_data = _sign(pki, detached=False)
    assert bytes(signed_data["encap_content_info"]["content"]) == DATA
    assert signed_data["version"].native == "v1"


def test_pss_signature_uses_rsassa_pss_with_hash_length_salt(pki):
    signer_info = _sign(pki, pss=True)["signer_infos"][0]
    algorithm = signer_info["signature_algorithm"]

    assert algorithm["algorithm"].native == "rsassa_pss"
    params = algorithm["parameters"]
    assert params["hash_algorithm"]["algorithm"].native == "sha256"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
    assert params["salt_length"].native == 32
    pki.signer.public_key().verify(
        signer_info["signature"].native,
        signer_info["signed_attrs"].untag().dump(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_ec_key_signs_with_ecdsa_and_refuses_pss(pki, ec_signer):
    key, cert = ec_signer
    der = sign_cms(DATA, private_key=key, certificate=cert, chain=[])
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    key.public_key().verify(
        signer_info["signature"].native, signer_info["signed_attrs"].untag().dump(), ec.ECDSA(hashes.SHA256())
    )
    with pytest.raises(ValueError):
        sign_cms(DATA, private_key=key, certificate=cert, chain=[], pss=True)


class RecordingVaultKey:
    """Stands in for a cloud key: signs on request and remembers what it was asked to sign."""

    def __init__(self, key) -> None:
        self._inner = PrivateKeySigner(key)
        self.requests: list[tuple[bytes, str, bool]] = []

    def sign(self, data: bytes, hash_alg, *, pss: bool = False) -> bytes:
        self.requests.append((data, hash_alg, pss))
        return self._inner.sign(data, hash_alg, pss=pss)


def test_raw_signer_is_asked_to_sign_exactly_the_signed_attributes(pki):
    vault_key = RecordingVaultKey(pki.signer_key)
    assert isinstance(vault_key, RawSigner)

    der = sign_cms_with(DATA, raw_signer=vault_key, certificate=pki.signer, chain=[pki.issuing_ca], pss=True)

    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert vault_key.requests == [(signer_info["signed_attrs"].untag().dump(), "sha256", True)]


def test_signature_timestamp_is_an_unsigned_attribute_over_the_signature_value(pki):
    clock = FakeClock(START + timedelta(hours=3))
    serials = itertools.count(1)
    tsa = TimeStampAuthority(pki.tsa, [], pki.tsa_key, "2.25.1", 1, clock, lambda: next(serials))

    signer_info = _sign(pki, timestamper=InProcessTimeStamper(tsa))["signer_infos"][0]

    token = _attr(signer_info["unsigned_attrs"], "signature_time_stamp_token")
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["gen_time"].native == clock.now()
    imprint = tst_info["message_imprint"]["hashed_message"].native
    assert imprint == hashlib.sha256(signer_info["signature"].native).digest()


def test_sync_api_works_inside_a_running_event_loop(pki):
    async def route_handler() -> bytes:
        return sign_cms(DATA, private_key=pki.signer_key, certificate=pki.signer, chain=[])

    der = asyncio.run(route_handler())
    assert cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
