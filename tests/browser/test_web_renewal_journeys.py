"""Renewal in real Chromium, on a server whose certificates are valid 20 days (so every one is
inside the 30-day renewal window): a file certificate renewed in the browser with a new key and
the current .p12 as proof of possession, and a cloud certificate renewed with its PIN."""

from __future__ import annotations

import subprocess

import pytest
from conftest import (
    answer_security_card,
    apply,
    collect_cloud,
    demo_security_card,
    download_file,
    issue_file_certificate,
    person,
    pkcs12_key_attributes,
    press_pin,
    sign_up,
)
from cryptography import x509
from playwright.sync_api import expect

from fincert.formats.vid import vid_matches

PIN = "258013"


@pytest.fixture(scope="module")
def served_settings() -> dict[str, object]:
    return {"joint_validity_days": 20, "financial_validity_days": 20}


def _leaf(p12: bytes, password: str) -> x509.Certificate:
    opened = subprocess.run(
        ["openssl", "pkcs12", "-passin", f"pass:{password}", "-nokeys", "-clcerts"],
        input=p12, capture_output=True, check=True,
    ).stdout
    return x509.load_pem_x509_certificate(opened[opened.index(b"-----BEGIN CERTIFICATE"):])


def test_file_certificate_renewed_in_the_browser(served, page, tmp_path):
    holder = person()
    password, new_password = "Pa55word!long", "N3w-pa55word!"
    current = tmp_path / "current.p12"
    issue_file_certificate(page, served.base, holder, password, current)
    old_serial = format(_leaf(current.read_bytes(), password).serial_number, "x")

    page.goto(f"{served.base}/certificates")
    expect(page.locator(f'tr[data-serial="{old_serial}"]')).to_contain_text("갱신")
    box = page.locator(f'[data-file-renew][data-serial="{old_serial}"]')
    # A file that is not a key file is refused in the browser, before any request.
    other = tmp_path / "other.p12"
    other.write_bytes(b"not a pkcs12 file")
    box.locator("[name=key_file]").set_input_files(str(other))
    box.locator("[name=key_password]").fill(password)
    box.locator("[name=new_password]").fill(new_password)
    box.locator("[name=new_password_confirm]").fill(new_password)
    box.locator("button[type=submit]").click()
    expect(box.locator("[data-file-error]")).to_contain_text("인증서 파일을 열 수 없습니다")

    box.locator("[name=key_file]").set_input_files(str(current))
    box.locator("button[type=submit]").click()
    renewed = tmp_path / "renewed.p12"
    download_file(page, box.locator("[data-file-link]"), renewed)
    expect(box.locator("[data-file-status]")).to_contain_text("인증서가 갱신되었습니다")

    leaf = _leaf(renewed.read_bytes(), new_password)
    new_serial = format(leaf.serial_number, "x")
    assert new_serial != old_serial and box.get_attribute("data-renewed-serial") == new_serial
    new_view, old_view = served.runtime.lifecycle.show(new_serial), served.runtime.lifecycle.show(old_serial)
    assert new_view.status == "active" and new_view.storage == "file" and new_view.product == "joint"
    assert old_view.status == "revoked" and old_view.revocation_reason == "superseded"
    # A new key (not the old one re-certified) with its own randomNum, and the VID still matches.
    key = pkcs12_key_attributes(renewed.read_bytes(), new_password)
    old_key = pkcs12_key_attributes(current.read_bytes(), password)
    assert key.private_key.public_key().public_numbers() == leaf.public_key().public_numbers()
    assert key.private_key.public_key().public_numbers() != old_key.private_key.public_key().public_numbers()
    assert key.random_num != old_key.random_num
    assert vid_matches(leaf, holder["rrn"].replace("-", ""), key.random_num)

    page.goto(f"{served.base}/certificates")
    expect(page.locator(f'tr[data-serial="{old_serial}"]')).to_have_attribute("data-status", "revoked")
    expect(page.locator(f'tr[data-serial="{new_serial}"]')).to_have_attribute("data-status", "active")
    # The old file cannot renew again: its certificate is no longer active.
    expect(page.locator(f'[data-file-renew][data-serial="{old_serial}"]')).to_have_count(0)


