"""Institutions: the banks, securities firms, card companies and insurers that act as RAs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fincert.clock import Clock
from fincert.errors import Conflict, InvalidInput, NotFound
from fincert.ra.identity import clean_text
from fincert.storage import audit
from fincert.storage.db import Database
from fincert.storage.models import Institution

INSTITUTION_TYPES = ("bank", "securities", "card", "insurance")
#: The most an institution's name may take in UTF-8 (see ``add``).
_NAME_MAX_BYTES = 90
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")


def could_be_code(code: str) -> bool:
    """Whether ``code`` has the shape every stored code has. A code typed into a form or a URL
    is checked before it reaches a query: PostgreSQL refuses a NUL in text outright (a 500, not
    "no such institution"), and an error's detail must not quote 100 KB of whatever was sent."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None

#: The sample institutions that ``fincert init --demo`` (and so ``make run``) creates.
SAMPLE_INSTITUTIONS = (
    ("HANBIT", "한빛은행", "bank"),
    ("NURI", "누리증권", "securities"),
    ("BORAM", "보람카드", "card"),
)


@dataclass(frozen=True)
class InstitutionView:
    id: int
    code: str
    name: str
    type: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "type": self.type}


def _view(row: Institution) -> InstitutionView:
    return InstitutionView(row.id, row.code, row.name, row.type)


class InstitutionRegistry:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def add(self, code: str, name: str, type_: str = "bank", *, actor: str = "operator") -> InstitutionView:
        if not could_be_code(code):  # fullmatch: "$" also matches before a final newline
            raise InvalidInput("institution code must be 2-32 letters, digits, '-' or '_'", field="code")
        name = clean_text(name, field="name", what="institution name")
        # The name is the OU of every holder's certificate (X.509 caps it at 64 characters) and
        # so part of their NPKI folder name, which file systems cap at 255 bytes.
        if not 1 <= len(name) <= 64 or len(name.encode()) > _NAME_MAX_BYTES:
            raise InvalidInput(
                "institution name must be 1 to 64 characters, at most 30 of them Hangul (90 bytes in UTF-8)", field="name"
            )
        if any(c in name for c in "/\\"):
            raise InvalidInput("institution name must not contain '/' or '\\': it becomes part of a folder name", field="name")
        if type_ not in INSTITUTION_TYPES:
            raise InvalidInput(f"institution type must be one of {', '.join(INSTITUTION_TYPES)}", field="type")
        code = code.upper()
        now = self._clock.now()
        try:
            with self._db.transaction() as session:
                if session.execute(select(Institution.id).where(Institution.code == code)).first():
                    raise Conflict(f"institution {code} already exists")
                row = Institution(code=code, name=name, type=type_, created_at=now)
                session.add(row)
                session.flush()
                audit.append(
                    session,
                    action="institution.added",
                    actor=actor,
                    subject_type="institution",
                    subject_id=code,
                    now=now,
                    institution_id=row.id,
                    details={"name": name, "type": type_},
                )
                return _view(row)
        except IntegrityError:
            raise Conflict(f"institution {code} already exists") from None

    def ensure_samples(self) -> list[InstitutionView]:
        created = []
        for code, name, type_ in SAMPLE_INSTITUTIONS:
            try:
                created.append(self.add(code, name, type_, actor="demo"))
            except Conflict:
                continue
        return created

    def list(self) -> list[InstitutionView]:
        with self._db.reader() as session:
            return [_view(r) for r in session.execute(select(Institution).order_by(Institution.code)).scalars()]

    def get(self, code: str) -> InstitutionView:
        if not could_be_code(code):
            raise NotFound("no such institution")
        with self._db.reader() as session:
            row = session.execute(select(Institution).where(Institution.code == code.upper())).scalar_one_or_none()
            if row is None:
                raise NotFound("no such institution")  # never the input: a mistyped resident number must not be echoed
            return _view(row)
