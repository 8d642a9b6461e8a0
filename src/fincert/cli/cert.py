"""``fincert cert``: issue, reissue, renew, revoke, restore, show, list and register certificates.

The CLI plays both sides of the counter: the institution verifies the member (``--otp`` or
``--security-card CARD.json``, answered from the card as the holder would), and the holder's
client generates the key pair locally for file storage, sends only a CSR, and writes an NPKI
folder or a PKCS#12 file; for cloud storage the key is generated in the vault behind the PIN.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from fincert.cli._files import MAX_KEY_FILE_BYTES, check_output_folder, read_input
from fincert.cli._params import JsonOpt, MemberIdArg, MemberIdOpt
from fincert.cli._runtime import open_cli_runtime
from fincert.cli.output import Interrupted, console, emit
from fincert.errors import FincertError, InvalidInput, Locked, NotFound, RateLimited
from fincert.formats.npki import (
    SIGN_CERT_FILENAME, SIGN_PRI_KEY_FILENAME, check_npki_folder, finish_npki_replacement, npki_cert_dir, npki_replacement_pending,
    read_npki_folder, write_npki_folder, write_sign_pri_key,
)
from fincert.formats.passwords import check_file_password, check_file_password_personal, personal_numbers
from fincert.formats.pkcs12 import write_pkcs12
from fincert.keys.pin import check_pin, check_pin_form
from fincert.ra.lifecycle import REISSUE_REASONS, Collection, IssuedToHolder

if TYPE_CHECKING:
    from fincert.runtime import Runtime

cert_app = typer.Typer(help="Certificates: issue, reissue, renew, revoke, restore, show, list, register.", no_args_is_help=True)
OtpOpt = Annotated[str | None, typer.Option("--otp", help="The member's current OTP code.")]
CardOpt = Annotated[Path | None, typer.Option("--security-card", help="The card JSON printed by `member enroll`.")]
StorageOpt = Annotated[str, typer.Option("--storage", help="file (PC/USB) or cloud.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder to write the key files to (file storage).")]
PasswordOpt = Annotated[str | None, typer.Option("--password", help="Key file password (10+ chars: letters, digits, symbols; not your birth date, resident or phone number).")]
FormatOpt = Annotated[str, typer.Option("--format", help="npki or pkcs12 (file storage).")]
PinOpt = Annotated[str | None, typer.Option("--pin", help="6-digit PIN (cloud storage).")]
ProductOpt = Annotated[str, typer.Option("--product", help="financial (금융인증서) or joint (공동인증서, NPKI).")]
SerialArg = Annotated[str, typer.Argument(help="The certificate's serial number (hexadecimal, from `cert list`).")]


def register(app: typer.Typer) -> None:
    app.add_typer(cert_app, name="cert")
    app.command("notify-expiring")(notify_expiring)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill`, a closing terminal's session manager) undoes like Ctrl-C: by default it
    ends the process at once, leaving half-written key files and a certificate whose key exists
    nowhere."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding test runner): nothing to undo
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _runtime_with_va() -> Iterator[Runtime]:
    with _terminate_as_interrupt(), open_cli_runtime() as rt:
        # Build the VA so its revocation listener re-signs OCSP status and republishes CRLs at once
        # when this process revokes (reissue, renewal, revoke), rather than at the server's next pass.
        rt.va  # noqa: B018
        yield rt


_CARD_FILE_ERROR = "the security card file is not the JSON printed by `member enroll`"


def _load_card(path: Path) -> dict[str, str]:
    """The cells of a card file, checked whole before any challenge is started: a broken file
    must not cost the member one of the few tries before the card locks."""
    data = read_input(path, "security card file", limit=MAX_KEY_FILE_BYTES)
    try:
        cells = json.loads(data.decode("utf-8"))["cells"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise InvalidInput(_CARD_FILE_ERROR, field="security-card") from None
    if not isinstance(cells, dict) or not cells or not all(
        isinstance(label, str) and isinstance(value, str) and len(value) == 4 and value.isascii() and value.isdigit()
        for label, value in cells.items()
    ):
        raise InvalidInput(_CARD_FILE_ERROR, field="security-card")
    return cells


def _check_code(code: str, option: str, lengths: range) -> None:
    # A typo is not a guess: refused here, it neither counts towards the lock nor uses up the code.
    if not (code.isascii() and code.isdigit() and len(code) in lengths):
        digits = f"{lengths.start}" if len(lengths) == 1 else f"{lengths.start} to {lengths.stop - 1}"
        raise InvalidInput(f"{option} must be a code of {digits} digits", field=option.lstrip("-"))


def _check_auth(otp: str | None, card: Path | None) -> dict[str, str] | None:
    """Check the identity options before anything is opened; returns the card's cells."""
    if (otp is None) == (card is None):
        raise InvalidInput("give exactly one of --otp CODE or --security-card CARD.json", field="auth")
    if otp is not None:
        _check_code(otp, "--otp", range(6, 9))  # TOTP codes are 6 to 8 digits (RFC 6238)
        return None
    return _load_card(card)  # type: ignore[arg-type]


