"""`fincert sign` and `fincert verify`: electronic signatures from the command line.

``sign`` opens the holder's key where it is kept (an NPKI certificate folder, a PKCS#12 file,
or a cloud key behind its PIN) and writes a DER CMS signature, time-stamped on request by a
TSA URL or this deployment's own TSA (``--tsa local``). ``verify`` checks a signature against
this deployment's root and certificate status; it exits 0 only for a valid signature and, when
a VID check was asked for (``--rrn``, ``--random-num``), only if the VID matches too (said first
in the readable report when it does not).

Secrets may come from the environment instead of the command line (where other users can
see them in the process list): ``FINCERT_SIGN_PASSWORD``, ``FINCERT_SIGN_PIN``,
``FINCERT_VERIFY_RRN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fincert.cli._files import MAX_KEY_FILE_BYTES, MAX_SIGNATURE_BYTES, check_output_file, read_input, refuse_overwriting, write_output
from fincert.cli._params import JsonOpt
from fincert.cli._runtime import open_cli_runtime
from fincert.cli.output import console, emit, readable
from fincert.errors import InvalidInput, VerificationFailed
from fincert.formats.npki import check_npki_folder


def sign(
    input_file: Annotated[Path, typer.Option("--in", help="The file to sign.")],
    output: Annotated[Path, typer.Option("--out", help="Where to write the DER CMS signature.")],
    key_dir: Annotated[
        Path | None, typer.Option("--key-dir", help="NPKI certificate folder (signCert.der + signPri.key).")
    ] = None,
    p12: Annotated[Path | None, typer.Option("--p12", help="PKCS#12 file with the key and certificate.")] = None,
    cloud: Annotated[str | None, typer.Option("--cloud", help="Serial of a financial certificate in the cloud vault.")] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="FINCERT_SIGN_PASSWORD", help="Password of the NPKI key or PKCS#12 file."),
    ] = None,
    pin: Annotated[str | None, typer.Option("--pin", envvar="FINCERT_SIGN_PIN", help="6-digit PIN of the cloud key.")] = None,
    attached: Annotated[bool, typer.Option("--attached", help="Put the content inside the signature.")] = False,
    pss: Annotated[bool, typer.Option("--pss", help="Sign with RSASSA-PSS instead of PKCS#1 v1.5.")] = False,
    tsa: Annotated[
        str | None, typer.Option("--tsa", help="Time-stamp the signature: a TSA URL, or 'local' for this deployment's TSA.")
    ] = None,
    allow_unusable: Annotated[
        bool,
        typer.Option(
            "--allow-unusable",
            help="Sign even with a certificate that is expired or that this CA revoked or put on hold "
            "(to test relying parties: such a signature must be refused).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sign a file with a CMS (RFC 5652) signature (refused with an expired, revoked or held certificate)."""
    chosen = [name for name, value in (("--key-dir", key_dir), ("--p12", p12), ("--cloud", cloud)) if value is not None]
    if len(chosen) != 1:
        raise InvalidInput("choose exactly one key: --key-dir, --p12 or --cloud")
    if cloud is not None and not pin:
        raise InvalidInput("--cloud needs --pin (or FINCERT_SIGN_PIN)")
    if cloud is None and not password:
        raise InvalidInput(f"{chosen[0]} needs --password (or FINCERT_SIGN_PASSWORD)")
    content = read_input(input_file, "input file")
    check_output_file(output, "--out")
    inputs = [(input_file, "input file")]
    if key_dir is not None:
        inputs += [(key_dir / "signCert.der", "certificate of --key-dir"), (key_dir / "signPri.key", "private key of --key-dir")]
    if p12 is not None:
        inputs.append((p12, "PKCS#12 file"))
    refuse_overwriting(output, "--out", inputs)
    if key_dir is not None:
        # Before the runtime: a mistyped folder is named at once (the reader names its files).
        check_npki_folder(key_dir)

    with open_cli_runtime() as rt:
        refuse_overwriting(output, "--out", [], home=rt.home)
        signing = rt.signatures.signing
        if key_dir is not None:
            key = signing.npki_key(key_dir, password or "")
        elif p12 is not None:
            data = read_input(p12, "PKCS#12 file", limit=MAX_KEY_FILE_BYTES)
            try:
                key = signing.pkcs12_key(data, password or "")
            except (InvalidInput, VerificationFailed) as error:
                # The reader sees only bytes: the path it came from goes in front.
                raise type(error)(f"{p12}: {error.detail}", field=error.field) from error
        else:
            key = signing.cloud_key(cloud or "", pin or "")
        document = signing.sign(content, key, attached=attached, pss=pss, tsa=tsa, check_usable=not allow_unusable)
        write_output(output, document.signature_der, "--out")
        data = {"signature": str(output), **document.as_json()}
        emit(
            data,
            as_json,
            lambda: console.print(
                f"Signed {input_file} -> {output}\n  signer: {document.signer_subject}"
                + (f"\n  time-stamp: {data['timestamp']}" if document.timestamp else "")
                + (f"\n  randomNum: {data['random_num']}" if document.random_num else ""),
                markup=False,
            ),
        )


def verify(
    signature: Annotated[Path, typer.Option("--signature", help="The DER CMS signature.")],
    input_file: Annotated[
        Path | None, typer.Option("--in", help="The signed file (not needed for an attached signature).")
    ] = None,
    rrn: Annotated[
        str | None,
        typer.Option("--rrn", envvar="FINCERT_VERIFY_RRN", help="Holder's resident number, for the VID check."),
    ] = None,
    random_num: Annotated[
        str | None, typer.Option("--random-num", help="The holder's randomNum (hex), for the VID check.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a CMS signature: integrity, signer, path, status at signing time, time-stamp, VID.

    Exits 0 only for a valid signature, and with --rrn and --random-num only if the VID matches."""
    signature_der = read_input(signature, "signature file", limit=MAX_SIGNATURE_BYTES)
    content = read_input(input_file, "input file") if input_file is not None else None
    with open_cli_runtime() as rt:
        verification = rt.signatures.verifier.verify(signature_der, content, rrn=rrn, random_num_hex=random_num)
    data = verification.as_json()
    # A VID check that was asked for and does not hold is said first, and fails the command: the
    # report used to begin "VALID", and exit 0, for a signer who is not that person.
    vid_refused = (rrn is not None or random_num is not None) and data["vid_match"] is not True

    def render() -> None:
        if not data["valid"]:
            headline = f"INVALID: {data['failure']}"
        elif vid_refused:
            headline = (
                "VALID signature, but NOT the holder of that resident number: the VID does not match"
                if data["vid_match"] is False
                else "VALID signature, but the holder cannot be confirmed: the certificate carries no VID"
            )
        else:
            headline = "VALID"
        console.print(headline, markup=False)
        for key in ("signer", "signed_at", "timestamp", "certificate_status", "non_repudiation", "vid_match"):
            value = "not checked" if key == "vid_match" and data[key] is None else readable(data[key])
            console.print(f"  {key}: {value}", markup=False)
        console.print(f"  path: {' <- '.join(data['path'])}", markup=False)

    emit(data, as_json, render)
    if not verification.valid or vid_refused:
        # `verify --rrn … && proceed` must not proceed for a signer who is not that person.
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sign")(sign)
    app.command("verify")(verify)
