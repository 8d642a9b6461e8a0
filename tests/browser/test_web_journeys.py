"""The holder's journeys and the institution console in real Chromium, in Korean.

Covers: sign-up → OTP (enrolled by an operator in the console, with its QR code) → issuance
into the cloud with a keypad PIN → signing; a wrong OTP and a wrong PIN shown in place;
browser-generated keys and a downloaded PKCS#12 that ``openssl pkcs12`` opens; biometric
verification through Chromium's virtual authenticator; reissuance revoking the old
certificate; an axe-core check of the main pages.
"""

from __future__ import annotations

import re
import subprocess

import pyotp
from conftest import (
    answer_security_card,
    apply,
    axe_violations,
    collect_cloud,
    demo_security_card,
    person,
    press_pin,
    sign_up,
)
from cryptography import x509
from playwright.sync_api import expect

PIN = "258013"


def test_signup_otp_cloud_issuance_and_signing_with_errors_in_place(served, page, context):
    base = served.base
    holder = person()
    sign_up(page, base, holder)
    apply(page, "financial")
    member_id = served.runtime.registrar.list_members(served.runtime.institutions.get("HANBIT").id)[-1].id

    # The institution enrolls the OTP in its console: a QR code of the otpauth:// URI.
    console = context.new_page()
    console.goto(f"{base}/console")
    console.select_option("#demo-institution", "HANBIT")
    console.click('form[action="/console/demo-operator"] button')
    expect(console.locator("#demo-password")).to_be_visible()
    console.click(f'a[href="/console/members/{member_id}"] >> nth=0')
    console.click('form[action$="/enroll"]:has(input[value="otp"]) button')
    expect(console.locator(".qr svg")).to_be_visible()
    secret = console.locator("#otp-secret").inner_text()
    assert console.locator("#otp-uri").inner_text().startswith("otpauth://totp/")

    # A wrong OTP: the error in place, in Korean, with the attempts left. (The holder's tab
    # comes to the front: background tabs get throttled animation frames.)
    page.bring_to_front()
    page.reload()
    page.fill("#f-otp", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click('form[action="/issue/verify/otp"] button')
    expect(page.locator("#e-otp")).to_contain_text("OTP 번호가 틀렸습니다")
    expect(page.locator("#e-otp")).to_contain_text("9번")
    page.fill("#f-otp", pyotp.TOTP(secret).now())
    page.click('form[action="/issue/verify/otp"] button')
    expect(page.locator(".status")).to_contain_text("본인 확인이 끝났습니다")
    page.click('form[action="/issue/verify-complete"] button')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("인증서 다운로드 및 저장")

    # A PIN that breaks the rules, then a good one from the keypad.
    press_pin(page, "pin", "123456")
    press_pin(page, "pin_confirm", "123456")
    page.click("form[data-pin-form] button[type=submit]")
    expect(page.locator("#e-pin")).to_contain_text("연속된 숫자")
    serial = collect_cloud(page, PIN)
    view = served.runtime.lifecycle.show(serial)
    assert view.status == "active" and view.storage == "cloud" and view.product == "financial"

    # Signing a transfer: a wrong PIN is shown with the tries left, the right one signs.
    page.goto(f"{base}/sign")
    page.fill("#f-to_account", "110-123-456789")
    page.fill("#f-amount", "50000")
    press_pin(page, "pin", "369258")
    page.click('form[action="/sign"] button[type=submit]')
    expect(page.locator("#e-pin")).to_contain_text("PIN이 틀렸습니다")
    expect(page.locator("#e-pin")).to_contain_text("4번")
    expect(page.locator("#f-amount")).to_have_value("50000")
    press_pin(page, "pin", PIN)
    page.click('form[action="/sign"] button[type=submit]')
    expect(page.locator("section.result")).to_contain_text("전자서명이 완료되었습니다")
    signature = page.locator("#signature").input_value()
    assert len(signature) > 1000

    # The operator sees the certificate and the audit trail of their institution.
    console.bring_to_front()
    console.goto(f"{base}/console/certificates")
    expect(console.locator(f'tr[data-serial="{serial}"]')).to_be_visible()
    console.goto(f"{base}/console/audit")
    expect(console.locator("table.audit")).to_contain_text("verification.failed")


def test_browser_keys_and_pkcs12_file_open_with_openssl(served, page, tmp_path):
    holder = person()
    sign_up(page, served.base, holder, institution="NURI")
    apply(page, "joint")
    cells = demo_security_card(page)
    answer_security_card(page, cells, wrong=True)
    expect(page.locator("#m-card .error")).to_contain_text("보안카드 번호가 틀렸습니다")
    answer_security_card(page, cells)
    page.click('form[action="/issue/verify-complete"] button')

    password = "Pa55word!long"
    page.fill("#f-file_password", password)
    page.fill("#f-file_password_confirm", password)
    page.click("[data-file-store] form button[type=submit]")
    link = page.locator("[data-file-link]")
    expect(link).to_be_visible(timeout=60_000)
    with page.expect_download() as download_info:
        link.click()
    target = tmp_path / "holder.p12"
    download_info.value.save_as(target)

    opened = subprocess.run(
        ["openssl", "pkcs12", "-in", str(target), "-passin", f"pass:{password}", "-nodes"],
        capture_output=True, text=True, check=True,
    )
    assert "BEGIN PRIVATE KEY" in opened.stdout and opened.stdout.count("BEGIN CERTIFICATE") == 3
    leaf = x509.load_pem_x509_certificate(opened.stdout[opened.stdout.index("-----BEGIN CERTIFICATE"):].encode())
    view = served.runtime.lifecycle.show(format(leaf.serial_number, "x"))
    assert view.product == "joint" and view.storage == "file" and view.status == "active"
    # The key in the file is the one certified: openssl derives the same public key from both.
    key_pub = subprocess.run(["openssl", "pkey", "-pubout"], input=opened.stdout, capture_output=True, text=True, check=True).stdout
    cert_pub = subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=opened.stdout[opened.stdout.index("-----BEGIN CERTIFICATE"):], capture_output=True, text=True, check=True).stdout
    assert key_pub == cert_pub
    wrong = subprocess.run(["openssl", "pkcs12", "-in", str(target), "-passin", "pass:not-the-password", "-nodes"], capture_output=True, text=True)
    assert wrong.returncode != 0


