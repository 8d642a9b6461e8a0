"""``fincert member`` and ``fincert operator``: registration by an institution, on the command line.

The CLI acts as the deployment's administrator: it registers members at any institution.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from fincert.cli._params import JsonOpt, MemberIdArg
from fincert.cli._runtime import open_cli_runtime
from fincert.cli.output import console, emit
from fincert.errors import InvalidInput

member_app = typer.Typer(help="Members of institutions (registration, identity methods).", no_args_is_help=True)
operator_app = typer.Typer(help="Institution operators (API tokens).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(member_app, name="member")
    app.add_typer(operator_app, name="operator")


@member_app.command("register")
def member_register(
    institution: Annotated[str, typer.Option("--institution", help="Institution code.")],
    name: Annotated[str, typer.Option("--name", help="The member's real name, as on their ID.")],
    rrn: Annotated[str, typer.Option("--rrn", help="Resident registration number (YYMMDD-GNNNNNN).")],
    phone: Annotated[str, typer.Option("--phone", help="Mobile phone number (one-time codes for reissuance).")],
    email: Annotated[str, typer.Option("--email", help="E-mail address (one-time codes and expiry notices).")],
    as_json: JsonOpt = False,
) -> None:
    """Register a member at an institution (the operator's registration)."""
    with open_cli_runtime() as rt:
        view = rt.registrar.register_member(institution, name=name, rrn=rrn, phone=phone, email=email, actor="cli")
        emit({"member_id": view.id, **view.as_json()}, as_json, lambda: console.print(f"Registered member {view.id} ({view.name}, {view.rrn_masked}) at {view.institution_code}", markup=False))


@member_app.command("enroll")
def member_enroll(
    member_id: MemberIdArg,
    method: Annotated[str, typer.Option("--method", help="otp or security-card.")],
    as_json: JsonOpt = False,
) -> None:
    """Enroll an OTP or a security card; the secret is shown once (re-enrolling unlocks)."""
    with open_cli_runtime() as rt:
        handout = rt.registrar.enroll(member_id, method, actor="cli")

        def render() -> None:
            if handout["method"] == "otp":
                console.print(f"OTP secret: {handout['secret']}\n{handout['uri']}", markup=False)
            else:
                console.print(f"Security card {handout['serial']}", markup=False)
                for label, value in handout["cells"].items():
                    console.print(f"  {label}: {value}", markup=False)

        emit(handout, as_json, render)


@member_app.command("show")
def member_show(member_id: MemberIdArg, as_json: JsonOpt = False) -> None:
    """Show a member (the resident number masked)."""
    with open_cli_runtime() as rt:
        view = rt.registrar.show_member(member_id)
        emit(view.as_json(), as_json)


@member_app.command("send-code")
def member_send_code(
    member_id: MemberIdArg,
    channel: Annotated[str, typer.Option("--channel", help="sms or email.")] = "sms",
    as_json: JsonOpt = False,
) -> None:
    """Send a one-time code to the member's registered phone or e-mail (for reissuance)."""
    if channel not in ("sms", "email"):
        # start_verification accepts every identity method; for otp or security-card it would
        # open a challenge and report "sent to None" while nothing was sent.
        raise InvalidInput("--channel must be sms or email", field="channel")
    with open_cli_runtime() as rt:
        challenge = rt.registrar.start_verification(member_id, channel, actor="cli")
        data = {"channel": channel, "sent_to": challenge.prompt.get("destination"), "expires_at": challenge.expires_at.isoformat() if challenge.expires_at else None}
        outbox = rt.settings.message_sender == "outbox"
        hint = f"\n(no gateway is configured: `fincert member outbox {member_id}` shows the message)" if outbox else ""
        emit(data, as_json, lambda: console.print(f"Code sent by {channel} to {data['sent_to']}{hint}", markup=False))


@member_app.command("outbox")
def member_outbox(
    member_id: MemberIdArg,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many of the newest messages to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The SMS and e-mail messages kept for a member when no gateway is configured
    (FINCERT_MESSAGE_SENDER=outbox, the default for development): the one-time codes of
    `member send-code` and expiry notices, newest first."""
    with open_cli_runtime() as rt:
        if rt.settings.message_sender != "outbox":
            raise InvalidInput(
                "messages go to the configured gateway (FINCERT_MESSAGE_SENDER=webhook): the outbox keeps none", field="outbox"
            )
        rt.registrar.show_member(member_id)  # an unknown member is an error, not an empty list
        messages = rt.registrar.outbox(member_id=member_id, limit=limit)
        emit(
            {"member_id": member_id, "messages": messages},
            as_json,
            lambda: console.print("\n".join(f"{m['at']} {m['channel']} to {m['to']}: {m['text']}" for m in messages) or "No messages.", markup=False),
        )


PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the console password (12+ characters) from standard input: one line, or asked twice in a terminal.",
    ),
]


def _read_console_password() -> str:
    """The operator's console password: asked twice without echo in a terminal, else the first
    line of standard input (as ``docker login --password-stdin`` reads it)."""
    if sys.stdin.isatty():
        first = getpass.getpass("Console password: ", stream=sys.stderr)
        if getpass.getpass("Again: ", stream=sys.stderr) != first:
            raise InvalidInput("the two passwords differ", field="password")
        return first
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("--password-stdin: nothing on standard input", field="password")
    return line.rstrip("\r\n")


@operator_app.command("add")
def operator_add(
    username: Annotated[str, typer.Argument(help="Login name: 3-64 ASCII letters, digits, '.', '-' or '_'.")],
    institution: Annotated[str, typer.Option("--institution", help="Code of the operator's institution.")],
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an operator of an institution; prints the API token once. With --password-stdin the
    operator can also log in to the console (/console)."""
    password = _read_console_password() if password_stdin else None
    with open_cli_runtime() as rt:
        operator_id, token = rt.registrar.add_operator(institution, username, password=password)
        emit(
            {"operator_id": operator_id, "username": username, "institution": institution.upper(), "token": token,
             "console": password is not None},
            as_json,
            lambda: console.print(
                f"Operator {username} of {institution.upper()}; API token (shown once): {token}"
                + ("" if password is not None else "\nNo console password: set one with `fincert operator set-password`"),
                markup=False,
            ),
        )


@operator_app.command("set-password")
def operator_set_password(
    username: Annotated[str, typer.Argument(help="The operator's login name.")],
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Set or replace an operator's console password (read from standard input)."""
    if not password_stdin:
        raise InvalidInput("pass --password-stdin: a password on the command line would be kept in the shell's history", field="password")
    password = _read_console_password()
    with open_cli_runtime() as rt:
        rt.registrar.set_operator_password(username, password, actor="cli")
        emit({"username": username, "console": True}, as_json, lambda: console.print(f"Console password of {username} set", markup=False))