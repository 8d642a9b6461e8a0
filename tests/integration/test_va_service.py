"""The VA service on SQLite and PostgreSQL: responder certificate lifecycle, the pre-signed store,
revocation re-signing, and CRL numbering and partitions."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import insert, select, text, update

from fincert.ca.authority import IssuanceRequest, SubjectIdentity, new_serial, serial_hex
from fincert.config import Settings
from fincert.errors import NotFound
from fincert.runtime import open_runtime
from fincert.storage.models import Authority, Certificate
from fincert.storage.models_va import OcspResponseRecord, PublishedCrl
from fincert.va.ocsp import parse_response_statuses
from fincert.va.responder import RESPONDER_RENEW_BEFORE, RESPONDER_VALIDITY, RESPONSE_VALIDITY


@pytest.fixture(scope="module")
def subscriber_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue(rt, key):
    return rt.ca.issue(IssuanceRequest("financial", key.public_key(), SubjectIdentity("홍길동", "한빛은행"))).certificate


def request_der(rt, cert: x509.Certificate, *, nonce: bytes | None = None, algorithm=hashes.SHA1()) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, rt.ca.hierarchy().issuing, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def single_status(der: bytes):
    response_status, items = parse_response_statuses(der)
    assert response_status == "successful"
    assert len(items) == 1
    return items[0][1]


def stored_rows(rt) -> dict[str, OcspResponseRecord]:
    with rt.db.reader() as session:
        return {row.serial: row for row in session.execute(select(OcspResponseRecord)).scalars()}


def test_responder_certificate_is_issued_at_first_use_and_rotated_before_expiry(runtime, clock):
    assert runtime.ca.active_service_certificate("ocsp-responder") is None
    first = runtime.va.ocsp.responder()
    assert first is not None
    cert = first.certificate
    assert ExtendedKeyUsageOID.OCSP_SIGNING in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= RESPONDER_VALIDITY + dt.timedelta(minutes=5)
    cert.verify_directly_issued_by(runtime.ca.hierarchy().issuing)
    assert runtime.va.ocsp.responder() is first  # kept while far from expiry

    clock.advance(days=(RESPONDER_VALIDITY - RESPONDER_RENEW_BEFORE).days, hours=1)
    second = runtime.va.ocsp.responder()
    assert second is not None and second.certificate.serial_number != cert.serial_number
    assert second.certificate.not_valid_after_utc > cert.not_valid_after_utc
    with runtime.db.reader() as session:
        rows = session.execute(select(Authority).where(Authority.role == "ocsp-responder")).scalars().all()
        assert [r.active for r in rows] == [False, True]
    # Responses are now signed by the new certificate, and never outlive it.
    holder = issue(runtime, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    response = ocsp.load_der_ocsp_response(runtime.va.ocsp.respond(request_der(runtime, holder)).der)
    assert response.certificates == [second.certificate]
    assert response.next_update_utc <= second.certificate.not_valid_after_utc


def test_refresh_signs_every_certificate_once_and_again_before_next_update(runtime, clock, subscriber_key):
    certs = [issue(runtime, subscriber_key) for _ in range(3)]
    report = runtime.va.ocsp.refresh()
    assert (report.signed, report.good, report.revoked) == (3, 3, 0)
    rows = stored_rows(runtime)
    assert set(rows) == {serial_hex(c.serial_number) for c in certs}
    assert all(row.cert_status == "good" for row in rows.values())
    assert runtime.va.ocsp.refresh().signed == 0  # nothing due

    clock.advance(seconds=(RESPONSE_VALIDITY - dt.timedelta(hours=7)).total_seconds())
    assert runtime.va.ocsp.refresh(full=False).signed == 3  # within 8 h of nextUpdate
    for serial, row in stored_rows(runtime).items():
        assert row.this_update > rows[serial].this_update


def test_a_status_request_is_a_lookup_of_the_presigned_response(runtime, subscriber_key, monkeypatch):
    cert = issue(runtime, subscriber_key)
    runtime.va.ocsp.refresh()
    stored = stored_rows(runtime)[serial_hex(cert.serial_number)].der
    signer = runtime.va.ocsp.responder().signer

    def no_signing(*_args, **_kwargs):
        raise AssertionError("a pre-signed certificate must not be signed again")

    monkeypatch.setattr(signer, "sign_response", no_signing)
    answer = runtime.va.ocsp.respond(request_der(runtime, cert))
    assert answer.der == stored and answer.cacheable
    assert runtime.va.ocsp.held_answer(request_der(runtime, cert)).der == stored  # now from memory


def test_missing_responses_are_signed_live_and_stored(runtime, subscriber_key):
    runtime.va.ocsp.responder()
    cert = issue(runtime, subscriber_key)
    assert stored_rows(runtime) == {}
    answer = runtime.va.ocsp.respond(request_der(runtime, cert))
    assert single_status(answer.der).status == "good"
    assert stored_rows(runtime)[serial_hex(cert.serial_number)].der == answer.der
    # A SHA-256 CertID is answered live for the same certificate, and not stored.
    sha256 = runtime.va.ocsp.respond(request_der(runtime, cert, algorithm=hashes.SHA256()))
    assert single_status(sha256.der).status == "good"
    assert len(stored_rows(runtime)) == 1


def test_revocation_resigns_at_once(runtime, subscriber_key):
    cert = issue(runtime, subscriber_key)
    runtime.va.ocsp.refresh()
    good = runtime.va.ocsp.respond(request_der(runtime, cert))
    assert single_status(good.der).status == "good"
    revoked_at = runtime.ca.revoke(serial_hex(cert.serial_number), "keyCompromise", actor="operator:test")

    row = stored_rows(runtime)[serial_hex(cert.serial_number)]
    assert row.cert_status == "revoked"
    for der in (row.der, runtime.va.ocsp.respond(request_der(runtime, cert)).der):
        status = single_status(der)
        assert status.status == "revoked" and status.reason == "keyCompromise"
        assert status.revoked_at == revoked_at.replace(microsecond=0)
    with_nonce = runtime.va.ocsp.respond(request_der(runtime, cert, nonce=b"n" * 16))
    assert single_status(with_nonce.der).status == "revoked" and not with_nonce.cacheable


def test_a_revocation_the_va_was_not_told_of_is_caught_by_the_refresh_pass(runtime, settings, clock, subscriber_key):
    cert = issue(runtime, subscriber_key)
    runtime.va.ocsp.refresh()
    # Committed, but no listener ran: a process that died right after its commit, or a tool
    # writing the database directly.
    other = open_runtime(settings, clock=clock)
    try:
        with other.db.transaction() as session:
            other.ca._revoke_in(session, serial_hex(cert.serial_number), "superseded", clock.now(), "operator:test", None)
    finally:
        other.close()
    assert stored_rows(runtime)[serial_hex(cert.serial_number)].cert_status == "good"
    report = runtime.va.ocsp.refresh(full=False)
    assert report.revoked == 1
    assert single_status(runtime.va.ocsp.respond(request_der(runtime, cert)).der).reason == "superseded"


def test_reserved_serials_answer_unknown_unless_revoked(runtime, subscriber_key):
    cert = issue(runtime, subscriber_key)
    serial = serial_hex(cert.serial_number)
    with runtime.db.transaction() as session:  # as a crash between reserving and storing leaves it
        session.execute(update(Certificate).where(Certificate.serial == serial).values(status="reserved", der=None))
    assert single_status(runtime.va.ocsp.respond(request_der(runtime, cert)).der).status == "unknown"
    assert runtime.va.ocsp.refresh().signed == 0  # never pre-signed as good
    runtime.ca.revoke(serial, "cessationOfOperation", actor="operator:test")
    status = single_status(runtime.va.ocsp.respond(request_der(runtime, cert, nonce=b"x" * 8)).der)
    assert status.status == "revoked" and status.reason == "cessationOfOperation"


def test_unparseable_requests_get_malformed_request(runtime):
    for junk in (b"", b"\x30\x03abc", b"\x30" * 20_000):
        answer = runtime.va.ocsp.respond(junk)
        assert parse_response_statuses(answer.der)[0] == "malformed_request" and not answer.cacheable


# -- CRLs -------------------------------------------------------------------------------------


def add_revoked_row(rt, partition: int, reason: str = "affiliationChanged") -> int:
    """A revoked certificate row in a given partition, as issuance leaves after many certificates."""
    serial = new_serial()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        session.execute(
            insert(Certificate).values(
                serial=serial_hex(serial), issuer_id=rt.ca.hierarchy().issuing_id, status="issued", product="joint",
                subject="CN=x", public_key_sha256="0" * 64, request_json="{}", crl_partition=partition,
                not_before=now, not_after=now + dt.timedelta(days=365), created_at=now, issued_at=now,
                revoked_at=now, revocation_reason=reason,
            )
        )
    return serial


def test_crls_are_partitioned_by_the_cdp_in_each_certificate(runtime, subscriber_key):
    cert = issue(runtime, subscriber_key)
    runtime.ca.revoke(serial_hex(cert.serial_number), "keyCompromise", actor="operator:test")
    far = add_revoked_row(runtime, 2)
    publication = runtime.va.crl.publish()
    assert publication.partitions == 3 and publication.revoked == 2

    issuing = runtime.ca.hierarchy().issuing
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    partition = x509.load_der_x509_crl(runtime.va.crl.crl(issuing_id := runtime.ca.hierarchy().issuing_id, "0").der)
    idp = partition.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical and idp.value.full_name[0].value == cdp == runtime.endpoints.crl_url(issuing_id, 0)
    assert partition.is_signature_valid(issuing.public_key())
    assert partition.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert partition.get_revoked_certificate_by_serial_number(far) is None

    empty = x509.load_der_x509_crl(runtime.va.crl.crl(issuing_id, "1").der)
    assert len(empty) == 0
    last = x509.load_der_x509_crl(runtime.va.crl.crl(issuing_id, "2").der)
    entry = last.get_revoked_certificate_by_serial_number(far)
    assert entry is not None and entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name == "affiliation_changed"

    full = x509.load_der_x509_crl(runtime.va.crl.crl(issuing_id, "full").der)
    assert {r.serial_number for r in full} == {cert.serial_number, far}
    assert full.next_update_utc > full.last_update_utc
    with pytest.raises(x509.ExtensionNotFound):
        full.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    with pytest.raises(NotFound):
        runtime.va.crl.crl(issuing_id, "3")
    with pytest.raises(NotFound):
        runtime.va.crl.crl(999_999, "full")
    with pytest.raises(NotFound):
        runtime.va.crl.crl(runtime.ca.hierarchy().root_id, "0")


def test_crl_entries_carry_each_stored_serial_and_revocation_second(runtime):
    """The publisher encodes straight from stored values: odd-length and high-bit hex serials,
    times floored (never rounded) to the second, a missing reason as no reasonCode."""
    issuing_id = runtime.ca.hierarchy().issuing_id
    base = dt.datetime(2026, 3, 1, 8, 59, 59, 999_999, tzinfo=dt.timezone.utc)
    rows = {
        0xABC: (base, "keyCompromise"),  # odd number of hex digits
        0x8F00_0000_0000_0000_0000_0000_0000_0001: (base, None),  # high bit: needs a sign octet
        0x7F: (base + dt.timedelta(microseconds=1), "superseded"),  # 09:00:00.000000 exactly
        0x1234_5678: (dt.datetime(2051, 1, 2, 3, 4, 5, 500_000, tzinfo=dt.timezone.utc), "cessationOfOperation"),
    }
    with runtime.db.transaction() as session:
        for serial, (revoked_at, reason) in rows.items():
            session.execute(
                insert(Certificate).values(
                    serial=serial_hex(serial), issuer_id=issuing_id, status="issued", product="joint",
                    subject="CN=x", public_key_sha256="0" * 64, request_json="{}", crl_partition=0,
                    not_before=base, not_after=base + dt.timedelta(days=365), created_at=base, issued_at=base,
                    revoked_at=revoked_at, revocation_reason=reason,
                )
            )
    runtime.va.crl.publish()
    crl = x509.load_der_x509_crl(runtime.va.crl.crl(issuing_id, "0").der)
    assert len(crl) == len(rows)
    for serial, (revoked_at, reason) in rows.items():
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry is not None, hex(serial)
        assert entry.revocation_date_utc == revoked_at.replace(microsecond=0)
        reasons = [e.value.reason.name for e in entry.extensions if isinstance(e.value, x509.CRLReason)]
        assert reasons == ([] if reason is None else [x509.ReasonFlags[{"keyCompromise": "key_compromise", "superseded": "superseded", "cessationOfOperation": "cessation_of_operation"}[reason]].name])


def test_publication_reports_progress_over_the_revoked_certificates(runtime, monkeypatch):
    """``fincert crl`` draws its progress bar from these calls: rows read so far, of the total."""
    import fincert.va.publisher as publisher

    monkeypatch.setattr(publisher, "FETCH_ROWS", 2)  # several round trips for five rows
    for partition in (0, 0, 1, 1, 1):
        add_revoked_row(runtime, partition)
    calls: list[tuple[int, int]] = []
    publication = runtime.va.crl.publish(progress=lambda done, total: calls.append((done, total)))
    assert publication.revoked == 5
    assert calls == [(2, 5), (4, 5), (5, 5)]


def crl_number(der: bytes) -> int:
    return x509.load_der_x509_crl(der).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_numbers_grow_and_revocations_republish(runtime, settings, clock, subscriber_key):
    cert = issue(runtime, subscriber_key)
    issuing_id = runtime.ca.hierarchy().issuing_id
    first = runtime.va.crl.crl(issuing_id, "full")  # published on first request
    assert first.crl_number == 1 and first.revoked_count == 0
    assert runtime.va.crl.crl(issuing_id, "full").crl_number == 1  # served, not rebuilt

    runtime.ca.revoke(serial_hex(cert.serial_number), "keyCompromise", actor="operator:test")
    after = runtime.va.crl.crl(issuing_id, "0")  # the revocation made it stale
    assert crl_number(after.der) == 2
    assert x509.load_der_x509_crl(after.der).get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    # Another process (a second runtime) continues the sequence from the database.
    other = open_runtime(settings, clock=clock)
    try:
        assert other.va.crl.publish().crl_number == 3
    finally:
        other.close()
    assert runtime.va.crl.publish().crl_number == 4
    with runtime.db.reader() as session:
        numbers = {row.scope: row.crl_number for row in session.execute(select(PublishedCrl).where(PublishedCrl.issuer_id == issuing_id)).scalars()}
    assert numbers == {"0": 4, "full": 4}

    clock.advance(days=2)  # past nextUpdate: the next request republishes
    assert runtime.va.crl.crl(issuing_id, "full").crl_number == 5


def test_the_schedule_republishes_what_another_process_revoked(runtime, settings, clock, subscriber_key):
    cert = issue(runtime, subscriber_key)
    assert [p.issuer_id for p in runtime.va.crl.publish_if_due()] == list(runtime.va.crl.issuer_ids())  # none yet
    assert runtime.va.crl.publish_if_due() == []
    other = open_runtime(settings, clock=clock)
    try:
        other.ca.revoke(serial_hex(cert.serial_number), "privilegeWithdrawn", actor="operator:test")
    finally:
        other.close()
    published = runtime.va.crl.publish_if_due()
    assert [p.revoked for p in published] == [1]


def test_root_crl_is_signed_by_the_root_and_empty(runtime):
    hierarchy = runtime.ca.hierarchy()
    document = runtime.va.crl.crl(hierarchy.root_id, "full")
    crl = x509.load_der_x509_crl(document.der)
    assert crl.issuer == hierarchy.root.subject and len(crl) == 0
    assert crl.is_signature_valid(hierarchy.root.public_key())


def wait_until(condition, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the schedule did not get there"
        time.sleep(0.05)


def test_the_background_schedule_presigns_and_republishes_and_stops(runtime, subscriber_key):
    from fincert.va.upkeep import StatusUpkeep

    cert = issue(runtime, subscriber_key)
    issuing_id = runtime.ca.hierarchy().issuing_id
    upkeep = StatusUpkeep(runtime.va.ocsp, runtime.va.crl, interval=0.2, debounce=0.05)
    upkeep.start()
    try:
        wait_until(lambda: serial_hex(cert.serial_number) in stored_rows(runtime))  # an interval pass pre-signed it
        wait_until(lambda: runtime.va.crl._stored(issuing_id, "full") is not None)
        runtime.ca.revoke(serial_hex(cert.serial_number), "keyCompromise", actor="operator:test")
        upkeep.wake()
        wait_until(lambda: runtime.va.crl._stored(issuing_id, "full").revoked_count == 1)
    finally:
        upkeep.stop()
    assert not upkeep.running


def test_published_crls_are_stored_uncompressed_on_postgresql(postgres_url, tmp_path, clock):
    """Migration 0003_va_crl_storage: CRL bytes are random serials, so TOAST compression is off."""
    rt = open_runtime(Settings(home=tmp_path / "pg-home", database_url=postgres_url, ca_passphrase="crl-storage-test"), clock=clock)
    try:
        rt.initialize()
        with rt.db.reader() as session:
            storage = session.execute(
                text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'published_crls'::regclass AND attname = 'der'")
            ).scalar_one()
        assert storage == "e"
    finally:
        rt.close()


def test_a_revocation_in_a_runtime_that_never_used_its_va_resigns_the_stored_response(runtime, settings, clock, subscriber_key):
    cert = issue(runtime, subscriber_key)
    assert single_status(runtime.va.ocsp.respond(request_der(runtime, cert)).der).status == "good"
    assert stored_rows(runtime)[serial_hex(cert.serial_number)].cert_status == "good"  # pre-signed and stored
    # A script or command revoking through the CA alone, its VA never touched.
    other = open_runtime(settings, clock=clock)
    try:
        assert "va" not in vars(other)
        other.ca.revoke(serial_hex(cert.serial_number), "keyCompromise", actor="operator:test")
    finally:
        other.close()
    assert stored_rows(runtime)[serial_hex(cert.serial_number)].cert_status == "revoked"
    # A process that starts now (nothing in memory) answers from the store: revoked at once.
    fresh = open_runtime(settings, clock=clock)
    try:
        assert single_status(fresh.va.ocsp.respond(request_der(fresh, cert)).der).status == "revoked"
    finally:
        fresh.close()
