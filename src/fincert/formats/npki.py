"""The NPKI (공동인증서) key file and folder formats.

Owns reading and writing ``signPri.key`` (a PKCS#8 ``EncryptedPrivateKeyInfo`` in any of the
three forms Korean banking clients produce), the ``randomNum`` attribute kept inside it, and the
``NPKI/<CA>/USER/<subject DN>/`` folder layout with ``signCert.der`` beside the key.

``cryptography`` rejects both SEED OIDs, so the envelope is parsed with asn1crypto, the key is
derived here (PBKDF1 has no library implementation) and decrypted with cryptography's decrepit
SEED cipher; the plain PKCS#8 is then loaded by cryptography.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from asn1crypto import algos, core, keys
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from fincert.errors import InvalidInput, NotFound, VerificationFailed
from fincert.formats.passwords import encode_file_password

# OIDs of the three signPri.key forms and their parts.
SEED_PBE_OID = "1.2.410.200004.1.15"  # pbeWithSHA1AndSEED-CBC
SEED_CBC_OID = "1.2.410.200004.1.4"  # seedCBC
PBES2_OID = "1.2.840.113549.1.5.13"
PBKDF2_OID = "1.2.840.113549.1.5.12"
AES128_CBC_OID = "2.16.840.1.101.3.4.1.2"
AES256_CBC_OID = "2.16.840.1.101.3.4.1.42"
#: KISA ``randomNum`` PKCS#8 attribute: SET { BIT STRING } of 20 bytes, the VID secret.
RANDOM_NUM_OID = "1.2.410.200004.10.1.1.3"

RANDOM_NUM_LENGTH = 20
#: The fixed IV of the old seedCBC-only form.
LEGACY_SEED_CBC_IV = b"0123456789012345"
SIGN_CERT_FILENAME = "signCert.der"
SIGN_PRI_KEY_FILENAME = "signPri.key"

# Real files use 2048; the cap stops a hostile file from buying minutes of CPU (PBKDF1 runs
# in Python).
_MAX_ITERATIONS = 1_000_000

_PBKDF2_PRFS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_WRONG_PASSWORD = "wrong password for the private key file"
_MALFORMED = "the private key file is not a valid NPKI signPri.key"

# asn1crypto raises these (not one base class) when lazily parsing hostile bytes.
_ASN1_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


class _AlgorithmIdentifier(core.Sequence):
    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _EncryptedPrivateKeyInfo(core.Sequence):
    _fields = [
        ("encryption_algorithm", _AlgorithmIdentifier),
        ("encrypted_data", core.OctetString),
    ]


class _SeedPbeParams(core.Sequence):
    """Parameters of both SEED forms (PKCS#5 v1 PBEParameter)."""

    _fields = [
        ("salt", core.OctetString),
        ("iterations", core.Integer),
    ]


class _Pbes2Params(core.Sequence):
    _fields = [
        ("key_derivation_func", _AlgorithmIdentifier),
        ("encryption_scheme", _AlgorithmIdentifier),
    ]


@dataclass(frozen=True)
class NpkiPrivateKey:
    """A decrypted ``signPri.key``."""

    #: The key as a cryptography object (RSA for every NPKI certificate in practice).
    private_key: PrivateKeyTypes
    #: The 20-byte ``randomNum`` attribute (the VID secret); ``None`` when the file has none.
    random_num: bytes | None
    #: The decrypted PKCS#8 ``PrivateKeyInfo``, attributes included.
    pkcs8_der: bytes


def generate_random_num() -> bytes:
    """A fresh 20-byte ``randomNum`` from the OS CSPRNG."""
    return secrets.token_bytes(RANDOM_NUM_LENGTH)


# --- key derivation -------------------------------------------------------------------------


def pbkdf1_sha1(password: bytes, salt: bytes, iterations: int) -> bytes:
    """PKCS#5 v1 PBKDF1 with SHA-1 (20 bytes): T1 = SHA1(P || S), Ti = SHA1(Ti-1)."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    derived = hashlib.sha1(password + salt).digest()
    for _ in range(iterations - 1):
        derived = hashlib.sha1(derived).digest()
    return derived


def seed_pbe_key_and_iv(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """Key and IV of pbeWithSHA1AndSEED-CBC: key = DK[0:16], IV = SHA1(DK[16:20])[0:16]."""
    derived = pbkdf1_sha1(password, salt, iterations)
    return derived[:16], hashlib.sha1(derived[16:20]).digest()[:16]


# --- reading --------------------------------------------------------------------------------


def read_sign_pri_key(data: bytes, password: str) -> NpkiPrivateKey:
    """Decrypt a ``signPri.key`` in any of its three forms.

    Raises ``InvalidInput`` when the bytes are not such a file (or use an unknown scheme) or
    the password has no byte form (``field="password"``), and ``VerificationFailed`` when the
    password does not open it.
    """
    envelope = _parse_envelope(data)
    last_error: VerificationFailed | None = None
    for password_bytes in _password_encodings(password):
        try:
            return _decrypt_envelope(envelope, password_bytes)
        except VerificationFailed as error:
            last_error = error
    assert last_error is not None
    raise last_error


def _password_encodings(password: str) -> list[bytes]:
    # Windows banking clients hash the password in CP949; for ASCII passwords (the only kind
    # check_file_password lets us write) both encodings agree.
    candidates = [encode_file_password(password)]
    try:
        cp949 = password.encode("cp949")
    except UnicodeEncodeError:
        cp949 = candidates[0]
    if cp949 != candidates[0]:
        candidates.append(cp949)
    return candidates


@dataclass(frozen=True)
class _Envelope:
    scheme_oid: str
    ciphertext: bytes
    salt: bytes
    iterations: int
    # PBES2 only
    prf: type[hashes.HashAlgorithm] | None = None
    cipher_oid: str | None = None
    key_length: int | None = None
    iv: bytes | None = None


def _parse_envelope(data: bytes) -> _Envelope:
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("data must be bytes")
    try:
        info = _EncryptedPrivateKeyInfo.load(bytes(data), strict=True)
        scheme_oid = info["encryption_algorithm"]["algorithm"].dotted
        ciphertext = info["encrypted_data"].native
        parameters = info["encryption_algorithm"]["parameters"]
        if scheme_oid in (SEED_PBE_OID, SEED_CBC_OID):
            params = _SeedPbeParams.load(parameters.dump(), strict=True)
            envelope = _Envelope(
                scheme_oid, ciphertext, params["salt"].native, params["iterations"].native
            )
        elif scheme_oid == PBES2_OID:
            envelope = _parse_pbes2(ciphertext, parameters)
        else:
            raise InvalidInput("the private key file uses an unsupported encryption scheme")
    except _ASN1_PARSE_ERRORS as error:
        raise InvalidInput(_MALFORMED) from error
    if not 1 <= envelope.iterations <= _MAX_ITERATIONS:
        raise InvalidInput("the private key file has an unsupported iteration count")
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidInput(_MALFORMED)
    return envelope


def _parse_pbes2(ciphertext: bytes, parameters: core.Any) -> _Envelope:
    pbes2 = _Pbes2Params.load(parameters.dump(), strict=True)
    kdf = pbes2["key_derivation_func"]
    if kdf["algorithm"].dotted != PBKDF2_OID:
        raise InvalidInput("the private key file uses an unsupported key derivation")
    kdf_params = algos.Pbkdf2Params.load(kdf["parameters"].dump(), strict=True)
    if kdf_params["salt"].name != "specified":
        raise InvalidInput("the private key file uses an unsupported key derivation")
    prf_name = kdf_params["prf"]["algorithm"].native
    if prf_name not in _PBKDF2_PRFS:
        raise InvalidInput("the private key file uses an unsupported key derivation")
    scheme = pbes2["encryption_scheme"]
    cipher_oid = scheme["algorithm"].dotted
    if cipher_oid not in (SEED_CBC_OID, AES128_CBC_OID, AES256_CBC_OID):
        raise InvalidInput("the private key file uses an unsupported cipher")
    iv = core.OctetString.load(scheme["parameters"].dump(), strict=True).native
    if len(iv) != 16:
        raise InvalidInput(_MALFORMED)
    return _Envelope(
        PBES2_OID,
        ciphertext,
        kdf_params["salt"].chosen.native,
        kdf_params["iteration_count"].native,
        prf=_PBKDF2_PRFS[prf_name],
        cipher_oid=cipher_oid,
        key_length=kdf_params["key_length"].native,
        iv=iv,
    )


def _decrypt_envelope(envelope: _Envelope, password: bytes) -> NpkiPrivateKey:
    cipher: CipherAlgorithm
    if envelope.scheme_oid == SEED_PBE_OID:
        key, iv = seed_pbe_key_and_iv(password, envelope.salt, envelope.iterations)
        cipher = SEED(key)
    elif envelope.scheme_oid == SEED_CBC_OID:
        key = pbkdf1_sha1(password, envelope.salt, envelope.iterations)[:16]
        iv = LEGACY_SEED_CBC_IV
        cipher = SEED(key)
    else:
        key_size = {SEED_CBC_OID: 16, AES128_CBC_OID: 16, AES256_CBC_OID: 32}[
            envelope.cipher_oid or ""
        ]
        if envelope.key_length is not None and envelope.key_length != key_size:
            raise InvalidInput(_MALFORMED)
        assert envelope.prf is not None and envelope.iv is not None
        key = PBKDF2HMAC(envelope.prf(), key_size, envelope.salt, envelope.iterations).derive(
            password
        )
        iv = envelope.iv
        cipher = SEED(key) if envelope.cipher_oid == SEED_CBC_OID else algorithms.AES(key)
    decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
    padded = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    # A wrong password shows up as bad padding or, rarely, as padding that happens to be valid
    # over garbage, which then fails to parse as PKCS#8.
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as error:
        raise VerificationFailed(_WRONG_PASSWORD) from error
    return _load_pkcs8(plain)


def _load_pkcs8(plain: bytes) -> NpkiPrivateKey:
    try:
        info = keys.PrivateKeyInfo.load(plain, strict=True)
        attributes = info["attributes"]
        attribute_list = [] if isinstance(attributes, core.Void) else list(attributes)
        attribute_list = [(a["type"].dotted, list(a["values"])) for a in attribute_list]
        private_key = serialization.load_der_private_key(plain, password=None)
    except (*_ASN1_PARSE_ERRORS, UnsupportedAlgorithm) as error:
        raise VerificationFailed(_WRONG_PASSWORD) from error
    random_num = None
    for attribute_type, values in attribute_list:
        if attribute_type != RANDOM_NUM_OID:
            continue
        try:
            if len(values) != 1:
                raise ValueError("randomNum must hold one value")
            random_num = core.OctetBitString.load(values[0].dump(), strict=True).native
        except _ASN1_PARSE_ERRORS as error:
            raise InvalidInput("the private key file has a malformed randomNum") from error
    return NpkiPrivateKey(private_key=private_key, random_num=random_num, pkcs8_der=plain)


# --- writing --------------------------------------------------------------------------------


def pkcs8_with_random_num(private_key: PrivateKeyTypes, random_num: bytes) -> bytes:
    """The plain PKCS#8 ``PrivateKeyInfo`` carrying the ``randomNum`` attribute.

    OpenSSL's and cryptography's PKCS#8 writers have no way to add attributes, so the key they
    write is re-wrapped here.
    """
    if len(random_num) != RANDOM_NUM_LENGTH:
        raise ValueError("random_num must be 20 bytes")
    plain = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    info = keys.PrivateKeyInfo.load(plain)
    return keys.PrivateKeyInfo(
        {
            "version": info["version"],
            "private_key_algorithm": info["private_key_algorithm"],
            "private_key": info["private_key"],
            "attributes": [
                {"type": RANDOM_NUM_OID, "values": [core.OctetBitString(random_num)]}
            ],
        }
    ).dump()


def _seed_cbc_encrypt(key: bytes, iv: bytes, plain: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(SEED(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _check_salt_iterations(salt: bytes, iterations: int) -> None:
    if len(salt) != 8:
        raise ValueError("salt must be 8 bytes")
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise ValueError("iterations out of range")


def write_sign_pri_key(
    private_key: PrivateKeyTypes,
    password: str,
    random_num: bytes,
    *,
    iterations: int = 2048,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> bytes:
    """Write a ``signPri.key`` in the PBES2 form: PBKDF2-HMAC-SHA1 + seedCBC.

    HMAC-SHA1 stays the PRF because existing NPKI readers assume it (a SHA-256 PRF breaks
    them). ``salt`` (8 bytes) and ``iv`` (16 bytes) default to fresh random values; pass them
    only to reproduce a vector. The caller decides whether the password is strong enough
    (see ``fincert.formats.passwords``); one with no byte form is ``InvalidInput``.
    """
    salt = os.urandom(8) if salt is None else salt
    iv = os.urandom(16) if iv is None else iv
    _check_salt_iterations(salt, iterations)
    if len(iv) != 16:
        raise ValueError("iv must be 16 bytes")
    plain = pkcs8_with_random_num(private_key, random_num)
    key = PBKDF2HMAC(hashes.SHA1(), 16, salt, iterations).derive(encode_file_password(password))
    ciphertext = _seed_cbc_encrypt(key, iv, plain)
    pbkdf2_params = algos.Pbkdf2Params(
        {
            "salt": algos.Pbkdf2Salt(name="specified", value=core.OctetString(salt)),
            "iteration_count": iterations,
        }
    )
    pbes2_params = _Pbes2Params(
        {
            "key_derivation_func": {"algorithm": PBKDF2_OID, "parameters": pbkdf2_params},
            "encryption_scheme": {
                "algorithm": SEED_CBC_OID,
                "parameters": core.OctetString(iv),
            },
        }
    )
    return _EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {"algorithm": PBES2_OID, "parameters": pbes2_params},
            "encrypted_data": ciphertext,
        }
    ).dump()


LegacyScheme = Literal["seed-pbe", "seed-cbc"]


def write_sign_pri_key_legacy(
    private_key: PrivateKeyTypes,
    password: str,
    random_num: bytes,
    scheme: LegacyScheme = "seed-pbe",
    *,
    iterations: int = 2048,
    salt: bytes | None = None,
) -> bytes:
    """Write a ``signPri.key`` in one of the two older forms.

    ``"seed-pbe"`` is pbeWithSHA1AndSEED-CBC (IV derived from the password), ``"seed-cbc"``
    the oldest seedCBC form with the fixed IV. New files should use ``write_sign_pri_key``;
    these exist to feed readers (ours and third parties') every form they must accept.
    """
    salt = os.urandom(8) if salt is None else salt
    _check_salt_iterations(salt, iterations)
    password_bytes = encode_file_password(password)
    if scheme == "seed-pbe":
        oid = SEED_PBE_OID
        key, iv = seed_pbe_key_and_iv(password_bytes, salt, iterations)
    elif scheme == "seed-cbc":
        oid = SEED_CBC_OID
        key, iv = pbkdf1_sha1(password_bytes, salt, iterations)[:16], LEGACY_SEED_CBC_IV
    else:
        raise ValueError(f"unknown legacy scheme {scheme!r}")
    ciphertext = _seed_cbc_encrypt(key, iv, pkcs8_with_random_num(private_key, random_num))
    return _EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": oid,
                "parameters": _SeedPbeParams({"salt": salt, "iterations": iterations}),
            },
            "encrypted_data": ciphertext,
        }
    ).dump()


# --- folders --------------------------------------------------------------------------------


def _check_path_component(value: str, field: str) -> None:
    # A DN or CA name comes from a certificate, i.e. from outside: never let it climb out of
    # the NPKI tree or name a second level.
    if not value or value in (".", "..") or any(c in value for c in "/\\\x00"):
        raise InvalidInput(f"{field} cannot be used as a folder name", field=field)


def subject_dir_name(subject: x509.Name) -> str:
    """The NPKI folder name of a subject: ``cn=...,ou=...,o=...,c=kr``.

    Most specific RDN first (as RFC 4514), attribute types in lowercase, values as they are in
    the certificate (real yessign certificates carry ``c=kr`` themselves).
    """
    parts = []
    for rdn in reversed(subject.rdns):
        attributes = []
        for attribute in rdn:
            attribute_type, _, value = attribute.rfc4514_string().partition("=")
            attributes.append(f"{attribute_type.lower()}={value}")
        parts.append("+".join(attributes))
    return ",".join(parts)


def npki_cert_dir(ca_name: str, subject: x509.Name) -> PurePosixPath:
    """``NPKI/<CA name>/USER/<subject dir name>``, relative to the folder that holds ``NPKI``."""
    _check_path_component(ca_name, "ca_name")
    dir_name = subject_dir_name(subject)
    _check_path_component(dir_name, "subject")
    return PurePosixPath("NPKI", ca_name, "USER", dir_name)


def _write_private_file(path: Path, data: bytes) -> None:
    """Write ``path`` (mode 0600) whole and on disk (fsync) before the caller renames it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        # O_CREAT's mode does not apply to a file that already existed.
        os.fchmod(file.fileno(), 0o600)
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a no-op where folders cannot be opened: Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# A folder's pair is replaced through intent files, so that an interruption (a crash, a pulled
# USB stick, a killed process) never leaves a new key beside the old certificate:
#
# 1. the new key is written whole (fsync) as ``signPri.key.new``;
# 2. the new certificate is written whole as ``.signCert.der.new.partial`` and renamed to
#    ``signCert.der.new``: that rename is the commit point (the new pair is complete on disk);
# 3. ``signPri.key.new`` is renamed over ``signPri.key``, then ``signCert.der.new`` over
#    ``signCert.der``.
#
# ``finish_npki_replacement`` (run by the reader and by the next write) rolls an interrupted
# replacement forward when ``signCert.der.new`` exists and back (removes the intent files)
# when it does not: the folder holds the old pair or the new one, never one of each.
KEY_INTENT_FILENAME = SIGN_PRI_KEY_FILENAME + ".new"
CERT_INTENT_FILENAME = SIGN_CERT_FILENAME + ".new"
_CERT_STAGING_FILENAME = f".{CERT_INTENT_FILENAME}.partial"


def npki_replacement_pending(cert_dir: Path) -> bool:
    """A committed replacement of the folder's pair is not finished yet (see above)."""
    return (Path(cert_dir) / CERT_INTENT_FILENAME).is_file()


def finish_npki_replacement(cert_dir: Path, *, discard_uncommitted: bool = True) -> bool:
    """Finish (or undo) an interrupted replacement of the pair in ``cert_dir``.

    Returns True when a committed replacement was rolled forward, False when there was none
    (uncommitted intent files are removed, unless ``discard_uncommitted`` is false: a reader
    must not remove the files of a replacement another process is writing right now). Raises
    ``OSError`` when the folder cannot be changed (a read-only stick): ``read_npki_folder``
    then reads the pair the replacement leaves."""
    cert_dir = Path(cert_dir)
    if not npki_replacement_pending(cert_dir):
        if not discard_uncommitted:
            return False
        for name in (KEY_INTENT_FILENAME, _CERT_STAGING_FILENAME):
            if (cert_dir / name).is_file():
                (cert_dir / name).unlink(missing_ok=True)
        return False
    for intent, final in ((KEY_INTENT_FILENAME, SIGN_PRI_KEY_FILENAME), (CERT_INTENT_FILENAME, SIGN_CERT_FILENAME)):
        try:
            os.replace(cert_dir / intent, cert_dir / final)
        except FileNotFoundError:
            # Renamed already (the step before the interruption, or another reader just now).
            if not (cert_dir / final).exists():
                raise
    _sync_folder(cert_dir)
    return True


def write_npki_folder(
    root: Path, ca_name: str, certificate: x509.Certificate, sign_pri_key: bytes
) -> Path:
    """Write ``signCert.der`` and ``signPri.key`` (mode 0600) under ``root/NPKI/...``.

    ``root`` is the folder that holds ``NPKI`` (a home folder, a USB stick's root). Returns the
    certificate folder. A renewal or reissue keeps the subject, so it replaces the pair of the
    certificate it replaces, as NPKI software does: through intent files (see above). If this
    raises before the commit point the old pair is untouched and no intent file is left; after
    it, ``npki_replacement_pending`` is true and the next read finishes the replacement.
    """
    cert_dir = Path(root) / npki_cert_dir(ca_name, certificate.subject)
    cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    finish_npki_replacement(cert_dir)  # an earlier interrupted one first: never two at once
    key_intent, cert_intent = cert_dir / KEY_INTENT_FILENAME, cert_dir / CERT_INTENT_FILENAME
    staging = cert_dir / _CERT_STAGING_FILENAME
    try:
        _write_private_file(key_intent, sign_pri_key)
        _write_private_file(staging, certificate.public_bytes(serialization.Encoding.DER))
        os.replace(staging, cert_intent)  # the commit point
    except BaseException:
        if not cert_intent.exists():
            staging.unlink(missing_ok=True)
            key_intent.unlink(missing_ok=True)
        raise
    _sync_folder(cert_dir)
    finish_npki_replacement(cert_dir)
    return cert_dir


def check_npki_folder(cert_dir: Path) -> None:
    """Raise unless ``cert_dir`` is an existing folder: ``NotFound`` when nothing is there,
    ``InvalidInput`` for a file or a path that cannot be looked at. The detail names the path."""
    try:
        mode = Path(cert_dir).stat().st_mode
    except (FileNotFoundError, NotADirectoryError) as error:
        raise NotFound(f"{cert_dir}: no NPKI certificate folder found (it does not exist)") from error
    except OSError as error:
        raise InvalidInput(f"{cert_dir}: cannot open the folder ({error.strerror or error})") from error
    if not stat.S_ISDIR(mode):
        raise InvalidInput(
            f"{cert_dir} is a file, not a folder: an NPKI certificate folder holds "
            f"{SIGN_CERT_FILENAME} and {SIGN_PRI_KEY_FILENAME}"
        )


def _read_folder_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise NotFound(
            f"{path} is missing: an NPKI certificate folder holds "
            f"{SIGN_CERT_FILENAME} and {SIGN_PRI_KEY_FILENAME}"
        ) from error
    except IsADirectoryError as error:
        raise InvalidInput(f"{path} is a folder, not a file") from error
    except OSError as error:
        # Unreadable (permissions, I/O): a user problem with their files, not an internal error.
        raise InvalidInput(f"{path}: cannot read the file ({error.strerror or error})") from error


def read_npki_folder(
    cert_dir: Path, password: str
) -> tuple[x509.Certificate, NpkiPrivateKey]:
    """Load and decrypt one certificate folder, checking the key belongs to the certificate.

    Every error names the folder or the file it is about (never the password): ``NotFound``
    for a missing folder or file; ``InvalidInput`` for an unreadable file, bytes that are not a
    certificate or key file, a password with no byte form, or a key of another certificate;
    ``VerificationFailed`` for a wrong password.
    """
    cert_dir = Path(cert_dir)
    check_npki_folder(cert_dir)
    cert_path = cert_dir / SIGN_CERT_FILENAME
    key_path = cert_dir / SIGN_PRI_KEY_FILENAME
    try:
        # An interrupted renewal's committed pair is put in place first; files of one being
        # written right now (by another process) are left alone.
        finish_npki_replacement(cert_dir, discard_uncommitted=False)
    except OSError:
        pass  # a folder that cannot be changed (read-only): read the pair the replacement leaves
    if npki_replacement_pending(cert_dir):
        cert_path = cert_dir / CERT_INTENT_FILENAME
        if (cert_dir / KEY_INTENT_FILENAME).is_file():
            key_path = cert_dir / KEY_INTENT_FILENAME
    cert_bytes = _read_folder_file(cert_path)
    key_bytes = _read_folder_file(key_path)
    try:
        certificate = x509.load_der_x509_certificate(cert_bytes)
    except ValueError as error:
        raise InvalidInput(f"{cert_path} is not a DER certificate") from error
    try:
        private = read_sign_pri_key(key_bytes, password)
    except (InvalidInput, VerificationFailed) as error:
        raise type(error)(f"{key_path}: {error.detail}", field=error.field) from error
    if not _same_public_key(certificate, private.private_key):
        raise InvalidInput(
            f"{cert_dir}: {SIGN_PRI_KEY_FILENAME} does not belong to {SIGN_CERT_FILENAME} "
            "(they are not one key pair)"
        )
    return certificate, private


def _same_public_key(certificate: x509.Certificate, private_key: PrivateKeyTypes) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        cert_spki = certificate.public_key().public_bytes(*spki)
    except (ValueError, UnsupportedAlgorithm):
        return False
    return hmac.compare_digest(cert_spki, private_key.public_key().public_bytes(*spki))


def default_npki_roots(
    *,
    platform: str | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Path]:
    """The ``NPKI`` folders banking clients use on this platform (whether or not they exist).

    Unlike ``write_npki_folder``'s ``root`` these are the ``NPKI`` folders themselves.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if platform == "win32":
        profile = Path(environ["USERPROFILE"]) if "USERPROFILE" in environ else home
        return [profile / "AppData" / "LocalLow" / "NPKI"]
    if platform == "darwin":
        return [home / "Library" / "Preferences" / "NPKI"]
    return [home / "NPKI"]
