"""signPri.key: primitives against vectors, all three forms round-trip, failures are typed."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path, PurePosixPath

import pytest
from asn1crypto import algos, core, keys
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fincert.errors import InvalidInput, NotFound, VerificationFailed
from fincert.formats import npki

PASSWORD = "qwer1234!@#$"
RANDOM_NUM = bytes(range(0xA0, 0xA0 + 20))
WRITERS = {
    "pbes2-seed": lambda key, pw, r: npki.write_sign_pri_key(key, pw, r),
    "seed-pbe": lambda key, pw, r: npki.write_sign_pri_key_legacy(key, pw, r, "seed-pbe"),
    "seed-cbc": lambda key, pw, r: npki.write_sign_pri_key_legacy(key, pw, r, "seed-cbc"),
}


@pytest.fixture(scope="module")
def key_files(holder_key: rsa.RSAPrivateKey) -> dict[str, bytes]:
    return {form: write(holder_key, PASSWORD, RANDOM_NUM) for form, write in WRITERS.items()}


# --- primitives against vectors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "plaintext", "ciphertext"),
    [
        # RFC 4269 appendix B, the first two KISA SEED vectors.
        (bytes(16), bytes(range(16)), "5ebac6e0054e166819aff1cc6d346cdb"),
        (bytes(range(16)), bytes(16), "c11f22f20140505084483597e4370f43"),
    ],
)
def test_seed_primitive_matches_rfc4269(key: bytes, plaintext: bytes, ciphertext: str) -> None:
    # One CBC block under a zero IV is the bare block cipher.
    encryptor = Cipher(SEED(key), modes.CBC(bytes(16))).encryptor()
    assert (encryptor.update(plaintext) + encryptor.finalize()).hex() == ciphertext


def test_pbkdf1_sha1_matches_vector() -> None:
    salt = bytes.fromhex("0102030405060708")
    # Computed independently: SHA1 applied 2048 times starting from SHA1(password || salt)
    # (hashlib loop, and pypinksign's pbkdf1).
    expected = "eb44ccc8970fe2e0d912a27ca058bc193250efb7"
    assert npki.pbkdf1_sha1(PASSWORD.encode(), salt, 2048).hex() == expected
    # One iteration is plain SHA1(P || S): a second, trivially checkable point.
    assert npki.pbkdf1_sha1(b"pw", b"saltsalt", 1) == hashlib.sha1(b"pwsaltsalt").digest()


def test_seed_pbe_key_and_iv_follow_the_kisa_derivation() -> None:
    key, iv = npki.seed_pbe_key_and_iv(PASSWORD.encode(), bytes.fromhex("0102030405060708"), 2048)
    assert key.hex() == "eb44ccc8970fe2e0d912a27ca058bc19"  # DK[0:16]
    assert iv.hex() == "035a3208fe2ccb365d55196de9277410"  # SHA1(DK[16:20])[0:16]


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(WRITERS))
def test_every_form_round_trips_with_random_num(
    form: str, key_files: dict[str, bytes], holder_key: rsa.RSAPrivateKey
) -> None:
    loaded = npki.read_sign_pri_key(key_files[form], PASSWORD)
    assert loaded.private_key.private_numbers() == holder_key.private_numbers()
    assert loaded.random_num == RANDOM_NUM
    info = keys.PrivateKeyInfo.load(loaded.pkcs8_der)
    [attribute] = info["attributes"]
    assert attribute["type"].dotted == npki.RANDOM_NUM_OID
    # SET { BIT STRING } with no unused bits.
    assert attribute["values"][0].dump() == b"\x03\x15\x00" + RANDOM_NUM


@pytest.mark.parametrize(
    ("form", "oid"),
    [
        ("pbes2-seed", npki.PBES2_OID),
        ("seed-pbe", npki.SEED_PBE_OID),
        ("seed-cbc", npki.SEED_CBC_OID),
    ],
)
def test_each_form_uses_its_oid(form: str, oid: str, key_files: dict[str, bytes]) -> None:
    outer = keys.EncryptedPrivateKeyInfo.load(key_files[form])
    assert outer["encryption_algorithm"]["algorithm"].dotted == oid


def test_pbes2_writer_uses_sha1_prf_8_byte_salt_2048_iterations(
    holder_key: rsa.RSAPrivateKey,
) -> None:
    salt, iv = bytes.fromhex("1122334455667788"), bytes(range(16))
    data = npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM, salt=salt, iv=iv)
    algorithm = keys.EncryptedPrivateKeyInfo.load(data)["encryption_algorithm"]["parameters"]
    kdf = algorithm["key_derivation_func"]
    assert kdf["algorithm"].dotted == "1.2.840.113549.1.5.12"
    assert kdf["parameters"]["salt"].native == salt
    assert kdf["parameters"]["iteration_count"].native == 2048
    # The PRF is left at its DEFAULT (hmacWithSHA1), so it is absent from the DER.
    assert b"\x2a\x86\x48\x86\xf7\x0d\x02" not in kdf.dump()
    scheme = algorithm["encryption_scheme"]
    assert scheme["algorithm"].dotted == npki.SEED_CBC_OID
    assert scheme["parameters"].native == iv
    # Decrypt by hand with the documented recipe, independent of the reader.
    key = PBKDF2HMAC(hashes.SHA1(), 16, salt, 2048).derive(PASSWORD.encode())
    decryptor = Cipher(SEED(key), modes.CBC(iv)).decryptor()
    ciphertext = keys.EncryptedPrivateKeyInfo.load(data)["encrypted_data"].native
    unpadder = padding.PKCS7(128).unpadder()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    plain = unpadder.update(padded) + unpadder.finalize()
    assert plain == npki.pkcs8_with_random_num(holder_key, RANDOM_NUM)
    # Same inputs, same bytes.
    assert data == npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM, salt=salt, iv=iv)


def _pbes2_file(private_key: rsa.RSAPrivateKey, prf: str, cipher_oid: str, key_size: int) -> bytes:
    """A PBES2 signPri.key with any PRF and cipher, built here without the module's writer."""
    salt, iv, iterations = os.urandom(8), os.urandom(16), 1000
    plain = npki.pkcs8_with_random_num(private_key, RANDOM_NUM)
    prf_hash = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}[prf]
    key = PBKDF2HMAC(prf_hash, key_size, salt, iterations).derive(PASSWORD.encode())
    cipher = SEED(key) if cipher_oid == npki.SEED_CBC_OID else algorithms.AES(key)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    kdf_params = algos.Pbkdf2Params(
        {
            "salt": algos.Pbkdf2Salt(name="specified", value=core.OctetString(salt)),
            "iteration_count": iterations,
            "prf": {"algorithm": prf},
        }
    )
    pbes2 = algos.Pbes2Params(
        {
            "key_derivation_func": {"algorithm": "pbkdf2", "parameters": kdf_params},
            "encryption_scheme": {"algorithm": cipher_oid, "parameters": core.OctetString(iv)},
        }
    )
    return keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {"algorithm": "1.2.840.113549.1.5.13", "parameters": pbes2},
            "encrypted_data": ciphertext,
        }
    ).dump()


