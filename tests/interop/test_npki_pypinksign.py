"""pypinksign, an independent NPKI client, against fincert's key files and folders (both ways)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pypinksign
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID
from pypinksign.pypinksign import encrypt_decrypted_prikey, inject_rand_in_plain_prikey

from fincert.formats import npki

pytestmark = pytest.mark.interop

PASSWORD = "h@ppy-chr1stm@s"
RANDOM_NUM = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f000112233")
CN = "홍길동()0011049200802151110000035"


@pytest.fixture(scope="module")
def holder() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    holder_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "kr"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yessign"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "personal4IB"),
            x509.NameAttribute(NameOID.COMMON_NAME, CN),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fincert test CA")]))
        .public_key(holder_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(ca_key, hashes.SHA256())
    )
    return holder_key, cert


def _pinksign_random_num(pinksign: pypinksign.PinkSign) -> bytes:
    # pypinksign keeps the attribute as a pyasn1 BIT STRING in a private field.
    return pinksign._rand_num.asOctets()


@pytest.mark.parametrize("form", ["pbes2-seed", "seed-pbe", "seed-cbc"])
def test_pypinksign_loads_every_form_fincert_writes(
    form: str, holder: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    holder_key, cert = holder
    if form == "pbes2-seed":
        key_file = npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM)
    else:
        key_file = npki.write_sign_pri_key_legacy(holder_key, PASSWORD, RANDOM_NUM, form)
    pinksign = pypinksign.PinkSign(pubkey_data=cert.public_bytes(serialization.Encoding.DER))
    pinksign.load_prikey(prikey_data=key_file, prikey_password=PASSWORD.encode())
    assert pinksign.prikey.private_numbers() == holder_key.private_numbers()
    assert _pinksign_random_num(pinksign) == RANDOM_NUM


def test_pypinksign_finds_and_uses_a_fincert_folder(
    tmp_path: Path, holder: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    holder_key, cert = holder
    key_file = npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM)
    npki.write_npki_folder(tmp_path, "yessign", cert, key_file)
    # choose_cert walks NPKI/*/USER/cn=* exactly as banking clients lay it out.
    pinksign = pypinksign.choose_cert(
        base_path=str(tmp_path / "NPKI"), cn="홍길동", pw=PASSWORD.encode()
    )
    assert pinksign.cn() == CN
    signature = pinksign.sign(b"transfer 10000 KRW")
    cert.public_key().verify(signature, b"transfer 10000 KRW", PKCS1v15(), hashes.SHA256())


def test_fincert_reads_a_key_file_pypinksign_writes(
    holder: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> None:
    holder_key, _ = holder
    plain = holder_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with_random = inject_rand_in_plain_prikey(base64.b64encode(plain).decode(), RANDOM_NUM)
    key_file = base64.b64decode(encrypt_decrypted_prikey(with_random, PASSWORD.encode()))
    loaded = npki.read_sign_pri_key(key_file, PASSWORD)
    assert loaded.private_key.private_numbers() == holder_key.private_numbers()
    assert loaded.random_num == RANDOM_NUM
    assert loaded.pkcs8_der == base64.b64decode(with_random)


def test_fincert_reads_a_cp949_password_file_from_pypinksign(
    holder: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> None:
    # Windows clients hash Hangul passwords as CP949 bytes.
    holder_key, _ = holder
    password = "비밀번호1234!"
    plain = holder_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with_random = inject_rand_in_plain_prikey(base64.b64encode(plain).decode(), RANDOM_NUM)
    key_file = base64.b64decode(encrypt_decrypted_prikey(with_random, password.encode("cp949")))
    assert npki.read_sign_pri_key(key_file, password).random_num == RANDOM_NUM