def test_biometric_verification_with_virtual_authenticator(served, page, context):
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
    }})
    holder = person()
    sign_up(page, served.base, holder, institution="BORAM")
    apply(page, "financial")
    # Registering biometrics follows a first proof (the security card) in this session.
    cells = demo_security_card(page)
    answer_security_card(page, cells)
    page.click("[data-webauthn-register]")
    page.wait_for_url(re.compile(r"registered=webauthn"))
    member = served.runtime.registrar.list_members(served.runtime.institutions.get("BORAM").id)[-1]
    assert served.runtime.registrar.show_member(member.id).methods.get("webauthn") == "active"

    # A new session: log in again and prove identity with the fingerprint alone.
    page.click('form[action="/logout"] button')
    page.goto(f"{served.base}/login?next=/issue/apply")
    page.select_option("#f-institution", "BORAM")
    page.fill("#f-login_id", holder["login_id"])
    page.fill("#f-password", holder["password"])
    page.click('form[action="/login"] button[type=submit]')
    apply(page, "financial")
    expect(page.locator(".status p").first).not_to_contain_text("생체 인증")
    page.click("[data-webauthn-verify]")
    page.wait_for_url(re.compile(r"verified=webauthn"))
    expect(page.locator(".status p").first).to_contain_text("생체 인증")
    expect(page.locator(".status")).to_contain_text("본인 확인이 끝났습니다")
    page.click('form[action="/issue/verify-complete"] button')
    serial = collect_cloud(page, PIN)
    assert served.runtime.lifecycle.show(serial).status == "active"


def test_reissuance_revokes_the_old_certificate(served, page):
    holder = person()
    sign_up(page, served.base, holder)
    apply(page, "financial")
    cells = demo_security_card(page)
    answer_security_card(page, cells)
    page.click('form[action="/issue/verify-complete"] button')
    old = collect_cloud(page, PIN)

    page.goto(f"{served.base}/reissue")
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("재발급 신청")
    page.check('input[name=reason][value="lost"]')
    page.click('form[action="/reissue"] button[type=submit]')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("본인 확인")
    answer_security_card(page, cells)
    expect(page.locator(".status")).to_contain_text("휴대폰 문자")  # still needed: phone or e-mail
    page.click('form[action="/reissue/verify/sms/start"] button')
    expect(page.locator("#m-sms .prompt")).to_contain_text("010-****-")
    # The demo outbox shows the text message with the code.
    outbox = page.context.new_page()
    outbox.goto(f"{served.base}/outbox")
    code = re.search(r"\[(\d{6})\]", outbox.locator("td.message").first.inner_text()).group(1)
    outbox.close()
    page.bring_to_front()
    page.fill("#f-sms", code)
    page.click('form[action="/reissue/verify/sms"] button[type=submit]')
    expect(page.locator(".status")).to_contain_text("본인 확인이 끝났습니다")
    page.click('form[action="/reissue/verify-complete"] button')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("재발급 절차 진행")
    expect(page.locator("dl.collection")).to_contain_text(old)
    page.click('form[action="/reissue/store"] button')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("인증서 다운로드 및 저장")
    new = collect_cloud(page, "147036")
    assert new != old
    old_view = served.runtime.lifecycle.show(old)
    assert old_view.status == "revoked" and old_view.revocation_reason == "keyCompromise"
    page.goto(f"{served.base}/certificates")
    expect(page.locator(f'tr[data-serial="{old}"]')).to_have_attribute("data-status", "revoked")
    expect(page.locator(f'tr[data-serial="{new}"]')).to_have_attribute("data-status", "active")


def test_main_pages_have_no_serious_accessibility_violations(served, axe_page):
    page = axe_page
    base = served.base
    checked = {}
    for path in ("/?lang=en", "/?lang=ko", "/issue", "/issue/institutions/HANBIT", "/login", "/reissue", "/console", "/outbox"):
        page.goto(base + path)
        checked[path] = axe_violations(page)
    # The switch is remembered: the last page asked in Korean stays Korean.
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    holder = person()
    sign_up(page, base, holder)
    checked["apply"] = axe_violations(page)
    apply(page)
    demo_security_card(page)
    checked["verify"] = axe_violations(page)
    page.goto(base + "/certificates")
    checked["certificates"] = axe_violations(page)
    assert {p: v for p, v in checked.items() if v} == {}
