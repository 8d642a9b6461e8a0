"""The institution console as a bank operator uses it (regressions from an audit of the console).

- The member page greeted the *member* ("홍길동님" / "Signed in as 홍길동") with the holder's
  logout form (``/logout``): the page's ``member`` was read by the base layout as the holder
  signed in on this browser. The operator's name, institution and console logout are shown.
- The certificate search looked only through the newest 200 certificates of the institution, and
  only for the serial as stored (no leading zero): a serial as OpenSSL prints it (even number of
  digits) or an older certificate was not found. An exact serial or member number is looked up;
  another institution's certificate is still not found.
- A certificate on hold showed as plain "revoked" on the member page; the reason is shown.
- The audit page showed only the machine action code; it shows the catalogue's label when there is
  one (``audit.<action>``), the code still beside it.
"""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from holders import issue_joint
from web_helpers import client, csrf, database_url, errors  # noqa: F401 - the page tests' fixtures and helpers

from fincert.web import i18n

OPERATOR_PASSWORD = "operator-pass-1"


@pytest.fixture(scope="module")
def holder_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def bank(client, runtime, holder_key):
    """An operator of HANBIT logged in; a member with a certificate at HANBIT and one at NURI."""
    reg = runtime.registrar
    own = reg.register_member("HANBIT", name="홍길동", rrn="900101-1234567", phone="010-1234-5678", email="h@example.com", actor="t")
    other = reg.register_member("NURI", name="김철수", rrn="850505-1234567", phone="010-9999-8888", email="k@example.com", actor="t")
    reg.add_operator("HANBIT", "hanbit-op", password=OPERATOR_PASSWORD)
    token = csrf(client)
    assert client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": OPERATOR_PASSWORD}, follow_redirects=False).status_code == 303
    return {
        "token": token, "own": own.id, "other": other.id,
        "own_serial": issue_joint(runtime, own.id, holder_key), "other_serial": issue_joint(runtime, other.id, holder_key),
    }


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-serial="([0-9a-f]+)"', html)


def test_the_member_page_shows_the_operator_signed_in_not_the_member(client, bank):
    for lang, greeting in (("ko", "홍길동님"), ("en", "Signed in as 홍길동")):
        page = client.get(f"/console/members/{bank['own']}?lang={lang}")
        assert page.status_code == 200 and "<h1>홍길동" in page.text
        assert greeting not in page.text
        assert 'action="/logout"' not in page.text and 'action="/console/logout"' in page.text
        assert "hanbit-op · " in page.text


def test_the_member_page_says_a_certificate_is_on_hold(client, runtime, bank):
    runtime.lifecycle.revoke(bank["own_serial"], "certificateHold", actor="op")
    page = client.get(f"/console/members/{bank['own']}").text
    assert "(효력 정지)" in page


def test_search_finds_a_serial_as_openssl_prints_it(client, bank):
    serial = bank["own_serial"]
    printed = ":".join(re.findall("..", ("0" * (len(serial) % 2)) + "00" + serial)).upper()
    assert listed(client.get("/console/certificates", params={"q": printed}).text) == [serial]
    assert listed(client.get("/console/certificates", params={"q": "00" + serial}).text) == [serial]


def test_search_finds_certificates_older_than_the_list_but_never_another_institutions(client, runtime, bank, monkeypatch):
    # As with more than 200 newer certificates: the list of the newest holds neither certificate.
    monkeypatch.setattr(runtime.lifecycle, "certificates_of_institution", lambda *args, **kwargs: [])
    assert listed(client.get("/console/certificates", params={"q": bank["own_serial"]}).text) == [bank["own_serial"]]
    assert listed(client.get("/console/certificates", params={"q": str(bank["own"])}).text) == [bank["own_serial"]]
    assert listed(client.get("/console/certificates", params={"q": bank["other_serial"]}).text) == []
    assert listed(client.get("/console/certificates", params={"q": str(bank["other"])}).text) == []
    for query in ("\x00", "99999999999999999999999", "zz", "0"):
        assert client.get("/console/certificates", params={"q": query}).status_code == 200


def test_the_audit_page_labels_actions_from_the_catalogue(client, bank, monkeypatch):
    monkeypatch.setitem(i18n.MESSAGES, "audit.credential.enrolled", ("보안수단 등록", "Identity method enrolled"))
    page = client.get("/console/audit").text
    assert "보안수단 등록 <code>credential.enrolled</code>" in page
    # Without a label the code alone, as before.
    monkeypatch.delitem(i18n.MESSAGES, "audit.member.registered")
    page = client.get("/console/audit").text
    assert "<td><code>member.registered</code></td>" in page


def test_an_operator_cannot_revoke_as_the_ca_from_the_console_either(client, runtime, bank):
    refused = client.post(f"/console/certificates/{bank['own_serial']}/revoke", data={"csrf_token": bank["token"], "reason": "cACompromise"})
    assert refused.status_code == 400 and errors(refused.text)
    assert runtime.lifecycle.show(bank["own_serial"]).status == "active"


def test_every_audited_action_has_a_label_in_both_languages():
    """Each action code the service writes (``audit.append(..., action="…")``) has an
    ``audit.<action>`` label: an unlabelled code shows on the console page as a bare code."""
    import pathlib

    source = pathlib.Path(i18n.__file__).resolve().parents[1]
    written: set[str] = set()
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r'action="([a-z-]+\.[a-z-]+)"', text))
        written |= set(re.findall(r'action = "([a-z-]+\.[a-z-]+)"', text))
    assert {"certificate.issued", "member.logged-in", "operator.logged-in"} <= written
    written -= {"rp.login", "rp.transfer-accepted"}  # the relying-party demo's own records, not an institution's
    missing = sorted(a for a in written if f"audit.{a}" not in i18n.MESSAGES)
    assert not missing, f"add audit.<action> labels to i18n.MESSAGES for: {missing}"
    assert all(all(i18n.MESSAGES[f"audit.{a}"]) for a in written)


def test_restoring_an_active_certificate_does_not_say_it_was_revoked(client, runtime, bank):
    """The Korean text for "not on hold" said a revoked certificate cannot be brought back, which
    is wrong for a certificate that is simply active."""
    answer = client.post(f"/console/certificates/{bank['own_serial']}/restore", data={"csrf_token": bank["token"]})
    assert answer.status_code == 409
    assert "사용 중인 인증서" in answer.text and "폐지된 인증서는 되살릴 수 없습니다" not in answer.text
    runtime.lifecycle.revoke(bank["own_serial"], "keyCompromise", actor="t")
    answer = client.post(f"/console/certificates/{bank['own_serial']}/restore", data={"csrf_token": bank["token"]})
    assert answer.status_code == 409 and "폐지된 인증서는 되살릴 수 없습니다" in answer.text
