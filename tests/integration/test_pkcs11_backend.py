"""The PKCS#11 key backend against a real token module (SoftHSM2): keys are made on the token,
stay there (sensitive, not extractable) and sign what the CA, the VA and the TSA sign."""

from __future__ import annotations

import secrets

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fincert.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from fincert.keys.backend import KeyBackend, KeyType, LabelledKey
from fincert.keys.pkcs11 import Pkcs11KeyBackend
from softhsm import softhsm_token  # noqa: F401 - the session's token


@pytest.fixture
def backend(softhsm_token):
    keys = Pkcs11KeyBackend(softhsm_token.library, softhsm_token.label, softhsm_token.pin)
    yield keys
    keys.close()


def label(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def verify(public, signature: bytes, data: bytes) -> None:
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key_type", [KeyType.RSA2048, KeyType.P256])
def test_generated_keys_sign_sha256_and_are_found_again(backend, softhsm_token, key_type):
    name = label("issuing")
    assert isinstance(backend, KeyBackend) and not backend.exists(name)
    public = backend.generate(name, key_type)
    assert isinstance(public, rsa.RSAPublicKey if key_type is KeyType.RSA2048 else ec.EllipticCurvePublicKey)
    if key_type is KeyType.RSA2048:
        assert public.key_size == 2048 and public.public_numbers().e == 65537
    data = b"tbsCertificate bytes" * 40
    verify(public, backend.sign(name, data), data)
    with pytest.raises(InvalidSignature):
        verify(public, backend.sign(name, data), data + b"!")
    # Another process's view of the token: a new backend finds the key by its label alone.
    other = Pkcs11KeyBackend(softhsm_token.library, softhsm_token.label, softhsm_token.pin)
    try:
        assert other.exists(name) and other.public_key(name) == public
        verify(public, other.sign(name, data), data)
        assert LabelledKey(other, name).public_key() == public
    finally:
        other.close()


def test_private_keys_stay_on_the_token(backend, softhsm_token):
    name = label("root")
    backend.generate(name, KeyType.RSA2048)
    lib = pkcs11.lib(str(softhsm_token.library))
    with lib.get_token(token_label=softhsm_token.label).open() as session:  # logged in by the backend's session
        (private,) = session.get_objects({pkcs11.Attribute.LABEL: name, pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
        assert private[pkcs11.Attribute.TOKEN] is True
        with pytest.raises(pkcs11.PKCS11Error):
            private[pkcs11.Attribute.PRIVATE_EXPONENT]


def test_a_label_is_one_key(backend):
    name = label("tsa")
    backend.generate(name, KeyType.P256)
    with pytest.raises(Conflict):
        backend.generate(name, KeyType.RSA2048)
    backend.destroy(name)
    assert not backend.exists(name)
    with pytest.raises(NotFound):
        backend.sign(name, b"x")
    with pytest.raises(NotFound):
        backend.public_key(name)
    with pytest.raises(InvalidInput):
        backend.generate("../etc", KeyType.P256)


def test_a_wrong_token_is_a_configuration_error(softhsm_token, tmp_path):
    with pytest.raises(ConfigurationError, match="no token labelled 'absent'"):
        Pkcs11KeyBackend(softhsm_token.library, "absent", softhsm_token.pin).exists("root-1")
    with pytest.raises(ConfigurationError, match="no PKCS#11 module"):
        Pkcs11KeyBackend(tmp_path / "missing.so", softhsm_token.label, softhsm_token.pin).exists("root-1")
    with pytest.raises(ConfigurationError, match="FINCERT_PKCS11_PIN"):
        Pkcs11KeyBackend(softhsm_token.library, softhsm_token.label, "")


def test_a_session_the_module_dropped_is_opened_again(backend):
    # An HSM restart or a network module's failover ends the session under the backend: the
    # next signature opens a new one instead of failing until the service restarts.
    name = label("issuing")
    public = backend.generate(name, KeyType.RSA2048)
    verify(public, backend.sign(name, b"before"), b"before")
    backend._session.close()  # noqa: SLF001 - what the module does when the device goes away
    verify(public, backend.sign(name, b"after"), b"after")