def test_cloud_certificate_renewed_with_its_pin(served, page):
    holder = person()
    sign_up(page, served.base, holder, institution="HANBIT")
    apply(page, "financial")
    answer_security_card(page, demo_security_card(page))
    page.click('form[action="/issue/verify-complete"] button')
    old_serial = collect_cloud(page, PIN)

    page.goto(f"{served.base}/certificates")
    expect(page.locator(f'tr[data-serial="{old_serial}"] small')).to_contain_text("일 남음")
    page.click(f'form[action="/certificates/{old_serial}/renew"] button')
    expect(page.locator("h1")).to_contain_text("인증서 갱신")
    # The current PIN, typed once: no storage choice, no new PIN's rules, no second PIN box.
    expect(page.locator("main")).to_contain_text("갱신할 인증서의 PIN을 입력하세요.")
    expect(page.locator("main")).not_to_contain_text("인증서를 보관할 곳을 선택하세요")
    expect(page.locator("main")).not_to_contain_text("같은 숫자 반복")
    expect(page.locator('fieldset[data-keypad="pin_confirm"]')).to_have_count(0)
    # A wrong current PIN is shown in place; the right one renews.
    press_pin(page, "pin", "369258")
    page.click("form[data-pin-form] button[type=submit]")
    expect(page.locator("#e-pin")).to_contain_text("PIN이 틀렸습니다")
    expect(page.locator("h1")).to_contain_text("인증서 갱신")
    expect(page.locator("[data-file-store]")).to_have_count(0)
    expect(page.locator('fieldset[data-keypad="pin_confirm"]')).to_have_count(0)
    new_serial = collect_cloud(page, PIN)
    expect(page.locator("h1")).to_have_text("인증서가 갱신되었습니다")
    assert new_serial != old_serial
    assert served.runtime.lifecycle.show(new_serial).status == "active"
    old_view = served.runtime.lifecycle.show(old_serial)
    assert old_view.status == "revoked" and old_view.revocation_reason == "superseded"


def test_a_locked_cloud_certificate_is_reissued_not_renewed_nor_used(served, page):
    holder = person()
    sign_up(page, served.base, holder, institution="HANBIT")
    apply(page, "financial")
    answer_security_card(page, demo_security_card(page))
    page.click('form[action="/issue/verify-complete"] button')
    serial = collect_cloud(page, PIN)
    for _ in range(5):
        page.goto(f"{served.base}/sign")
        page.fill("#f-to_account", "123-456")
        page.fill("#f-amount", "1000")
        press_pin(page, "pin", "369258")
        page.click('form[action="/sign"] button[type=submit]')
    expect(page.locator("main").get_by_role("alert").filter(has_text="PIN을 5번 틀려 인증서가 잠겼습니다")).to_have_count(1)
    assert served.runtime.lifecycle.show(serial).locked is True

    page.goto(f"{served.base}/certificates")
    row = page.locator(f'tr[data-serial="{serial}"]')
    expect(row.locator("[data-locked] a[href='/reissue']")).to_have_text("재발급하기")
    expect(row.locator(f'form[action="/certificates/{serial}/renew"]')).to_have_count(0)
    expect(row.get_by_text("갱신", exact=True)).to_have_count(0)

    page.goto(f"{served.base}/sign")
    expect(page.locator(f'#f-serial option[value="{serial}"]')).to_have_count(0)
    expect(page.locator("p[data-locked]")).to_contain_text("잠긴 인증서는 서명에 쓸 수 없습니다")
    page.click("p[data-locked] a[href='/reissue']")
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("재발급 신청")
