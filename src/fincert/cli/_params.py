"""Parameter types shared by the command modules."""

from __future__ import annotations

from typing import Annotated

import typer

# Row ids are 64-bit in the database: a larger number is refused as bad input here rather than
# failing inside the driver (an OverflowError reported as "internal error").
from fincert.storage.models import MAX_ID

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
MemberIdArg = Annotated[int, typer.Argument(help="The member's id (from `member register`).", min=1, max=MAX_ID)]
MemberIdOpt = Annotated[int, typer.Option("--member", help="The member's id.", min=1, max=MAX_ID)]
