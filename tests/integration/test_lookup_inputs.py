"""What a caller types to name a record reaches no query unless it could name one, and errors
never repeat it: PostgreSQL refuses a NUL in text outright (a 500 for a script or the web app,
which do not pass through the API's field patterns), and a resident number typed into the wrong
field must not come back in an error, a log or a page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fincert.errors import FincertError, InvalidInput, Locked, NotFound, Unauthorized, VerificationFailed
from fincert.storage.models import AuditRecord, Institution

RRN = "900101-1234567"


@pytest.mark.parametrize("reference", ["\x00", "1234567890\x0012", "12345678901a", "", "1" * 200])
def test_collect_with_a_reference_that_names_nothing_is_a_wrong_code(runtime, reference):
    with pytest.raises(VerificationFailed) as refused:
        runtime.lifecycle.collect(reference, "ABCD-ABCD-ABCD-ABCD", pin="482916", actor="t")
    assert reference.strip() == "" or reference not in refused.value.detail


def test_collect_takes_the_reference_number_as_a_holder_types_it(runtime):
    """Spaces and hyphens between the digits are the holder's: the lookup still runs (and the
    wrong authorization code is what fails)."""
    with pytest.raises(VerificationFailed, match="unknown reference number or wrong authorization code"):
        runtime.lifecycle.collect(" 1234-5678 9012 ", "ABCD", pin="482916", actor="t")


@pytest.mark.parametrize("challenge_id", ["\x00", "abc\x00def", "a" * 65, "a b", "가나다"])
def test_relying_party_login_with_a_challenge_id_that_names_nothing_is_not_found(runtime, challenge_id):
    with pytest.raises(NotFound) as refused:
        runtime.signatures.relying_party.login(challenge_id, b"\x30\x00")
    assert refused.value.field == "challenge_id"


@pytest.mark.parametrize("reference", ["\x00", "ref\x00", "a" * 65, "../x"])
def test_evidence_with_a_reference_that_names_nothing_is_not_found(runtime, reference):
    with pytest.raises(NotFound, match="no evidence record"):
        runtime.signatures.relying_party.evidence(reference)


def test_an_unknown_institution_is_not_echoed(runtime):
    runtime.institutions.ensure_samples()
    for attempt in (
        lambda: runtime.registrar.login(RRN, "holder01", "Passw0rd!x", address="127.0.0.1"),
        lambda: runtime.institutions.get(RRN),
        lambda: runtime.registrar.register_member(RRN, name="홍길동", rrn=RRN, phone="010-1234-5678", email="h@example.com", actor="t"),
    ):
        with pytest.raises(NotFound) as refused:
            attempt()
        assert refused.value.detail == "no such institution"
        assert "900101" not in str(refused.value)


def _counts(runtime):
    with runtime.db.reader() as session:
        return (
            session.scalar(select(func.count()).select_from(Institution)),
            session.scalar(select(func.count()).select_from(AuditRecord)),
        )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("한빛\udceb\udc80은행", "not UTF-8 text"),
        ("한빛\x00은행", "control characters"),
        ("한빛\n은행", "control characters"),
        ("A/B 은행", "folder name"),
        ("가" * 31, "at most 30 of them Hangul"),
        ("B" * 65, "1 to 64 characters"),
        ("   ", "1 to 64 characters"),
    ],
)
def test_institution_names_are_refused_with_their_reason_and_nothing_is_stored(runtime, name, reason):
    before = _counts(runtime)
    with pytest.raises(InvalidInput) as refused:
        runtime.institutions.add("NEWBANK", name, "bank", actor="t")
    assert refused.value.field == "name" and reason in refused.value.detail
    assert _counts(runtime) == before


def test_an_institution_name_is_normalised_and_fits_every_certificate(runtime):
    decomposed = "\u1112\u1161\u11ab\u1107\u1175\u11be  은행"  # 한빛 in jamo, two spaces
    view = runtime.institutions.add("NEWBANK", decomposed, "bank", actor="t")
    assert view.name == "한빛 은행"
    assert runtime.institutions.add("LONGBANK", "가" * 30, "bank", actor="t").name == "가" * 30
    assert runtime.institutions.add("LATIN", "B" * 64, "bank", actor="t").name == "B" * 64


def test_a_member_name_with_undecodable_bytes_says_so(runtime):
    runtime.institutions.ensure_samples()
    with pytest.raises(InvalidInput) as refused:
        runtime.registrar.register_member(
            "HANBIT", name="홍\udceb\udc80동", rrn=RRN, phone="010-1234-5678", email="h@example.com", actor="t"
        )
    assert refused.value.field == "name" and "not UTF-8 text" in refused.value.detail


def test_the_domain_errors_above_are_typed(runtime):
    # Every refusal above is a FincertError the edges map (CLI line, problem JSON), never a
    # driver error: one more check on the driver that cares, with the most hostile input.
    for call in (
        lambda: runtime.lifecycle.collect("\x00", "\x00", pin="482916", actor="t"),
        lambda: runtime.signatures.relying_party.login("\x00", b""),
        lambda: runtime.signatures.relying_party.evidence("\x00"),
        lambda: runtime.institutions.get("\x00"),
        lambda: runtime.institutions.add("\x00", "x", "bank", actor="t"),
        lambda: runtime.registrar.login("HANBIT", "\x00\x00\x00\x00", "x", address="127.0.0.1"),
    ):
        with pytest.raises(FincertError):
            call()
    with pytest.raises(Unauthorized):
        runtime.registrar.login("HANBIT", "holder\x00", "x", address="127.0.0.1")


@pytest.mark.parametrize("address", ["10.0.0.1\x00", "x" * 500, "testclient", "::ffff:10.0.0.1"])
def test_a_login_from_any_client_address_is_throttled_not_a_database_error(runtime, address):
    """The address comes from the connection or a proxy's header: whatever it holds, the wrong
    password is counted against it (and the account), never sent raw to the key column."""
    runtime.institutions.ensure_samples()
    runtime.registrar.register_member(
        "HANBIT", name="홍길동", rrn=RRN, phone="010-1234-5678", email="h@example.com", actor="t",
        login_id="hong90", password="s3cret-pass", online=True,
    )
    for _ in range(5):
        with pytest.raises(Unauthorized):
            runtime.registrar.login("HANBIT", "hong90", "wrong-pass1", address=address)
    with pytest.raises(Locked):
        runtime.registrar.login("HANBIT", "hong90", "s3cret-pass", address=address)
    with runtime.db.reader() as session:
        actors = session.scalars(select(AuditRecord.actor).where(AuditRecord.action == "member.login-failed")).all()
    assert len(actors) == 5 and all(len(a) <= 64 and "\x00" not in a for a in actors)