@pytest.mark.parametrize(
    ("prf", "cipher_oid", "key_size"),
    [
        ("sha256", npki.SEED_CBC_OID, 16),
        ("sha1", npki.AES128_CBC_OID, 16),
        ("sha256", npki.AES256_CBC_OID, 32),
    ],
)
def test_pbes2_reader_honours_prf_and_cipher(
    prf: str, cipher_oid: str, key_size: int, holder_key: rsa.RSAPrivateKey
) -> None:
    loaded = npki.read_sign_pri_key(_pbes2_file(holder_key, prf, cipher_oid, key_size), PASSWORD)
    assert loaded.private_key.private_numbers() == holder_key.private_numbers()
    assert loaded.random_num == RANDOM_NUM


def test_reads_cryptography_pkcs8_without_random_num(holder_key: rsa.RSAPrivateKey) -> None:
    # cryptography writes PBES2 + PBKDF2-HMAC-SHA256 + AES-256-CBC and drops attributes.
    data = holder_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    loaded = npki.read_sign_pri_key(data, PASSWORD)
    assert loaded.private_key.private_numbers() == holder_key.private_numbers()
    assert loaded.random_num is None


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(WRITERS))
def test_wrong_password_is_verification_failed(form: str, key_files: dict[str, bytes]) -> None:
    with pytest.raises(VerificationFailed) as caught:
        npki.read_sign_pri_key(key_files[form], "qwer1234!@#%")
    assert caught.value.detail == "wrong password for the private key file"
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("keep", [0, 1, 10, 40, 100, -16, -1])
def test_truncated_file_is_invalid_input(keep: int, key_files: dict[str, bytes]) -> None:
    with pytest.raises(InvalidInput):
        npki.read_sign_pri_key(key_files["pbes2-seed"][:keep], PASSWORD)


