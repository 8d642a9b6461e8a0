"""How commands report: one JSON object with ``--json``, readable text otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

#: Lines are not folded at the terminal's width: a serial, a path or an ``otpauth://`` URI stays
#: whole for the reader who copies it and for scripts reading the output.
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)


class Interrupted(Exception):  # noqa: N818 - named for what the user did
    """Ctrl-C stopped a command that then undid what it had started; the message says what.

    Not a ``KeyboardInterrupt``: Typer turns those into a silent exit 130 before ``main.run``
    could print anything."""


def emit(data: dict[str, Any], as_json: bool, render: Callable[[], None] | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
    elif render is not None:
        render()
    else:
        for key, value in data.items():
            # The value is data (a name, a path, a subject), never markup: "[fincert]" stays.
            console.print(Text.assemble((key, "bold"), f": {readable(value)}"))


def readable(value: Any) -> str:
    """A value as a person reads it: no Python reprs (``None``, ``{'otp': 'active'}``)."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {readable(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(v) for v in value) or "-"
    return str(value)


def fail(message: str) -> None:
    """Print one line on stderr (no markup interpretation, no traceback).

    Line breaks in ``message`` (a multi-line usage error, a name the user typed with a newline)
    are folded to spaces so that the error stays one line for scripts reading stderr."""
    error_console.print(f"fincert: error: {' '.join(message.split())}", markup=False)
