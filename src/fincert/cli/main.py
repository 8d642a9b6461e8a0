"""Entry point and the spine's commands: init, institution, serve, audit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import click
import sqlalchemy.exc
import typer
from rich.cells import cell_len

from fincert.cli._params import JsonOpt
from fincert.cli._runtime import checked_settings, creating_home, open_cli_runtime, open_configured
from fincert.cli.output import Interrupted, console, emit, fail
from fincert.errors import ConfigurationError, FincertError, InvalidInput, brief_reason
from fincert.keys.backend import KeyType
from fincert.runtime import Runtime

app = typer.Typer(
    name="fincert",
    help="fincert: a financial certificate service (RA, CA, OCSP/CRL, NPKI, signatures).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
institution_app = typer.Typer(help="Institutions (registration authorities).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(institution_app, name="institution")
app.add_typer(audit_app, name="audit")



def runtime() -> Runtime:
    return open_configured(checked_settings(initialising=creating_home.get()))


@app.command()
def init(
    key_type: Annotated[
        str | None, typer.Option("--key-type", help="CA key type: rsa2048 or p256 (default: FINCERT_CA_KEY_TYPE, rsa2048).")
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Also add the sample institutions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the root and issuing CA (kept if they exist) and apply migrations."""
    kind = KeyType.parse(key_type) if key_type is not None else None
    with open_cli_runtime(initialising=True) as rt:
        hierarchy = rt.initialize(kind)
        if demo:
            rt.institutions.ensure_samples()
        paths = rt.write_ca_files(hierarchy)
        data = {"home": str(rt.home), **paths, "created": hierarchy.created}
        emit(
            data,
            as_json,
            lambda: console.print(
                ("Created" if hierarchy.created else "Kept the existing")
                + f" CA in {rt.home}\n  root: {paths['root_ca']}\n  issuing: {paths['issuing_ca']}",
                markup=False,
            ),
        )