def test_trailing_bytes_are_invalid_input(key_files: dict[str, bytes]) -> None:
    with pytest.raises(InvalidInput):
        npki.read_sign_pri_key(key_files["seed-pbe"] + b"\x00", PASSWORD)


def test_unknown_scheme_is_invalid_input(key_files: dict[str, bytes]) -> None:
    outer = keys.EncryptedPrivateKeyInfo.load(key_files["seed-pbe"])
    forged = keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": "1.2.840.113549.1.12.1.3",  # pbeWithSHAAnd3-KeyTripleDES-CBC
                "parameters": outer["encryption_algorithm"]["parameters"],
            },
            "encrypted_data": outer["encrypted_data"],
        }
    ).dump()
    with pytest.raises(InvalidInput, match="unsupported encryption scheme"):
        npki.read_sign_pri_key(forged, PASSWORD)


def test_absurd_iteration_count_is_refused_before_deriving(key_files: dict[str, bytes]) -> None:
    outer = keys.EncryptedPrivateKeyInfo.load(key_files["seed-pbe"])
    params = algos.Pbes1Params({"salt": b"12345678", "iterations": 2**31 - 1})
    forged = keys.EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": npki.SEED_PBE_OID,
                "parameters": core.Any.load(params.dump()),
            },
            "encrypted_data": outer["encrypted_data"],
        }
    ).dump()
    with pytest.raises(InvalidInput, match="iteration count"):
        npki.read_sign_pri_key(forged, PASSWORD)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_raises_only_typed_errors(data: bytes) -> None:
    with pytest.raises((InvalidInput, VerificationFailed)):
        npki.read_sign_pri_key(data, PASSWORD)


# Corruption inside the ciphertext often still decrypts to parseable DER, which then costs a
# full RSA key validation; keep the example count small.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
    form=st.sampled_from(sorted(WRITERS)),
)
def test_corrupted_files_raise_only_typed_errors(
    key_files: dict[str, bytes], position: int, flip: int, form: str
) -> None:
    data = bytearray(key_files[form])
    data[position % len(data)] ^= flip
    try:
        npki.read_sign_pri_key(bytes(data), PASSWORD)
    except (InvalidInput, VerificationFailed):
        pass


# --- writer arguments ---------------------------------------------------------------------------


def test_writer_refuses_bad_arguments(holder_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError):
        npki.write_sign_pri_key(holder_key, PASSWORD, b"short")
    with pytest.raises(ValueError):
        npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM, salt=b"1234")
    with pytest.raises(ValueError):
        npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM, iv=b"1234")
    with pytest.raises(ValueError):
        npki.write_sign_pri_key_legacy(
            holder_key, PASSWORD, RANDOM_NUM, "rc2"  # type: ignore[arg-type]
        )


def test_generate_random_num_is_20_fresh_bytes() -> None:
    first, second = npki.generate_random_num(), npki.generate_random_num()
    assert len(first) == len(second) == 20
    assert first != second


def test_fresh_salt_and_iv_each_write(holder_key: rsa.RSAPrivateKey) -> None:
    assert npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM) != npki.write_sign_pri_key(
        holder_key, PASSWORD, RANDOM_NUM
    )


# --- folders ------------------------------------------------------------------------------------


def test_npki_cert_dir_is_npki_style(issue_holder_cert) -> None:
    cert = issue_holder_cert()
    assert npki.npki_cert_dir("yessign", cert.subject) == PurePosixPath(
        "NPKI/yessign/USER/cn=홍길동()0011049200802151110000035,ou=KMB,ou=personal4IB,o=yessign,c=kr"
    )


@pytest.mark.parametrize("ca_name", ["", "..", "a/b", "a\\b"])
def test_npki_cert_dir_refuses_unsafe_ca_names(ca_name: str, issue_holder_cert) -> None:
    with pytest.raises(InvalidInput) as caught:
        npki.npki_cert_dir(ca_name, issue_holder_cert().subject)
    assert caught.value.field == "ca_name"