def _prove_identity(rt, member_id: int, otp: str | None, cells: dict[str, str] | None, *, sms_code: str | None = None, email_code: str | None = None) -> list[dict[str, Any]]:
    reg = rt.registrar
    evidence = [reg.login_at_counter(member_id)]
    # The code sent to the phone or e-mail first: when none was sent (or it expired) the command
    # stops before it spends the member's OTP code or a security-card challenge.
    for method, code in (("sms", sms_code), ("email", email_code)):
        if code is not None:
            evidence.append(reg.complete_pending(member_id, method, code, actor="cli"))
    if otp is not None:
        challenge = reg.start_verification(member_id, "otp", actor="cli")
        evidence.append(reg.complete_verification(member_id, "otp", challenge.challenge_id, otp, actor="cli"))
    else:
        assert cells is not None
        challenge = reg.start_verification(member_id, "security-card", actor="cli")
        first, second = challenge.prompt["first_cell"], challenge.prompt["second_cell"]
        answer = str(cells.get(first, ""))[:2] + str(cells.get(second, ""))[2:]
        evidence.append(reg.complete_verification(member_id, "security-card", challenge.challenge_id, answer, actor="cli"))
    return evidence


def _as_collection(result: object) -> Collection:
    if not isinstance(result, Collection):
        raise InvalidInput("the application did not yield a reference number to collect with", field="application")
    return result


def _check_storage(storage: str, out: Path | None, password: str | None, fmt: str, pin: str | None) -> None:
    """Everything about where the key goes that can be checked before an application is opened."""
    if storage == "file":
        if pin is not None:
            # Silently ignored, it let the holder believe the key file was behind that PIN.
            raise InvalidInput("--pin is for cloud storage; a key file is protected by --password", field="pin")
        if out is None or password is None:
            raise InvalidInput("file storage needs --out DIR and --password PW", field="out" if out is None else "password")
        if fmt not in ("npki", "pkcs12"):
            raise InvalidInput("--format must be npki or pkcs12", field="format")
        check_file_password(password)
        check_output_folder(out, "--out")
    elif storage == "cloud":
        if out is not None or password is not None or fmt != "npki":
            # Silently ignored, the holder expected key files that were never written.
            raise InvalidInput("--out, --password and --format are for file storage; cloud storage takes only --pin", field="storage")
        if pin is None:
            raise InvalidInput("cloud storage needs --pin PIN", field="pin")
        check_pin_form(pin)
    else:
        raise InvalidInput("--storage must be file or cloud", field="storage")


def _check_enrolled(rt, member_id: int, otp: str | None) -> None:
    """The identity method the command answers with is enrolled and not locked, said before an
    application is opened: otherwise one was opened, audited and cancelled for nothing."""
    method = "otp" if otp is not None else "security-card"
    state = rt.registrar.show_member(member_id).methods.get(method)
    if state is None:
        raise NotFound(f"member {member_id} has no {method} enrolled")
    if state == "locked":
        raise Locked(f"member {member_id}'s {method} is locked after too many failed attempts: the institution must enroll it again")


