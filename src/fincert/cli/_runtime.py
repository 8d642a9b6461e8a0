"""The runtime a command works with: opened on entry, closed on every way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fincert.runtime import Runtime


@contextmanager
def open_cli_runtime() -> Iterator[Runtime]:
    """``with open_cli_runtime() as rt:`` closes ``rt`` however the body ends (return, domain error, typer.Exit, anything).

    Errors pass through untouched: ``fincert.cli.main.run`` maps them to one line on stderr and an exit code.
    """
    from fincert.cli import main  # lazily: cli.main imports the command modules while it is being built

    rt = main.runtime()
    try:
        yield rt
    finally:
        rt.close()
