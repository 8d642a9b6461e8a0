"""Status commands: ``fincert crl`` (republish the CRLs now), ``fincert ocsp refresh`` and
``fincert ocsp serve`` (the dedicated OCSP responder process)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fincert.cli._files import check_output_file, refuse_overwriting, write_output
from fincert.cli._params import JsonOpt
from fincert.cli._runtime import open_cli_runtime
from fincert.cli.output import console, emit
from fincert.errors import InvalidInput


def crl(
    out: Annotated[Path | None, typer.Option("--out", help="Also write the full CRL (DER) to this file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Regenerate the issuing CA's CRLs now (every partition and the full CRL) and the root's."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if out is not None:
        # Checked first: a bad --out must not cost a CRL number.
        check_output_file(out, "--out")
    with open_cli_runtime() as rt:
        if out is not None:
            refuse_overwriting(out, "--out", [], home=rt.home)
        publisher = rt.va.crl
        if as_json:
            publication = publisher.publish()
        else:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=console, transient=True, disable=not console.is_terminal,  # no blank line in a pipe
            ) as progress:
                task = progress.add_task("reading revoked certificates", total=None)
                publication = publisher.publish(progress=lambda done, total: progress.update(task, completed=done, total=total))
        root = publisher.publish(rt.ca.hierarchy().root_id)
        if out is not None:
            try:
                write_output(out, publication.full.der, "--out")
            except InvalidInput as error:
                # The folder was checked first, but a write can still fail (disk full): the CRLs
                # are published all the same, and the operator should know which number to fetch.
                raise InvalidInput(
                    f"{error.detail}; CRL {publication.crl_number} was published all the same "
                    f"({rt.endpoints.full_crl_url(publication.issuer_id)}): run `fincert crl --out` again to write it",
                    field=error.field,
                ) from None
        data = {
            "issuer": publication.issuer,
            "issuer_id": publication.issuer_id,
            "crl_number": publication.crl_number,
            "revoked": publication.revoked,
            "partitions": publication.partitions,
            "full_crl_bytes": publication.full_crl_bytes,
            "full_crl_url": rt.endpoints.full_crl_url(publication.issuer_id),
            "root_crl_number": root.crl_number,
            "out": str(out) if out is not None else None,
        }
        emit(
            data,
            as_json,
            lambda: console.print(
                f"CRL {publication.crl_number} of {publication.issuer}: {publication.revoked} revoked, "
                f"{publication.partitions} partitions, full CRL {publication.full_crl_bytes:,} bytes"
                + (f" written to {out}" if out is not None else ""),
                markup=False,
            ),
        )


def ocsp_refresh(
    everything: Annotated[
        bool, typer.Option("--all/--recent", help="--all (the default) looks at every certificate for a missing response; --recent only at those issued since the last pass.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Sign the OCSP responses that are missing, lapse soon or no longer match a revocation."""
    with open_cli_runtime() as rt:
        if as_json:
            report = rt.va.ocsp.refresh(full=everything)
        else:
            with console.status("signing OCSP responses") as status:
                report = rt.va.ocsp.refresh(full=everything, progress=lambda n: status.update(f"signed {n:,} OCSP responses"))
        data = {
            "signed": report.signed,
            "good": report.good,
            "revoked": report.revoked,
            "responder_serial": report.responder_serial,
            "responder_not_after": report.responder_not_after.isoformat(),
        }
        emit(
            data,
            as_json,
            lambda: console.print(
                f"signed {report.signed} OCSP responses ({report.good} good, {report.revoked} revoked); "
                f"responder {report.responder_serial} valid until {report.responder_not_after:%Y-%m-%d}"
            ),
        )


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ocsp_serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one).", min=0, max=65535)] = 8080,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes sharing the port (default: one per CPU).", min=1)
    ] = None,
    upkeep: Annotated[
        bool,
        typer.Option("--upkeep/--no-upkeep", help="Run the VA's refresh/republish schedule in one more process; pass --no-upkeep when another process (e.g. `fincert serve`) already runs it."),
    ] = True,
) -> None:
    """Serve OCSP (GET /ocsp/{request}, POST /ocsp) from the pre-signed store, apart from the web app.

    Stops gracefully on SIGTERM or Ctrl-C. Needs `fincert init` first; issues the responder certificate if there is none yet.
    """
    from fincert.cli._runtime import checked_settings
    from fincert.va.ocsp_server import serve

    # The responder opens its own runtime, which would create an empty home (database, secrets)
    # before finding that there is no CA: refuse first, changing nothing.
    settings = checked_settings()
    serve(host=host, port=port, workers=workers or _cpus(), upkeep=upkeep, settings=settings)


def register(app: typer.Typer) -> None:
    app.command("crl")(crl)
    ocsp_app = typer.Typer(help="The OCSP responder.", no_args_is_help=True)
    ocsp_app.command("refresh")(ocsp_refresh)
    ocsp_app.command("serve")(ocsp_serve)
    app.add_typer(ocsp_app, name="ocsp")
