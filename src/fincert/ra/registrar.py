"""The registration authority service: institutions' operators, members, identity proofs.

``Registrar`` persists what the pure pieces decide: resident numbers through ``PiiVault``,
passwords through ``PasswordHasher`` and ``LoginThrottle``, identity methods through the
verifiers in ``ra/verifiers``. It says who someone is (evidence); it never issues and never
touches a private key. Every change and every verification attempt is audited in the same
transaction, with no personal data in the audit details.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fincert.clock import Clock
from fincert.errors import Conflict, FincertError, Forbidden, InvalidInput, NotFound, Unauthorized, raise_all
from fincert.ra.identity import ResidentNumber, clean_text, parse_rrn, validate_email, validate_mobile_phone, validate_person_name
from fincert.ra.institutions import could_be_code
from fincert.ra.passwords import FailureWindow, LoginThrottle, PasswordHasher
from fincert.ra.pii import PiiVault
from fincert.ra.verifiers.base import Challenge, Evidence, make_evidence
from fincert.ra.verifiers.one_time_code import MessageSender, OneTimeCodeState, OneTimeCodeVerifier, OutboundMessage, OutboxSender
from fincert.ra.verifiers.otp import OtpState, OtpVerifier
from fincert.ra.verifiers.policy import AssurancePolicy
from fincert.ra.verifiers.security_card import SecurityCardState, SecurityCardVerifier
from fincert.ra.verifiers.webauthn import WebAuthnState, WebAuthnVerifier
from fincert.storage import audit
from fincert.storage.db import Database
from fincert.storage.models import MAX_ID, AuditRecord, Institution
from fincert.storage.models_ra import LoginFailureWindow, Member, MemberCredential, MemberSession, Operator, OperatorSession, OutboxMessage

#: Identity methods and the state class each verifier keeps.
STATE_TYPES: dict[str, Any] = {
    "security-card": SecurityCardState,
    "otp": OtpState,
    "webauthn": WebAuthnState,
    "sms": OneTimeCodeState,
    "email": OneTimeCodeState,
}
METHODS = tuple(STATE_TYPES)
RRN_INDEX_PURPOSE = "member-rrn"
#: How a console session token starts (the cookie holds it; the database only its SHA-256).
CONSOLE_SESSION_PREFIX = "fos_"
CONSOLE_SESSION_LIFETIME = dt.timedelta(minutes=30)
#: The rows an operator's list pages and list endpoints answer with at once, and the most they may ask for.
DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 500
#: The longest member search (a name is at most 30 letters, a phone number 13 characters).
MAX_SEARCH_LENGTH = 64


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OperatorPrincipal:
    operator_id: int
    username: str
    institution_id: int
    institution_code: str

    @property
    def actor(self) -> str:
        return f"operator:{self.username}"


@dataclass(frozen=True)
class MemberPrincipal:
    member_id: int
    institution_id: int
    session_hash: str

    @property
    def actor(self) -> str:
        return f"member:{self.member_id}"


@dataclass(frozen=True)
class MemberView:
    """What may be shown about a member: the resident number only masked."""

    id: int
    institution_id: int
    institution_code: str
    name: str
    rrn_masked: str
    birth_date: dt.date
    phone: str
    email: str
    login_id: str | None
    methods: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "member_id": self.id,
            "institution": self.institution_code,
            "name": self.name,
            "rrn": self.rrn_masked,
            "phone": self.phone,
            "email": self.email,
            "login_id": self.login_id,
            "methods": self.methods,
        }


@dataclass(frozen=True)
class MemberLogin:
    token: str
    member_id: int
    expires_at: dt.datetime


@dataclass(frozen=True)
class ConsoleLogin:
    """A console session just opened: the token (for the cookie, shown nowhere else) and its end."""

    token: str
    operator: OperatorPrincipal
    expires_at: dt.datetime


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of an institution's list: its rows, and the cursor of the page after it (None on
    the last page). The cursor is opaque to callers; ``page_cursor``/``cursor_position`` make and read it."""

    items: list[T]
    next: str | None


_CURSOR = re.compile(r"[A-Za-z0-9_-]{4,128}")