@institution_app.command("add")
def institution_add(
    code: Annotated[str, typer.Argument(help="Short code, e.g. HANBIT.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    type_: Annotated[str, typer.Option("--type", help="bank, securities, card or insurance.")] = "bank",
    as_json: JsonOpt = False,
) -> None:
    """Add an institution."""
    with open_cli_runtime() as rt:
        view = rt.institutions.add(code, name, type_, actor="cli")
        emit(view.as_json(), as_json, lambda: console.print(f"Added {view.code} ({view.name}, {view.type})", markup=False))


@institution_app.command("list")
def institution_list(as_json: JsonOpt = False) -> None:
    """List institutions."""
    with open_cli_runtime() as rt:
        views = rt.institutions.list()

        def render() -> None:
            # Plain aligned lines, the name last: a table squeezed to a narrow terminal cut codes
            # ("LONGNAME_…", which cannot be copied) and ate names as markup ("[bold]...").
            rows = [("code", "type", "name"), *((v.code, v.type, v.name) for v in views)]
            code_width = max(cell_len(code) for code, _, _ in rows)
            type_width = max(cell_len(type_) for _, type_, _ in rows)
            for code, type_, name in rows:
                console.print(
                    f"{code}{' ' * (code_width - cell_len(code))}  {type_}{' ' * (type_width - cell_len(type_))}  {name}",
                    markup=False,
                    highlight=False,
                )

        emit({"institutions": [v.as_json() for v in views]}, as_json, render)


@audit_app.command("export")
def audit_export(
    after: Annotated[int, typer.Option("--after", min=0, help="Only the records after this seq (0: all).")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export the audit chain as JSON Lines, one record per line with its hash, for an auditor
    (`audit verify --file` checks an export without the database)."""
    from fincert.cli._files import check_output_file, refuse_overwriting, write_output
    from fincert.storage import audit

    if out is not None:
        check_output_file(out, "--out")
    with open_cli_runtime() as rt:
        if out is not None:
            refuse_overwriting(out, "--out", [], home=rt.home)
        with rt.db.reader() as session:
            records = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n" for record in audit.export(session, after_seq=after))
            if out is None:
                # Streamed: a pipe to another tool starts at once and memory stays flat. A reader
                # that stops early (`| head`) ends it quietly with exit status 1 (Click's EPIPE rule).
                for line in records:
                    sys.stdout.buffer.write(line.encode())
                sys.stdout.buffer.flush()
                return
            lines = list(records)
    write_output(out, "".join(lines).encode(), "--out")  # whole or not at all
    print(f"wrote {len(lines)} audit records to {out}", file=sys.stderr)


def _verify_export_file(path: Path, as_json: bool) -> None:
    from fincert.cli._files import read_input
    from fincert.storage import audit

    try:
        text = read_input(path, "audit export", limit=1 << 30).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"audit export {path} is not UTF-8 text: not a file `audit export` wrote") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise InvalidInput(f"audit export {path}: line {number} is not a JSON object")
        records.append(record)
    report = audit.verify_export(records)
    data = {
        "ok": report.ok, "records": report.records, "first_seq": report.first_seq, "last_seq": report.last_seq,
        "head_hash": report.head_hash, "first_broken_seq": report.first_broken_seq, "problem": report.problem,
    }
    emit(
        data,
        as_json,
        lambda: console.print(
            (f"export intact: {report.records} records, seq {report.first_seq}..{report.last_seq}, last hash {report.head_hash}"
             if report.records else "export intact: no records")
            if report.ok
            else f"export BROKEN at record {report.first_broken_seq}: {report.problem}",
            markup=False,
        ),
    )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="Check an `audit export` file on its own, without the database.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the audit chain; name the first broken record."""
    from rich.progress import Progress

    from fincert.storage import audit

    if file is not None:
        _verify_export_file(file, as_json)
        return
    with open_cli_runtime() as rt:
        with rt.db.reader() as session:
            if as_json:
                report = audit.verify(session)
            else:
                with Progress(transient=True, console=console, disable=not console.is_terminal) as progress:
                    task = progress.add_task("verifying audit chain", total=None)
                    report = audit.verify(session, progress=lambda n: progress.update(task, completed=n))
        data = {"ok": report.ok, "records": report.records, "first_broken_seq": report.first_broken_seq, "problem": report.problem}
        emit(
            data,
            as_json,
            lambda: console.print(
                f"audit chain intact: {report.records} records"
                if report.ok
                else f"audit chain BROKEN at record {report.first_broken_seq}: {report.problem}",
                markup=False,
            ),
        )
        if not report.ok:
            raise typer.Exit(1)


def _check_can_listen(host: str, port: int) -> None:
    """Bind once before anything else: a taken port or an unknown host is one line from us, not
    uvicorn's log lines after the home was initialised."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(address)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).", min=0, max=65535)] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Add the sample institutions.")] = False,
) -> None:
    """Initialise if needed and serve the web app, API, OCSP, CRLs and TSA."""
    import uvicorn

    from fincert.api.app import create_app

    _check_can_listen(host, port)
    with open_cli_runtime(initialising=True, serving=True) as rt:
        rt.initialize()
        if demo:
            rt.institutions.ensure_samples()
        uvicorn.run(create_app(rt), host=host, port=port, log_level="info", access_log=False)


def _register_component_commands() -> None:
    """Each ``fincert.cli.<component>`` module adds its commands through ``register(app)``."""
    import importlib
    import pkgutil

    import fincert.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in {"main", "output"}:
            continue
        module = importlib.import_module(f"fincert.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_component_commands()


# Typer 0.2x vendors its own copy of Click (``typer._click``) whose exceptions do not derive from
# the ``click`` package's: catch both, or every usage mistake ends as "internal error". Typer's
# public bases are ``typer.TyperException`` (usage errors) and ``typer.Abort``; older Typer
# re-exports Click's own classes under those names, so the tuples stay correct either way.
_USAGE_ERRORS: tuple[type[Exception], ...] = (click.ClickException, getattr(typer, "TyperException", click.ClickException))
_ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort)
_EXTRA_ARGUMENTS = "Got unexpected extra argument(s)"
_INTERRUPTED = 130  # 128 + SIGINT, the shells' convention
_DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept by Python as lone surrogates
        return True
    return False


def _undecodable_argument(args: list[str]) -> str | None:
    """Which argument (or secret's environment variable) is not UTF-8 text, unless it is a file
    name, which may be any bytes. Such a name, password or PIN used to reach the database or the
    key-file code and end as "internal error (UnicodeEncodeError)". The value is never quoted."""
    if not any(_undecodable(arg) for arg in args) and not any(
        _undecodable(value) for name, value in os.environ.items() if name.startswith("FINCERT_")
    ):
        return None
    import typer.main

    def parameters(command):  # noqa: ANN001, ANN202
        yield from command.params
        for sub in getattr(command, "commands", {}).values():
            yield from parameters(sub)

    def is_path(param) -> bool:  # noqa: ANN001
        descriptor = getattr(param, "type_descriptor", None)
        return bool(descriptor is not None and descriptor.is_path)

    params = list(parameters(typer.main.get_command(app)))
    paths = {opt for p in params if is_path(p) for opt in p.opts}
    takes_value = {opt for p in params if not getattr(p, "is_flag", False) for opt in p.opts if opt.startswith("-")}
    previous = None
    for position, arg in enumerate(args, 1):
        if _undecodable(arg):
            option, equals, _ = arg.partition("=")
            if equals and option in takes_value:
                if option not in paths:
                    return f"the value of {option}"
            elif previous in takes_value:
                if previous not in paths:
                    return f"the value of {previous}"
            else:
                return f"argument {position}"
        previous = arg
    for p in params:
        if isinstance(p.envvar, str) and not is_path(p) and _undecodable(os.environ.get(p.envvar, "")):
            return p.envvar
    return None


def run() -> None:
    """Console-script entry: one line on stderr and a non-zero exit for every failure."""
    where = _undecodable_argument(sys.argv[1:])
    if where is not None:
        fail(f"{where} is not valid UTF-8 text (check the terminal's character encoding)")
        sys.exit(2)
    try:
        code = app(standalone_mode=False)
    except FincertError as exc:
        fail(exc.detail)
        sys.exit(1)
    except _ABORTS:
        fail("aborted")
        sys.exit(1)
    except _USAGE_ERRORS as exc:
        message = exc.format_message()
        if message.startswith(_EXTRA_ARGUMENTS):
            # The stray words are often a secret whose option lost its place (`--cloud --pin
            # 482916`, the serial forgotten): counted, never quoted.
            message = f"{_EXTRA_ARGUMENTS} (not repeated here: one may be a password or PIN); check that every option has its value"
        # A group called without a command has already printed its help (NoArgsIsHelpError
        # carries no message then): only the exit status is left to give.
        if message.strip():
            fail(message)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except Interrupted as exc:
        # Ctrl-C in a command that had to undo something: it says what (e.g. the certificate it revoked).
        fail(str(exc))
        sys.exit(130)
    except KeyboardInterrupt:
        fail("interrupted")
        sys.exit(130)
    except OSError as exc:
        # A file or folder the command needed (the home's CA files, a key file the domain code
        # reads or writes) could not be used: what the system said and which path, nothing more.
        reason = exc.strerror or type(exc).__name__
        fail(f"{reason}: {exc.filename}" if exc.filename else reason)
        sys.exit(1)
    except _DATABASE_UNAVAILABLE as exc:
        # The database went away during the command (opening it is handled in runtime()): the
        # driver's first line says why; later lines, which can quote SQL, are left out.
        fail(f"the database failed: {brief_reason(exc)}")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user; details go to the log
        import logging

        logging.getLogger("fincert.cli").debug("unexpected error", exc_info=True)
        fail(f"internal error ({type(exc).__name__}); run with FINCERT_LOG_LEVEL=DEBUG for details")
        sys.exit(3)
    if code == _INTERRUPTED:
        # Typer turns Ctrl-C inside a command into a silent ``Exit(130)``; no command of ours
        # exits 130 by itself, so this is the interrupt, which still gets its line.
        fail("interrupted")
    sys.exit(code if isinstance(code, int) else 0)