def test_npki_cert_dir_refuses_a_subject_that_climbs_out() -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "../../etc")])
    with pytest.raises(InvalidInput):
        npki.npki_cert_dir("yessign", subject)


def test_folder_round_trip_and_file_modes(
    tmp_path: Path, issue_holder_cert, holder_key: rsa.RSAPrivateKey, key_files: dict[str, bytes]
) -> None:
    cert = issue_holder_cert()
    cert_dir = npki.write_npki_folder(tmp_path, "yessign", cert, key_files["pbes2-seed"])
    assert cert_dir == tmp_path / npki.npki_cert_dir("yessign", cert.subject)
    for name in ("signCert.der", "signPri.key"):
        assert stat.S_IMODE((cert_dir / name).stat().st_mode) == 0o600
    assert (cert_dir / "signCert.der").read_bytes() == cert.public_bytes(serialization.Encoding.DER)
    loaded_cert, loaded_key = npki.read_npki_folder(cert_dir, PASSWORD)
    assert loaded_cert == cert
    assert loaded_key.random_num == RANDOM_NUM
    assert loaded_key.private_key.private_numbers() == holder_key.private_numbers()
    # Overwriting a file keeps (or restores) 0600.
    os.chmod(cert_dir / "signPri.key", 0o644)
    npki.write_npki_folder(tmp_path, "yessign", cert, key_files["seed-pbe"])
    assert stat.S_IMODE((cert_dir / "signPri.key").stat().st_mode) == 0o600


def test_writing_over_a_folder_keeps_the_old_files_whole_when_it_fails(
    tmp_path: Path, issue_holder_cert, key_files: dict[str, bytes], monkeypatch
) -> None:
    """A renewal writes over the folder of the certificate it replaces. A write that fails half
    way (a full USB stick) leaves the old files as they were and no partial file behind."""
    cert = issue_holder_cert()
    cert_dir = npki.write_npki_folder(tmp_path, "yessign", cert, key_files["seed-pbe"])
    old = {name: (cert_dir / name).read_bytes() for name in ("signCert.der", "signPri.key")}
    real = npki._write_private_file  # noqa: SLF001
    written: list[Path] = []

    def full_after_one(path: Path, data: bytes) -> None:
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        real(path, data)

    monkeypatch.setattr(npki, "_write_private_file", full_after_one)
    with pytest.raises(OSError):
        npki.write_npki_folder(tmp_path, "yessign", cert, key_files["pbes2-seed"])
    assert {p.name for p in cert_dir.iterdir()} == {"signCert.der", "signPri.key"}
    assert {name: (cert_dir / name).read_bytes() for name in old} == old
    monkeypatch.setattr(npki, "_write_private_file", real)
    npki.write_npki_folder(tmp_path, "yessign", cert, key_files["pbes2-seed"])
    assert (cert_dir / "signPri.key").read_bytes() == key_files["pbes2-seed"]
    assert {p.name for p in cert_dir.iterdir()} == {"signCert.der", "signPri.key"}


def test_folder_with_someone_elses_key_is_refused(
    tmp_path: Path, issue_holder_cert, ca_key: rsa.RSAPrivateKey, key_files: dict[str, bytes]
) -> None:
    cert = issue_holder_cert(public_key=ca_key.public_key())
    cert_dir = npki.write_npki_folder(tmp_path, "yessign", cert, key_files["seed-pbe"])
    with pytest.raises(InvalidInput, match="does not belong"):
        npki.read_npki_folder(cert_dir, PASSWORD)


def test_folder_without_files_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        npki.read_npki_folder(tmp_path, PASSWORD)


def test_default_roots_per_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert npki.default_npki_roots(platform="linux", home=home) == [home / "NPKI"]
    assert npki.default_npki_roots(platform="darwin", home=home) == [
        home / "Library" / "Preferences" / "NPKI"
    ]
    profile = tmp_path / "Users" / "hong"
    assert npki.default_npki_roots(
        platform="win32", home=home, environ={"USERPROFILE": str(profile)}
    ) == [profile / "AppData" / "LocalLow" / "NPKI"]
    assert npki.default_npki_roots() == npki.default_npki_roots(platform=sys.platform)