def page_cursor(kind: str, position: str | int) -> str:
    """The cursor of the page after the row at ``position`` in the list ``kind`` (base64url of
    ``kind:position``, so that clients pass it back as it is rather than compute it)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def cursor_position(kind: str, cursor: str) -> str:
    """The position a cursor of the list ``kind`` names; ``InvalidInput`` (field ``before``) for
    anything ``page_cursor`` did not make for that list. Never echoes the input."""
    bad = InvalidInput("before is not a cursor of this list: pass the next value of the previous page as it is", field="before")
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    prefix, _, position = text.partition(":")
    if prefix != kind or not position:
        raise bad
    return position


def check_page_size(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}", field="limit")
    return limit


class Registrar:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        pii: PiiVault,
        *,
        passwords: PasswordHasher | None = None,
        throttle: LoginThrottle | None = None,
        sender: MessageSender | None = None,
        code_pepper: bytes = b"",
        webauthn_rp_id: str = "localhost",
        webauthn_origin: str = "http://localhost:8000",
        security_card_max_failures: int = 5,
        otp_max_failures: int = 10,
        session_lifetime: dt.timedelta = dt.timedelta(minutes=30),
        policy: AssurancePolicy | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._pii = pii
        self._passwords = passwords or PasswordHasher()
        self._throttle = throttle or LoginThrottle()
        # None: codes go to the database outbox in the same transaction as the challenge.
        self._sender = sender
        self._code_pepper = code_pepper
        self._session_lifetime = session_lifetime
        self.policy = policy or AssurancePolicy()
        self._card = SecurityCardVerifier(max_failures=security_card_max_failures)
        self._otp = OtpVerifier(max_failures=otp_max_failures)
        self._webauthn = WebAuthnVerifier(rp_id=webauthn_rp_id, origin=webauthn_origin)

    # -- helpers ---------------------------------------------------------------------------

    def _institution(self, session: Session, code: str) -> Institution:
        if not could_be_code(code):
            raise NotFound("no such institution")
        row = session.execute(select(Institution).where(Institution.code == code.upper())).scalar_one_or_none()
        if row is None:
            raise NotFound("no such institution")  # never the input: a mistyped resident number must not be echoed
        return row

    def _member(self, session: Session, member_id: int, *, lock: bool = False) -> Member:
        query = select(Member).where(Member.id == member_id)
        if lock:
            query = query.with_for_update()
        row = session.execute(query).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no member {member_id}")
        return row

    def _verifier(self, method: str, outbox: list[OutboundMessage] | None = None) -> Any:
        if method == "security-card":
            return self._card
        if method == "otp":
            return self._otp
        if method == "webauthn":
            return self._webauthn
        if method in ("sms", "email"):
            sender = self._sender if self._sender is not None else OutboxSender(outbox.append if outbox is not None else (lambda m: None))
            return OneTimeCodeVerifier(method, sender, pepper=self._code_pepper)  # type: ignore[arg-type]
        # Never the input: a path segment may be anything pasted into it, a resident number too.
        raise InvalidInput(f"unknown identity method: use one of {', '.join(METHODS)}", field="method")

    def _aad(self, member_id: int, method: str) -> bytes:
        return f"fincert/member-credential/{member_id}/{method}".encode()

    def _load_state(self, member: Member, credential: MemberCredential) -> Any:
        plain = self._pii.decrypt(credential.state_ciphertext, member.data_key, self._aad(member.id, credential.method))
        return STATE_TYPES[credential.method].from_dict(json.loads(plain))

    def _store_state(self, member: Member, credential: MemberCredential, state: Any) -> None:
        credential.state_ciphertext = self._pii.encrypt(
            json.dumps(state.to_dict()).encode(), member.data_key, self._aad(member.id, credential.method)
        )
        credential.locked = bool(getattr(state, "locked", False))
        credential.version += 1
        credential.updated_at = self._clock.now()

    def _credential(self, session: Session, member_id: int, method: str, *, lock: bool = True) -> MemberCredential:
        query = select(MemberCredential).where(MemberCredential.member_id == member_id, MemberCredential.method == method)
        # A reader's transaction is READ ONLY on PostgreSQL, which refuses FOR UPDATE in it.
        row = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if row is None:
            raise NotFound(f"member {member_id} has no {method} enrolled")
        return row

    def view(self, session: Session, member: Member) -> MemberView:
        institution = session.get(Institution, member.institution_id)
        methods = {
            c.method: ("locked" if c.locked else "active")
            for c in session.execute(select(MemberCredential).where(MemberCredential.member_id == member.id)).scalars()
        }
        return MemberView(
            member.id,
            member.institution_id,
            institution.code if institution else "?",
            member.name,
            member.rrn_masked,
            member.birth_date,
            member.phone,
            member.email,
            member.login_id,
            methods,
        )

    # -- operators ---------------------------------------------------------------------------

    def add_operator(self, institution_code: str, username: str, *, password: str | None = None, actor: str = "cli") -> tuple[int, str]:
        """Create an operator of one institution; returns (operator id, API token shown once)."""
        if not _could_be_username(username) or not username.isascii():
            raise InvalidInput("operator username must be 3-64 ASCII letters, digits, '.', '-' or '_'", field="username")
        if password is not None:
            _check_operator_password(password)
        token = "fop_" + secrets.token_urlsafe(32)
        now = self._clock.now()
        try:
            with self._db.transaction() as session:
                institution = self._institution(session, institution_code)
                # Names that differ only in case are one name to the people reading the audit
                # trail ("alice" and "Alice" acting on the same members): refused as taken.
                if session.execute(select(Operator.id).where(func.lower(Operator.username) == username.lower())).first():
                    raise Conflict(f"operator {username} already exists")
                row = Operator(
                    institution_id=institution.id,
                    username=username,
                    password_hash=self._passwords.hash(password) if password else None,
                    token_hash=_token_hash(token),
                    created_at=now,
                )
                session.add(row)
                session.flush()
                audit.append(
                    session, action="operator.added", actor=actor, subject_type="operator", subject_id=username,
                    now=now, institution_id=institution.id,
                )
                return row.id, token
        except IntegrityError:
            raise Conflict(f"operator {username} already exists") from None

    def set_operator_password(self, username: str, password: str, *, actor: str = "cli") -> None:
        """Set (or replace) the console password of an operator; audited as ``operator.password-set``."""
        _check_operator_password(password)
        password_hash = self._passwords.hash(password)
        now = self._clock.now()
        with self._db.transaction() as session:
            row = (
                session.execute(select(Operator).where(Operator.username == username)).scalar_one_or_none()
                if _could_be_username(username)
                else None
            )
            if row is None:
                raise NotFound(f"no operator {username}")
            row.password_hash = password_hash
            # A new password ends the console sessions the old one opened (a leaked password is
            # the usual reason to change it).
            session.execute(delete(OperatorSession).where(OperatorSession.operator_id == row.id))
            audit.append(
                session, action="operator.password-set", actor=actor, subject_type="operator", subject_id=row.username,
                now=now, institution_id=row.institution_id,
            )

    def authenticate_operator(self, token: str) -> OperatorPrincipal:
        with self._db.reader() as session:
            row = session.execute(select(Operator).where(Operator.token_hash == _token_hash(token))).scalar_one_or_none()
            if row is None or row.disabled:
                raise Unauthorized("unknown or disabled operator token")
            institution = session.get(Institution, row.institution_id)
            assert institution is not None
            return OperatorPrincipal(row.id, row.username, institution.id, institution.code)

    def authenticate_operator_password(self, username: str, password: str, *, address: str) -> OperatorPrincipal:
        """Console login. Throttled as member logins are (per operator and per client address),
        and audited: ``operator.logged-in``, or ``operator.login-failed`` (an unknown name is
        recorded as ``unknown``, never as typed: it may be a password typed in the wrong field)."""
        if not _could_be_username(username):
            # No operator has such a name (add_operator's rule), and a NUL or an over-long name
            # must not reach PostgreSQL: the answer is the one for a wrong password.
            raise Unauthorized("wrong username or password")
        now = self._clock.now()
        with self._db.transaction() as session:
            attempt = self._start_login(session, f"operator:{username}", address, now)
            row = session.execute(select(Operator).where(Operator.username == username)).scalar_one_or_none()
            ok = (
                self._passwords.verify(row.password_hash, password)
                if row is not None and row.password_hash
                else self._passwords.verify_unknown_account(password)
            ) and row is not None and not row.disabled
            subject = row.username if row is not None else "unknown"
            institution_id = row.institution_id if row is not None else None
            self._finish_login(session, attempt, ok, now)
            audit.append(
                session, action="operator.logged-in" if ok else "operator.login-failed",
                actor=f"operator:{subject}" if ok else f"address:{attempt.client}", subject_type="operator",
                subject_id=subject, now=now, institution_id=institution_id,
            )
            principal = None
            if ok:
                assert row is not None
                institution = session.get(Institution, row.institution_id)
                assert institution is not None
                principal = OperatorPrincipal(row.id, row.username, institution.id, institution.code)
        if principal is None:
            raise Unauthorized("wrong username or password")
        return principal

    # -- console sessions ----------------------------------------------------------------------

    def open_console_session(self, operator: OperatorPrincipal, *, lifetime: dt.timedelta = CONSOLE_SESSION_LIFETIME) -> ConsoleLogin:
        """A server-side console session for an operator that ``authenticate_operator_password``
        just let in: a random token (only its SHA-256 is stored) that ``close_console_session``
        ends. The operator's sessions that have expired are removed on the way."""
        token = CONSOLE_SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._db.transaction() as session:
            row = session.get(Operator, operator.operator_id)
            if row is None or row.disabled:
                raise Unauthorized("unknown or disabled operator")
            session.execute(delete(OperatorSession).where(OperatorSession.operator_id == row.id, OperatorSession.expires_at <= now))
            session.add(OperatorSession(token_hash=_token_hash(token), operator_id=row.id, created_at=now, expires_at=now + lifetime))
        return ConsoleLogin(token, operator, now + lifetime)

    def authenticate_console_session(self, token: str) -> OperatorPrincipal:
        """The operator of a console session token; ``Unauthorized`` once it was closed, has
        expired, or its operator was disabled."""
        if not isinstance(token, str) or not token.startswith(CONSOLE_SESSION_PREFIX) or len(token) > 128:
            raise Unauthorized("not logged in to the console or the session expired")
        now = self._clock.now()
        with self._db.reader() as session:
            found = session.execute(
                select(OperatorSession.expires_at, Operator.id, Operator.username, Operator.disabled, Institution.id, Institution.code)
                .join(Operator, Operator.id == OperatorSession.operator_id)
                .join(Institution, Institution.id == Operator.institution_id)
                .where(OperatorSession.token_hash == _token_hash(token))
            ).one_or_none()
        if found is None:
            raise Unauthorized("not logged in to the console or the session expired")
        expires_at, operator_id, username, disabled, institution_id, institution_code = found
        if disabled or _aware(expires_at) <= now:
            raise Unauthorized("not logged in to the console or the session expired")
        return OperatorPrincipal(operator_id, username, institution_id, institution_code)

    def close_console_session(self, token: str) -> None:
        """Logout: the session's row is deleted, so the token (a copied cookie too) no longer works."""
        if not isinstance(token, str) or not token.startswith(CONSOLE_SESSION_PREFIX) or len(token) > 128:
            return
        with self._db.transaction() as session:
            session.execute(delete(OperatorSession).where(OperatorSession.token_hash == _token_hash(token)))

    # -- members -----------------------------------------------------------------------------

    def register_member(
        self,
        institution_code: str,
        *,
        name: str,
        rrn: str,
        phone: str,
        email: str,
        login_id: str | None = None,
        password: str | None = None,
        actor: str,
        online: bool = False,
    ) -> MemberView:
        """Sign-up (online, by the member: login ID and password required) or registration by
        an operator. Every field is validated before anything is stored, and every wrong field
        is reported at once (``InvalidFields`` when more than one is)."""
        name, resident, phone, email = check_member_fields(
            name=name, rrn=rrn, phone=phone, email=email, login_id=login_id, password=password, online=online,
        )
        now = self._clock.now()
        index = self._pii.blind_index(resident.digits, RRN_INDEX_PURPOSE)
        data_key = self._pii.new_data_key()
        ciphertext = self._pii.encrypt(resident.digits.encode(), data_key, f"fincert/member-rrn/{index}".encode())
        password_hash = self._passwords.hash(password) if password else None
        try:
            with self._db.transaction() as session:
                institution = self._institution(session, institution_code)
                if session.execute(
                    select(Member.id).where(Member.institution_id == institution.id, Member.rrn_index == index)
                ).first():
                    raise Conflict(f"this person is already a member of {institution.code}")
                # IDs that differ only in case are one ID to the people typing them ("Hong90" and
                # "hong90"): a look-alike account beside a member's own is refused as taken, as
                # operators' names are.
                if login_id and session.execute(
                    select(Member.id).where(Member.institution_id == institution.id, func.lower(Member.login_id) == login_id.lower())
                ).first():
                    raise Conflict("this login ID is taken", field="login_id")
                member = Member(
                    institution_id=institution.id,
                    name=name,
                    rrn_ciphertext=ciphertext,
                    data_key=data_key.to_bytes(),
                    rrn_index=index,
                    rrn_masked=resident.masked,
                    birth_date=resident.birth_date,
                    phone=phone,
                    email=email,
                    login_id=login_id,
                    password_hash=password_hash,
                    created_at=now,
                )
                session.add(member)
                session.flush()
                # SMS and e-mail "methods" are the registered phone and address.
                for method, destination in (("sms", phone), ("email", email)):
                    enrollment = self._verifier(method).enroll(destination)
                    credential = MemberCredential(
                        member_id=member.id, method=method, state_ciphertext=b"", locked=False, version=0,
                        created_at=now, updated_at=now,
                    )
                    self._store_state(member, credential, enrollment.state)
                    session.add(credential)
                audit.append(
                    session,
                    action="member.signed-up" if online else "member.registered",
                    actor=actor,
                    subject_type="member",
                    subject_id=member.id,
                    now=now,
                    institution_id=institution.id,
                )
                session.flush()
                return self.view(session, member)
        except IntegrityError:
            raise Conflict("this person or login ID is already registered at this institution") from None

    def show_member(self, member_id: int, *, institution_id: int | None = None) -> MemberView:
        with self._db.reader() as session:
            member = self._member(session, member_id)
            if institution_id is not None and member.institution_id != institution_id:
                raise NotFound(f"no member {member_id}")
            return self.view(session, member)

    def list_members(self, institution_id: int) -> list[MemberView]:
        with self._db.reader() as session:
            rows = session.execute(select(Member).where(Member.institution_id == institution_id).order_by(Member.id)).scalars()
            return [self.view(session, m) for m in rows]

    def members_page(self, institution_id: int, *, limit: int = DEFAULT_PAGE_SIZE, before: str | None = None, query: str = "") -> Page[MemberView]:
        """One page of an institution's members, oldest first (the order of ``list_members``),
        by keyset on the member number; ``before`` is the previous page's ``next``. ``query``
        keeps those whose name starts with it, with that member number, or with that phone
        number (never a resident number: see ``find_member_by_rrn``). Only ever the institution's
        own members: a cursor or number of another institution's member finds none of theirs."""
        limit = check_page_size(limit)
        after = 0
        if before is not None:
            position = cursor_position("m", before)
            if not position.isdigit() or not 0 < int(position) <= MAX_ID:
                raise InvalidInput("before is not a cursor of this list: pass the next value of the previous page as it is", field="before")
            after = int(position)
        statement = select(Member).where(Member.institution_id == institution_id, Member.id > after)
        matches = _member_search(query)
        if matches is not None:
            statement = statement.where(matches)
        with self._db.reader() as session:
            rows = list(session.execute(statement.order_by(Member.id).limit(limit + 1)).scalars())
            items = [self.view(session, m) for m in rows[:limit]]
        return Page(items, page_cursor("m", rows[limit - 1].id) if len(rows) > limit else None)

    def find_member_by_rrn(self, institution_id: int, rrn: str, *, actor: str) -> MemberView:
        """The institution's member with exactly this resident number, found by its blind index
        (the number itself is neither stored nor compared in plaintext); ``NotFound`` otherwise,
        a member of another institution included. The number is never echoed. A lookup that
        finds a member is audited (``member.found-by-rrn``, without the number): who looked
        whom up by a resident number is something a supervisor asks."""
        resident = parse_rrn(rrn)
        index = self._pii.blind_index(resident.digits, RRN_INDEX_PURPOSE)
        with self._db.transaction() as session:
            member = session.execute(
                select(Member).where(Member.institution_id == institution_id, Member.rrn_index == index)
            ).scalar_one_or_none()
            if member is None:
                raise NotFound("no member of this institution has that resident number")
            audit.append(
                session, action="member.found-by-rrn", actor=actor, subject_type="member", subject_id=member.id,
                now=self._clock.now(), institution_id=institution_id,
            )
            return self.view(session, member)

    def resident_number(self, member_id: int) -> ResidentNumber:
        """Decrypt a member's resident number (for the VID at issuance; never for display)."""
        with self._db.reader() as session:
            return self.decrypt_resident_number(self._member(session, member_id))

    def decrypt_resident_number(self, member: Member) -> ResidentNumber:
        """The resident number of a member row already read (saves a session on hot paths)."""
        return self.resident_number_from(member.rrn_ciphertext, member.data_key, member.rrn_index)

    def resident_number_from(self, rrn_ciphertext: bytes, data_key: bytes, rrn_index: str) -> ResidentNumber:
        """The resident number from a member's stored columns (read with other rows in one statement)."""
        plain = self._pii.decrypt(rrn_ciphertext, data_key, f"fincert/member-rrn/{rrn_index}".encode())
        return parse_rrn(plain.decode())

    def member_data_key(self, member_id: int) -> bytes:
        with self._db.reader() as session:
            return self._member(session, member_id).data_key

    def encrypt_for_member(self, data_key: bytes, plaintext: bytes, purpose: str) -> bytes:
        """Encrypt other personal data of a member (e.g. a cloud certificate's randomNum)."""
        return self._pii.encrypt(plaintext, data_key, f"fincert/member-data/{purpose}".encode())

    def decrypt_for_member(self, member_id: int, blob: bytes, purpose: str) -> bytes:
        return self._pii.decrypt(blob, self.member_data_key(member_id), f"fincert/member-data/{purpose}".encode())

    def send_notice(self, session: Session, member_id: int, text: str) -> None:
        """Send a notice to the member's registered phone and e-mail (outbox or gateway)."""
        member = self._member(session, member_id)
        for channel, destination in (("sms", member.phone), ("email", member.email)):
            if not destination:
                continue
            if self._sender is not None:
                self._sender.send(channel, destination, text)
            else:
                session.add(OutboxMessage(member_id=member.id, channel=channel, destination=destination, text=text, created_at=self._clock.now()))

    def complete_pending(self, member_id: int, method: str, response: str, *, actor: str) -> Evidence:
        """Answer the challenge already pending for a method (a code sent earlier)."""
        with self._db.reader() as session:
            member = self._member(session, member_id)
            state = self._load_state(member, self._credential(session, member.id, method, lock=False))
        pending = getattr(state, "pending", None)
        if pending is None:
            raise NotFound(f"no {method} code was sent to this member, or it was used or has expired: send one first")
        return self.complete_verification(member_id, method, pending.challenge_id, response, actor=actor)

    def member_of_person_at(self, person_index: str, institution_code: str) -> int:
        """The member id of the same person at another institution (found by the blind index)."""
        with self._db.reader() as session:
            institution = self._institution(session, institution_code)
            member_id = session.execute(
                select(Member.id).where(Member.institution_id == institution.id, Member.rrn_index == person_index)
            ).scalar_one_or_none()
            if member_id is None:
                raise NotFound(f"this person is not a member of {institution.code}: register them there first")
            return member_id

    def login_at_counter(self, member_id: int) -> Evidence:
        """Evidence for the login step when an institution's operator serves the member in
        person with the CLI (the counter stands in for the online login)."""
        with self._db.reader() as session:
            self._member(session, member_id)
        return {**make_evidence("login", self._clock.now(), credential_id=str(member_id), channel="counter"), "member_id": member_id}

    def person_index(self, member_id: int) -> str:
        """The blind index that recognises the same person across institutions."""
        with self._db.reader() as session:
            return self._member(session, member_id).rrn_index

    # -- enrollment --------------------------------------------------------------------------

    def enroll(self, member_id: int, method: str, *, actor: str, institution_id: int | None = None) -> dict[str, Any]:
        """Enroll (or re-enroll, which unlocks) a security card or OTP; returns the handout,
        shown once. WebAuthn enrolls through ``begin_webauthn``/``finish_webauthn``."""
        if method not in ("security-card", "otp"):
            hint = {
                "sms": "; SMS codes go to the registered phone, nothing to enroll",
                "email": "; e-mail codes go to the registered address, nothing to enroll",
                "webauthn": "; biometrics are enrolled by the holder, on their own device",
            }.get(str(method).strip().lower(), "")
            raise InvalidInput(f"the methods to enroll are security-card and otp{hint}", field="method")
        now = self._clock.now()
        with self._db.transaction() as session:
            member = self._member(session, member_id, lock=True)
            if institution_id is not None and member.institution_id != institution_id:
                raise NotFound(f"no member {member_id}")
            enrollment = self._card.enroll() if method == "security-card" else self._otp.enroll(f"member-{member.id}")
            credential = session.execute(
                select(MemberCredential).where(MemberCredential.member_id == member.id, MemberCredential.method == method)
            ).scalar_one_or_none()
            replaced = credential is not None
            if credential is None:
                credential = MemberCredential(
                    member_id=member.id, method=method, state_ciphertext=b"", locked=False, version=0,
                    created_at=now, updated_at=now,
                )
                session.add(credential)
            self._store_state(member, credential, enrollment.state)
            audit.append(
                session, action="credential.enrolled", actor=actor, subject_type="member", subject_id=member.id,
                now=now, institution_id=member.institution_id, details={"method": method, "replaced": replaced},
            )
            handout = dict(enrollment.handout)
        if method == "otp":
            return {"method": "otp", "secret": handout.get("secret"), "uri": handout.get("uri") or handout.get("provisioning_uri")}
        return {"method": "security-card", "serial": handout["serial"], "cells": handout["cells"]}

    def begin_webauthn(self, member_id: int, *, actor: str) -> dict[str, Any]:
        now = self._clock.now()
        with self._db.transaction() as session:
            member = self._member(session, member_id, lock=True)
            credential = session.execute(
                select(MemberCredential).where(MemberCredential.member_id == member.id, MemberCredential.method == "webauthn")
            ).scalar_one_or_none()
            state = self._load_state(member, credential) if credential else None
            challenge, new_state = self._webauthn.begin_enrollment(
                state, user_name=f"member-{member.id}", display_name=member.name, now=now
            )
            if credential is None:
                credential = MemberCredential(
                    member_id=member.id, method="webauthn", state_ciphertext=b"", locked=False, version=0,
                    created_at=now, updated_at=now,
                )
                session.add(credential)
            self._store_state(member, credential, new_state)
            return {"challenge_id": challenge.challenge_id, "options": challenge.prompt}

    def finish_webauthn(self, member_id: int, challenge_id: str, response: Any, *, actor: str) -> dict[str, Any]:
        now = self._clock.now()
        with self._db.transaction() as session:
            member = self._member(session, member_id, lock=True)
            credential = self._credential(session, member.id, "webauthn")
            state = self._load_state(member, credential)
            enrollment = self._webauthn.enroll(state, challenge_id, response, now)
            self._store_state(member, credential, enrollment.state)
            audit.append(
                session, action="credential.enrolled", actor=actor, subject_type="member", subject_id=member.id,
                now=now, institution_id=member.institution_id, details={"method": "webauthn"},
            )
            return dict(enrollment.handout)

    # -- verification ------------------------------------------------------------------------

    def start_verification(self, member_id: int, method: str, *, actor: str) -> Challenge:
        """Start a proof with one method; SMS/e-mail codes are sent here."""
        verifier_outbox: list[OutboundMessage] = []
        verifier = self._verifier(method, verifier_outbox)
        now = self._clock.now()
        with self._db.transaction() as session:
            member = self._member(session, member_id, lock=True)
            credential = self._credential(session, member.id, method)
            state = self._load_state(member, credential)
            challenge, new_state = verifier.challenge(state, now)
            self._store_state(member, credential, new_state)
            for message in verifier_outbox:
                session.add(
                    OutboxMessage(
                        member_id=member.id, channel=message.channel, destination=message.to,
                        text=message.text, created_at=now,
                    )
                )
            audit.append(
                session, action="verification.challenged", actor=actor, subject_type="member", subject_id=member.id,
                now=now, institution_id=member.institution_id, details={"method": method},
            )
            return challenge

    def complete_verification(self, member_id: int, method: str, challenge_id: str | None, response: Any, *, actor: str) -> Evidence:
        """Check a response. The updated state (failure counter, lock) and the audit record
        are committed whether the proof succeeded or not; then the failure is raised."""
        verifier = self._verifier(method)
        now = self._clock.now()
        failure: FincertError | None = None
        with self._db.transaction() as session:
            member = self._member(session, member_id, lock=True)
            credential = self._credential(session, member.id, method)
            state = self._load_state(member, credential)
            was_locked = credential.locked
            outcome = verifier.verify(state, challenge_id, response, now)
            self._store_state(member, credential, outcome.state)
            if outcome.accepted:
                action = "verification.succeeded"
            elif credential.locked and not was_locked:
                action = "verification.locked"
            else:
                action = "verification.failed"
            audit.append(
                session, action=action, actor=actor, subject_type="member", subject_id=member.id, now=now,
                institution_id=member.institution_id, details={"method": method},
            )
            failure = outcome.failure
            evidence = outcome.evidence
        if failure is not None or evidence is None:
            raise failure or InvalidInput("identity was not verified")
        return {**evidence, "member_id": member_id}

    # -- member sessions -----------------------------------------------------------------------

    def login(self, institution_code: str, login_id: str, password: str, *, address: str) -> MemberLogin:
        if not _could_be_login_id(login_id):
            # No member has such an ID (register_member's rule), so this is a wrong login at
            # once. It must not reach the database: the throttle's key (String(128)) would
            # overflow on a long ID, and PostgreSQL refuses a NUL; either was a 500.
            raise Unauthorized("wrong login ID or password")
        now = self._clock.now()
        with self._db.transaction() as session:
            institution = self._institution(session, institution_code)
            attempt = self._start_login(session, f"account:{institution.id}:{login_id}", address, now)
            member = session.execute(
                select(Member).where(Member.institution_id == institution.id, Member.login_id == login_id)
            ).scalar_one_or_none()
            ok = (
                self._passwords.verify(member.password_hash, password)
                if member is not None and member.password_hash
                else self._passwords.verify_unknown_account(password)
            )
            self._finish_login(session, attempt, ok, now)
            if not ok:
                audit.append(
                    session, action="member.login-failed", actor=f"address:{attempt.client}", subject_type="member",
                    subject_id=member.id if member else "unknown", now=now, institution_id=institution.id,
                )
                failed = True
            else:
                assert member is not None
                token = "fms_" + secrets.token_urlsafe(32)
                expires = now + self._session_lifetime
                session.add(
                    MemberSession(
                        token_hash=_token_hash(token), member_id=member.id,
                        evidence_json=json.dumps([make_evidence("login", now, credential_id=str(member.id))]),
                        created_at=now, expires_at=expires,
                    )
                )
                audit.append(
                    session, action="member.logged-in", actor=f"member:{member.id}", subject_type="member",
                    subject_id=member.id, now=now, institution_id=institution.id,
                )
                failed = False
        if failed:
            raise Unauthorized("wrong login ID or password")
        return MemberLogin(token, member.id, expires)

    def _start_login(self, session: Session, account_key: str, address: str, now: dt.datetime) -> _LoginAttempt:
        """Lock the failure windows of the account and of the client address; raise
        ``RateLimited`` if either has seen too many failures."""
        client = _address_key(address)
        keys = (account_key, f"address:{client}")
        # The windows' rows exist before they are locked: ``FOR UPDATE`` locks no row that is not
        # there, so without this the first attempts on a new account (or from a new address) ran
        # side by side on PostgreSQL, every one of them checked its password, and all but one then
        # failed on the primary key (a 500) — a burst of guesses the throttle never counted.
        self._ensure_windows(session, keys, now)
        windows = {
            key: session.execute(select(LoginFailureWindow).where(LoginFailureWindow.scope_key == key).with_for_update()).scalar_one_or_none()
            for key in keys
        }
        records = {k: FailureWindow.from_dict(json.loads(w.window_json)) if w else FailureWindow() for k, w in windows.items()}
        self._throttle.check(records[keys[0]], records[keys[1]], now).raise_if_denied()
        return _LoginAttempt(client, keys[0], keys[1], windows, records)

    def _ensure_windows(self, session: Session, keys: tuple[str, ...], now: dt.datetime) -> None:
        """Insert the empty failure windows of ``keys`` that are not stored yet; a concurrent
        insert of the same key waits for the other transaction and then does nothing. Keys are
        always given account first, then address, so two logins never wait on each other in a
        cycle."""
        empty = json.dumps(FailureWindow().to_dict())
        rows = [{"scope_key": key, "window_json": empty, "updated_at": now} for key in keys]
        if self._db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        session.execute(upsert(LoginFailureWindow).values(rows).on_conflict_do_nothing(index_elements=["scope_key"]))

    def _finish_login(self, session: Session, attempt: _LoginAttempt, ok: bool, now: dt.datetime) -> None:
        """Count a failure against both windows, or clear the account's after a success."""
        if ok:
            key = attempt.account_key
            self._save_window(session, attempt.windows[key], key, self._throttle.record_success(attempt.records[key]), now)
            return
        for key, scope in ((attempt.account_key, "account"), (attempt.address_key, "address")):
            updated = self._throttle.record_failure(attempt.records[key], now, scope=scope)
            self._save_window(session, attempt.windows[key], key, updated, now)

    def _save_window(self, session: Session, row: LoginFailureWindow | None, key: str, window: FailureWindow, now: dt.datetime) -> None:
        if row is None:
            session.add(LoginFailureWindow(scope_key=key, window_json=json.dumps(window.to_dict()), updated_at=now))
        else:
            row.window_json = json.dumps(window.to_dict())
            row.updated_at = now

    def authenticate_member(self, token: str) -> MemberPrincipal:
        now = self._clock.now()
        with self._db.reader() as session:
            row = session.get(MemberSession, _token_hash(token))
            if row is None or _aware(row.expires_at) <= now:
                raise Unauthorized("not logged in or the session expired")
            member = self._member(session, row.member_id)
            return MemberPrincipal(member.id, member.institution_id, row.token_hash)

    def session_evidence(self, principal: MemberPrincipal) -> list[Evidence]:
        with self._db.reader() as session:
            row = session.get(MemberSession, principal.session_hash)
            return json.loads(row.evidence_json) if row else []

    def add_session_evidence(self, principal: MemberPrincipal, evidence: Evidence) -> list[Evidence]:
        with self._db.transaction() as session:
            row = session.get(MemberSession, principal.session_hash, with_for_update=True)
            if row is None:
                raise Unauthorized("not logged in or the session expired")
            items = json.loads(row.evidence_json)
            items.append(evidence)
            row.evidence_json = json.dumps(items)
            return items

    def logout(self, principal: MemberPrincipal) -> None:
        with self._db.transaction() as session:
            row = session.get(MemberSession, principal.session_hash)
            if row is not None:
                session.delete(row)

    def outbox(self, *, member_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self._db.reader() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if member_id is not None:
                query = query.where(OutboxMessage.member_id == member_id)
            return [
                {"id": m.id, "channel": m.channel, "to": m.destination, "text": m.text, "at": _aware(m.created_at).isoformat()}
                for m in session.execute(query).scalars()
            ]

    def institution_audit(self, institution_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit records about one institution (what its operators may read)."""
        limit = max(1, min(limit, 1000))
        with self._db.reader() as session:
            rows = session.execute(
                select(AuditRecord)
                .where(AuditRecord.institution_id == institution_id)
                .order_by(AuditRecord.seq.desc())
                .limit(limit)
            ).scalars()
            return [
                {
                    "seq": r.seq, "at": _aware(r.occurred_at).isoformat(), "actor": r.actor, "action": r.action,
                    "subject_type": r.subject_type, "subject_id": r.subject_id, "details": json.loads(r.details_json),
                }
                for r in rows
            ]

    def require_member_of(self, principal: OperatorPrincipal, member_id: int) -> None:
        with self._db.reader() as session:
            member = session.get(Member, member_id)
            if member is None or member.institution_id != principal.institution_id:
                raise Forbidden("operators can act on their own institution's members only")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def _member_search(query: str) -> Any:
    """The condition of a member search (``Registrar.members_page``), or None for no search.
    ``InvalidInput`` (field ``q``) for text no member could match that must not reach the
    database (a NUL, other control characters, past ``MAX_SEARCH_LENGTH``)."""
    # As names were stored: NFC, runs of spaces collapsed; control characters refused.
    query = clean_text(query, field="q", what="the search")
    if not query:
        return None
    if len(query) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"search by a name, member number or phone number (at most {MAX_SEARCH_LENGTH} characters)", field="q")
    conditions = [func.lower(Member.name).startswith(query.lower(), autoescape=True)]
    if query.isascii() and query.isdigit() and 0 < int(query) <= MAX_ID:
        conditions.append(Member.id == int(query))
    try:
        conditions.append(Member.phone == validate_mobile_phone(query))
    except InvalidInput:
        pass  # not a phone number
    return or_(*conditions)


#: Shortest console password of an operator: the console reaches every member of an institution.
MIN_OPERATOR_PASSWORD_LENGTH = 12


def _check_operator_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_OPERATOR_PASSWORD_LENGTH:
        raise InvalidInput(f"an operator's console password must be at least {MIN_OPERATOR_PASSWORD_LENGTH} characters", field="password")
    if password != password.strip():
        raise InvalidInput("an operator's console password must not start or end with spaces", field="password")


@dataclass
class _LoginAttempt:
    """The failure windows a login attempt locked (see ``Registrar._start_login``)."""

    client: str
    account_key: str
    address_key: str
    windows: dict[str, LoginFailureWindow | None]
    records: dict[str, FailureWindow]


def _address_key(address: str) -> str:
    """The client address as the throttle keys it: an IP address in its canonical form, anything
    else (a proxy's header value, a test client's name) by its digest, so that no client can
    overflow the key column or send a NUL to the database."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "h-" + hashlib.sha256(str(address).encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _could_be_login_id(login_id: str) -> bool:
    """The rule every member's login ID was created under (4-32 letters, digits, '.', '-', '_';
    new ones are ASCII too, but IDs created before that rule still log in)."""
    return isinstance(login_id, str) and 4 <= len(login_id) <= 32 and login_id.replace("_", "").replace("-", "").replace(".", "").isalnum()


def _could_be_username(username: str) -> bool:
    """The rule every operator's username was created under (3-64 letters, digits, '.', '-', '_';
    new ones are ASCII too, but names created before that rule still log in)."""
    return isinstance(username, str) and 3 <= len(username) <= 64 and username.replace("-", "").replace("_", "").replace(".", "").isalnum()


def check_member_fields(
    *, name: str, rrn: str, phone: str, email: str, login_id: str | None = None, password: str | None = None, online: bool = False,
) -> tuple[str, ResidentNumber, str, str]:
    """A member's sign-up or registration fields checked whole: the name, resident number, phone
    and e-mail as stored; every wrong field at once otherwise (``InvalidFields`` when more than
    one is). Pure: nothing is looked up or stored."""
    problems: list[InvalidInput] = []

    def checked(check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except InvalidInput as problem:
            problems.append(problem)
            return None

    name = checked(validate_person_name, name)
    resident: ResidentNumber = checked(parse_rrn, rrn)
    phone = checked(validate_mobile_phone, phone)
    email = checked(validate_email, email)
    if online and not login_id:
        problems.append(InvalidInput("online sign-up needs a login ID and a password", field="login_id"))
    if login_id is not None and (not _could_be_login_id(login_id) or not login_id.isascii()):
        # ASCII only: a Cyrillic 'а' or a full-width 'ａ' looks like the Latin letter,
        # so two IDs that read the same could belong to two people.
        problems.append(InvalidInput("login ID must be 4-32 ASCII letters, digits, '.', '-' or '_'", field="login_id"))
    if password is not None:
        checked(_check_login_password, password)
    elif login_id or online:
        problems.append(InvalidInput("a login ID needs a password", field="password"))
    raise_all(problems)
    return name, resident, phone, email


def _check_login_password(password: str) -> None:
    if len(password) < 8 or len(password) > 128:
        raise InvalidInput("password must be 8 to 128 characters", field="password")
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise InvalidInput("password must mix letters and digits", field="password")