def _check_secret_of(rt, member_id: int, storage: str, pin: str | None, password: str | None = None) -> None:
    """The rules of the new key's secret that need the holder, checked before identity
    verification spends a one-time code: a PIN that is not their birth date, a file password
    without their birth date, resident number or phone number. Also refuses an unknown member."""
    member = rt.registrar.show_member(member_id)
    if storage == "cloud":
        check_pin(pin, member.birth_date)
    elif password is not None:
        numbers = personal_numbers(
            birth_date=member.birth_date, resident_number=rt.registrar.resident_number(member_id).digits, phone=member.phone,
        )
        check_file_password_personal(password, numbers)


def _new_key_and_csr() -> tuple[rsa.RSAPrivateKey, bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fincert holder")]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM), secrets.token_bytes(20)


def _write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start: a key file is never readable by others,
    not even for the moment between a plain write and a chmod."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _write_files(rt, result: IssuedToHolder, key: rsa.RSAPrivateKey, random_num: bytes, out: Path, password: str, fmt: str) -> list[str]:
    """Write the key files; if that fails (``OSError``) or is interrupted (``KeyboardInterrupt``),
    remove what this call created and let the exception through. The paths are answered
    absolute, whichever way ``out`` was given (issue, reissue and renew alike)."""
    out = out.resolve()
    certificate = result.issued.certificate
    if fmt == "npki":
        target = out / npki_cert_dir(rt.settings.ca_name, certificate.subject)
        files = [target / "signCert.der", target / "signPri.key"]
        blob = write_sign_pri_key(key, password, random_num)
    else:
        target = out
        files = [out / f"fincert-{result.issued.serial}.p12"]
        blob = write_pkcs12(key, certificate, result.chain, password, f"fincert {result.issued.serial}")
    new_dirs = [d for d in (target, *target.parents) if not d.exists()]
    new_files = [f for f in files if not f.exists()]
    try:
        if fmt == "npki":
            write_npki_folder(out, rt.settings.ca_name, certificate, blob)
        else:
            out.mkdir(parents=True, exist_ok=True)
            _write_private_file(files[0], blob)
    except BaseException:  # an OSError, or Ctrl-C half-way: no partial folder stays behind either way
        if fmt == "npki" and npki_replacement_pending(target):
            raise  # past the commit point: the new pair is whole on disk and is kept (see _write_or_withdraw)
        for path in new_files:
            path.unlink(missing_ok=True)
        for folder in new_dirs:  # deepest first
            with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
                folder.rmdir()
        raise
    return [str(f) for f in files]


def _write_or_withdraw(rt, result: IssuedToHolder, key: rsa.RSAPrivateKey, random_num: bytes, out: Path, password: str, fmt: str) -> list[str]:
    """The certificate is issued before its files can be written (they hold it). If the write
    still fails (the folder was checked beforehand, so: a full disk, a USB stick pulled out),
    the certificate is revoked at once: an active certificate whose key exists nowhere would
    block the holder's next issuance."""
    try:
        return _write_files(rt, result, key, random_num, out, password, fmt)
    except OSError as exc:
        saved = _saved_pair(rt, result, out, fmt)
        if saved is not None:
            return _put_saved_pair_in_place(saved, result.issued.serial)
        outcome = _withdraw(rt, result.issued.serial)
        raise InvalidInput(f"cannot write the key files to {out}: {exc.strerror or exc}; {outcome}", field="out") from None
    except KeyboardInterrupt:
        saved = _saved_pair(rt, result, out, fmt)
        if saved is not None:
            with contextlib.suppress(OSError):
                finish_npki_replacement(saved)
            raise Interrupted(f"interrupted; certificate {result.issued.serial} and its key were already saved in {saved}") from None
        # Ctrl-C while the files were being written: the key is lost just the same.
        outcome = _withdraw(rt, result.issued.serial)
        raise Interrupted(f"interrupted while writing the key files to {out}; {outcome}") from None


def _saved_pair(rt, result: IssuedToHolder, out: Path, fmt: str) -> Path | None:
    """The NPKI folder whose new pair was written whole (past the replacement's commit point)
    before the failure, if any: that pair is the holder's certificate and key, so the
    certificate is kept rather than withdrawn, and the replacement is finished."""
    if fmt != "npki":
        return None
    folder = out.resolve() / npki_cert_dir(rt.settings.ca_name, result.issued.certificate.subject)
    return folder if npki_replacement_pending(folder) else None


def _put_saved_pair_in_place(folder: Path, serial: str) -> list[str]:
    try:
        finish_npki_replacement(folder)
    except OSError as exc:
        raise InvalidInput(
            f"certificate {serial} and its key were saved whole in {folder} but not yet put in place "
            f"({exc.strerror or exc}): that happens the next time the folder is opened (`fincert sign --key-dir`, `cert renew`)",
            field="out",
        ) from None
    return [str(folder / SIGN_CERT_FILENAME), str(folder / SIGN_PRI_KEY_FILENAME)]


def _withdraw(rt, serial: str) -> str:
    """Revoke a certificate whose key files could not be written; say what the holder must do."""
    try:
        rt.lifecycle.revoke(serial, "cessationOfOperation", actor="cli")
        return f"certificate {serial} was revoked; issue it again"
    except FincertError:
        return f"revoke certificate {serial} (`fincert cert revoke`) and issue it again"


def _collect(rt, collection: Collection, storage: str, out: Path | None, password: str | None, fmt: str, pin: str | None,
             renewal_key: rsa.RSAPrivateKey | None = None) -> tuple[IssuedToHolder, list[str]]:
    if storage == "cloud":
        return rt.lifecycle.collect(collection.reference_number, collection.authorization_code, pin=pin, actor="cli"), []
    key, csr_pem, random_num = _new_key_and_csr()
    proof = None
    if renewal_key is not None:
        der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
        proof = renewal_key.sign(der, padding.PKCS1v15(), hashes.SHA256())
    result = rt.lifecycle.collect(
        collection.reference_number, collection.authorization_code, csr_pem=csr_pem, random_num=random_num,
        renewal_proof=proof, actor="cli",
    )
    return result, _write_or_withdraw(rt, result, key, random_num, out, password, fmt)  # type: ignore[arg-type]


def _apply_and_collect(rt, member_id: int, kind: str, *, otp: str | None, cells: dict[str, str] | None, storage: str, out: Path | None,
                       password: str | None, fmt: str, pin: str | None, sms_code: str | None = None, email_code: str | None = None,
                       ask_sms_code: bool = False, **options: Any) -> tuple[IssuedToHolder, list[str]]:
    """Open a ``kind`` application (``options``: product, reason), prove the member's identity and
    collect the certificate; if any step fails the application is cancelled quietly first.
    ``ask_sms_code``: send the code to the registered phone once the application is open, and
    ask for it on the terminal."""
    _check_secret_of(rt, member_id, storage, pin, password)
    _check_enrolled(rt, member_id, otp)
    app = rt.lifecycle.open_application(member_id, kind, actor="cli", **options)
    try:
        if ask_sms_code:
            sms_code = _ask_for_sms_code(rt, member_id)
        evidence = _prove_identity(rt, member_id, otp, cells, sms_code=sms_code, email_code=email_code)
        collection = _as_collection(rt.lifecycle.verify(app.id, evidence, actor="cli"))
        return _collect(rt, collection, storage, out, password, fmt, pin)
    except BaseException:  # Ctrl-C included
        _cancel_quietly(rt, app.id)
        raise


def _ask_for_sms_code(rt, member_id: int) -> str:
    """Send the reissuance code to the member's registered phone and read it from the terminal,
    as the holder types what the phone shows (the prompt goes to stderr: stdout stays the report)."""
    try:
        challenge = rt.registrar.start_verification(member_id, "sms", actor="cli")
        sent = f"Code sent by SMS to {challenge.prompt.get('destination')}"
    except RateLimited:
        # A code went out moments ago (an attempt just abandoned): that code is the one to type.
        sent = "Code sent by SMS moments ago"
    hint = f" (no gateway is configured: `fincert member outbox {member_id}` shows it)" if rt.settings.message_sender == "outbox" else ""
    code = str(typer.prompt(f"{sent}{hint}", err=True)).strip()
    _check_code(code, "the SMS code", range(6, 7))
    return code


def _issued_json(result: IssuedToHolder, files: list[str]) -> dict[str, Any]:
    return {
        "serial": result.issued.serial,
        "product": result.issued.product,
        "storage": result.storage,
        "not_before": result.issued.not_before.isoformat(),
        "not_after": result.issued.not_after.isoformat(),
        "files": files,
        "replaced": result.replaced,
    }


@cert_app.command("issue")
def cert_issue(
    member_id: MemberIdArg,
    product: ProductOpt = "financial",
    otp: OtpOpt = None,
    security_card: CardOpt = None,
    storage: StorageOpt = "file",
    out: OutOpt = None,
    password: PasswordOpt = None,
    fmt: FormatOpt = "npki",
    pin: PinOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a certificate: apply, verify identity, collect and store (발급)."""
    _check_storage(storage, out, password, fmt, pin)
    cells = _check_auth(otp, security_card)
    with _runtime_with_va() as rt:
        result, files = _apply_and_collect(
            rt, member_id, "issue", product=product, otp=otp, cells=cells, storage=storage, out=out, password=password, fmt=fmt, pin=pin,
        )
        data = _issued_json(result, files)
        emit(data, as_json, lambda: _print_issued(f"Issued {data['product']} certificate {data['serial']} ({storage}), valid until {data['not_after']}", files))


def _print_issued(summary: str, files: list[str]) -> None:
    """The readable report of an issuance: what was issued, then each file written (the key files
    a holder must keep safe), one per line."""
    console.print(summary, markup=False)
    for path in files:
        console.print(f"  wrote {path}", markup=False)


def _cancel_quietly(rt, application_id: int) -> None:
    """A failed CLI step leaves no open application behind (the holder can simply retry)."""
    try:
        rt.lifecycle.cancel(application_id, actor="cli")
    except FincertError:
        return


@cert_app.command("reissue")
def cert_reissue(
    member_id: MemberIdArg,
    reason: Annotated[str, typer.Option("--reason", help="lost, forgotten, locked or expired.")] = "lost",
    otp: OtpOpt = None,
    security_card: CardOpt = None,
    sms_code: Annotated[str | None, typer.Option("--sms-code", help="The code sent by `member send-code --channel sms`.")] = None,
    email_code: Annotated[str | None, typer.Option("--email-code", help="The code sent by `member send-code --channel email`.")] = None,
    product: ProductOpt = "financial",
    serial: Annotated[
        str | None, typer.Option("--serial", help="Which certificate to replace (default: the member's newest of --product).")
    ] = None,
    storage: StorageOpt = "file",
    out: OutOpt = None,
    password: PasswordOpt = None,
    fmt: FormatOpt = "npki",
    pin: PinOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reissue (재발급): identity plus the code sent to the registered phone or e-mail; the old certificate is revoked."""
    if reason not in REISSUE_REASONS:  # the option's own mistake first, before what else is missing
        raise InvalidInput(f"reissue reason must be one of {', '.join(REISSUE_REASONS)}", field="reason")
    _check_storage(storage, out, password, fmt, pin)
    ask_sms_code = sms_code is None and email_code is None
    if ask_sms_code and not sys.stdin.isatty():
        raise InvalidInput(
            "reissue needs the code sent to the registered phone or e-mail: run `fincert member send-code MEMBER_ID` first "
            "and pass --sms-code (in a terminal, the command sends it and asks for it)",
            field="sms-code",
        )
    for code, option in ((sms_code, "--sms-code"), (email_code, "--email-code")):
        if code is not None:
            _check_code(code, option, range(6, 7))
    cells = _check_auth(otp, security_card)
    with _runtime_with_va() as rt:
        result, files = _apply_and_collect(
            rt, member_id, "reissue", product=product, reason=reason, otp=otp, cells=cells, sms_code=sms_code, email_code=email_code,
            ask_sms_code=ask_sms_code, storage=storage, out=out, password=password, fmt=fmt, pin=pin,
            **({"target_serial": serial} if serial is not None else {}),
        )
        data = {**_issued_json(result, files), "replaced": result.replaced}
        emit(data, as_json, lambda: _print_issued(f"Reissued: {data['serial']} replaces {data['replaced']} (revoked)", files))


@cert_app.command("renew")
def cert_renew(
    key_dir: Annotated[Path | None, typer.Option("--key-dir", help="The NPKI folder of the certificate to renew.")] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Password of the current key file; the renewed key is saved under it too.")
    ] = None,
    cloud: Annotated[str | None, typer.Option("--cloud", help="Serial of the cloud certificate to renew.")] = None,
    pin: Annotated[str | None, typer.Option("--pin", help="6-digit PIN of the cloud certificate's key.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Renew in the last days before expiry, proving possession of the current key (갱신)."""
    if (key_dir is None) == (cloud is None):
        raise InvalidInput("give --key-dir DIR --password PW or --cloud SERIAL --pin PIN", field="key-dir")
    if key_dir is not None and password is None:
        raise InvalidInput("--key-dir needs --password", field="password")
    if key_dir is not None and pin is not None or cloud is not None and password is not None:
        raise InvalidInput("--key-dir goes with --password, --cloud with --pin", field="key-dir")
    if cloud is not None:
        if pin is None:
            raise InvalidInput("--cloud needs --pin (the PIN of the renewed certificate's key)", field="pin")
        check_pin_form(pin)
    root: Path | None = None
    if key_dir is not None:
        check_npki_folder(key_dir)  # named as it is, before its parent is checked as the output
        # The renewed certificate goes next to the current one: <root>/NPKI/<CA>/USER/<subject>.
        # A folder outside that layout (a copy in ~/keys/mine) gets NPKI/... beside it: counting
        # three folders up from it would write into some unrelated folder, or into /.
        resolved = key_dir.resolve()
        in_layout = len(resolved.parents) > 3 and resolved.parent.name == "USER" and resolved.parents[2].name == "NPKI"
        root = resolved.parents[3] if in_layout else resolved.parent
        check_output_folder(root, "--key-dir")
    with _runtime_with_va() as rt:
        if key_dir is not None:
            certificate, private = read_npki_folder(key_dir, password)  # type: ignore[arg-type]
            serial = format(certificate.serial_number, "x")
            view = rt.lifecycle.show(serial)
            app = rt.lifecycle.open_application(view.member_id, "renew", target_serial=serial, actor="cli")
        else:
            view = rt.lifecycle.show(cloud)  # type: ignore[arg-type]
            if view.storage != "cloud":
                # Said first: neither the renewal window nor a PIN has anything to do with it.
                raise InvalidInput(
                    f"certificate {view.serial} keeps its key in files, not in the cloud: renew it with --key-dir and --password",
                    field="cloud",
                )
            _check_secret_of(rt, view.member_id, "cloud", pin)
            app = rt.lifecycle.open_application(view.member_id, "renew", target_serial=view.serial, actor="cli")
        try:
            collection = _as_collection(rt.lifecycle.verify(app.id, [], actor="cli"))
            if key_dir is not None:
                result, files = _collect(rt, collection, "file", root, password, "npki", None, renewal_key=private.private_key)
            else:
                result, files = _collect(rt, collection, "cloud", None, None, "npki", pin)
        except BaseException:  # Ctrl-C included
            # As for issuance: a renewal that failed half-way must not leave an application
            # open, or the member could start nothing else until it expired.
            _cancel_quietly(rt, app.id)
            raise
        data = _issued_json(result, files)
        emit(data, as_json, lambda: _print_issued(f"Renewed: {data['serial']} replaces {data['replaced']}", files))


@cert_app.command("revoke")
def cert_revoke(
    serial: SerialArg,
    reason: Annotated[str, typer.Option("--reason", help="RFC 5280 reason, e.g. keyCompromise, superseded, cessationOfOperation; certificateHold suspends it until `cert restore`.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a certificate (as the CA's administrator)."""
    with _runtime_with_va() as rt:
        view = rt.lifecycle.revoke(serial, reason, actor="cli")
        emit(view.as_json(), as_json, lambda: console.print(f"Revoked {view.serial} ({view.revocation_reason})"))


@cert_app.command("restore")
def cert_restore(serial: SerialArg, as_json: JsonOpt = False) -> None:
    """Restore a certificate on hold (효력 회복: revoked with certificateHold); other revocations are final."""
    with _runtime_with_va() as rt:
        view = rt.lifecycle.restore(serial, actor="cli")
        emit(view.as_json(), as_json, lambda: console.print(f"Restored {view.serial}: {view.status}"))


@cert_app.command("show")
def cert_show(serial: SerialArg, as_json: JsonOpt = False) -> None:
    """Show a certificate's status."""
    with _runtime_with_va() as rt:
        view = rt.lifecycle.show(serial)
        emit(view.as_json(), as_json)


@cert_app.command("list")
def cert_list(member: MemberIdOpt, as_json: JsonOpt = False) -> None:
    """List a member's certificates."""
    with _runtime_with_va() as rt:
        rt.registrar.show_member(member)  # an unknown member is an error, not an empty list
        views = rt.lifecycle.certificates_of(member)

        def render() -> None:
            for v in views:
                # Why a certificate cannot be used is said on its line: on hold (it can be restored)
                # reads differently from revoked for good, and a locked cloud key must be reissued.
                notes = [f"({v.revocation_reason})"] if v.revocation_reason else []
                notes += ["locked"] if v.locked else []
                notes += [f"replaces {v.replaced}"] if v.replaced else []
                console.print(
                    f"{v.serial}  {v.product:9} {v.status:8} until {v.not_after:%Y-%m-%d}  {v.storage or ''}  {' '.join(notes)}".rstrip(),
                    markup=False, highlight=False,
                )

        emit({"certificates": [v.as_json() for v in views]}, as_json, render)


@cert_app.command("register")
def cert_register(
    serial: SerialArg,
    institution: Annotated[str, typer.Option("--institution", help="Code of the other institution; the holder must be a member there.")],
    otp: OtpOpt = None,
    security_card: CardOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a financial certificate for use at another institution (타기관 인증서 등록).

    The identity is proven at that institution: --otp or --security-card is the holder's OTP or
    security card enrolled as its member, not the one of the institution that issued the certificate.
    """
    cells = _check_auth(otp, security_card)
    with _runtime_with_va() as rt:
        view = rt.lifecycle.show(serial)
        person = rt.registrar.person_index(view.member_id)
        member_id = rt.registrar.member_of_person_at(person, institution)
        _check_enrolled(rt, member_id, otp)
        app = rt.lifecycle.open_application(member_id, "register", target_serial=view.serial, actor="cli")
        try:
            done = rt.lifecycle.verify(app.id, _prove_identity(rt, member_id, otp, cells), actor="cli")
        except BaseException:  # Ctrl-C included
            _cancel_quietly(rt, app.id)
            raise
        data = {"serial": view.serial, "institution": institution.upper(), "member_id": member_id, "status": getattr(done, "status", "completed")}
        emit(data, as_json, lambda: console.print(f"Registered {view.serial} at {institution.upper()}"))


def notify_expiring(as_json: JsonOpt = False) -> None:
    """Send expiry notices (30, 7, 1 days before), each once."""
    with _runtime_with_va() as rt:
        sent = rt.lifecycle.notify_expiring()
        emit({"sent": sent, "count": len(sent)}, as_json, lambda: console.print(f"Sent {len(sent)} expiry notices"))
