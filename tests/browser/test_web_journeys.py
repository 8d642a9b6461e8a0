"""The holder's journeys and the institution console in real Chromium, in Korean.

Covers: sign-up → OTP (enrolled by an operator in the console, with its QR code) → issuance
into the cloud with a keypad PIN → signing; a wrong OTP and a wrong PIN shown in place;
browser-generated keys and a downloaded PKCS#12 that ``openssl pkcs12`` opens, whose key bag
keeps the randomNum the certificate's VID is computed with, and which signs a transfer in the
browser (CMS checked by the verify API and by ``openssl cms``); biometric verification through
Chromium's virtual authenticator; reissuance revoking the old certificate; registering a
certificate at another institution; revocation by the holder and by an operator in the console;
an application opened in another browser, resumed or cancelled; an axe-core check of the main
pages. Renewal (which needs short-lived certificates) is in test_web_renewal_journeys.py.
"""

from __future__ import annotations

import base64
import re
import subprocess

import pyotp
from conftest import (
    answer_security_card,
    apply,
    axe_violations,
    code_from_outbox,
    collect_cloud,
    demo_security_card,
    download_file,
    log_in,
    log_out,
    open_console,
    person,
    pkcs12_key_attributes,
    press_pin,
    sign_up,
    verified_by_security_card,
)
from cryptography import x509
from playwright.sync_api import expect

from fincert.formats.vid import vid_matches

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


def test_browser_keys_pkcs12_with_random_num_and_signing_with_the_file(served, page, tmp_path):
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
    target = tmp_path / "holder.p12"
    download_file(page, page.locator("[data-file-link]"), target)

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

    # The key bag keeps the 20-byte randomNum, and with it the certificate's VID matches the
    # holder's resident number; it is the randomNum the browser sent with the CSR.
    key = pkcs12_key_attributes(target.read_bytes(), password)
    assert key.random_num is not None and len(key.random_num) == 20
    assert key.random_num.hex() == page.locator("[data-file-store]").get_attribute("data-random-num")
    assert vid_matches(leaf, holder["rrn"].replace("-", ""), key.random_num)
    assert not vid_matches(leaf, holder["rrn"].replace("-", ""), bytes(20))

    # Signing a transfer with the file: the CMS is made in the browser, the verify API judges it.
    page.goto(f"{served.base}/sign")
    expect(page.locator("form[action='/sign']")).to_have_count(0)  # no cloud certificate here
    box = page.locator("[data-file-sign]")
    box.locator("[name=key_file]").set_input_files(str(target))
    box.locator("[name=key_password]").fill("wrong-password-1!")
    box.locator("[name=to_account]").fill("110-123-456789")
    box.locator("[name=amount]").fill("70000")
    box.locator("button[type=submit]").click()
    expect(box.locator("[data-file-error]")).to_contain_text("인증서 파일을 열 수 없습니다")
    box.locator("[name=key_password]").fill(password)
    box.locator("button[type=submit]").click()
    result = box.locator("[data-file-result]")
    expect(result).to_have_attribute("data-valid", "true")
    expect(result).to_contain_text("유효한 서명입니다")
    expect(result.locator("[data-verify-serial]")).to_have_text(format(leaf.serial_number, "x"))
    # The status in the page's language; the verifier's own word stays on the element.
    expect(result.locator("[data-verify-status]")).to_have_text("유효")
    expect(result.locator("[data-verify-status]")).to_have_attribute("data-status", "good")
    expect(result.locator("[data-verify-content]")).to_have_text('{"amount":70000,"memo":"","to_account":"110-123-456789"}')
    # The signature is a detached CMS over exactly those bytes: openssl checks it independently.
    signature = tmp_path / "transfer.p7s"
    signature.write_bytes(base64.b64decode(result.locator("textarea").input_value()))
    content = tmp_path / "transfer.json"
    content.write_text('{"amount":70000,"memo":"","to_account":"110-123-456789"}')
    checked = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signature), "-content", str(content), "-noverify", "-binary", "-out", "/dev/null"],
        capture_output=True, text=True,
    )
    assert checked.returncode == 0, checked.stderr


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
    cells = verified_by_security_card(page, served.base, holder)
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
    code = code_from_outbox(page, served.base)
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


def test_register_elsewhere_then_holder_and_operator_revoke(served, page, context):
    base = served.base
    holder = person()
    sign_up(page, base, holder, institution="HANBIT")
    apply(page, "financial")
    hanbit_cells = demo_security_card(page)
    answer_security_card(page, hanbit_cells)
    page.click('form[action="/issue/verify-complete"] button')
    serial = collect_cloud(page, PIN)

    # 타기관 인증서 등록: the same person joins NURI and registers the HANBIT certificate there.
    log_out(page, base)
    nuri = dict(holder, login_id=holder["login_id"] + "n")
    sign_up(page, base, nuri, institution="NURI")
    page.goto(f"{base}/certificates")
    page.fill("#f-serial", serial)
    page.click('form[action="/certificates/register"] button')
    expect(page.locator("h1")).to_contain_text("본인 확인")
    answer_security_card(page, demo_security_card(page))
    page.click('form[action="/manage/verify-complete"] button')
    expect(page.locator("p.ok-text")).to_contain_text("이 금융기관에 등록되었습니다")
    # Registering it twice is refused in place, with the serial kept.
    page.fill("#f-serial", serial)
    page.click('form[action="/certificates/register"] button')
    expect(page.locator("#fe-serial, .error").first).to_be_visible()
    nuri_console = open_console(context, base, "NURI")
    nuri_console.goto(f"{base}/console/audit")
    expect(nuri_console.locator("table.audit")).to_contain_text("certificate.registered")
    nuri_console.close()

    # The holder revokes it at HANBIT: first an identity proof, then the reason.
    page.bring_to_front()
    log_out(page, base)
    log_in(page, base, holder, "HANBIT", "/certificates")
    row = page.locator(f'tr[data-serial="{serial}"]')
    row.locator("select[name=reason]").select_option("keyCompromise")
    row.locator("button.danger").click()
    expect(page.locator(f'tr[data-serial="{serial}"] .error')).to_contain_text("본인 확인을 먼저 해 주세요")
    page.click('p.hint a[href="/manage/verify"]')
    answer_security_card(page, hanbit_cells)
    expect(page.locator(".status")).to_contain_text("본인 확인이 끝났습니다")
    page.goto(f"{base}/certificates")
    row.locator("select[name=reason]").select_option("keyCompromise")
    row.locator("button.danger").click()
    expect(page.locator("p.ok-text")).to_contain_text("인증서가 폐지되었습니다")
    expect(page.locator(f'tr[data-serial="{serial}"]')).to_have_attribute("data-status", "revoked")
    view = served.runtime.lifecycle.show(serial)
    assert view.status == "revoked" and view.revocation_reason == "keyCompromise"

    # An operator revokes another holder's certificate in the console of its institution.
    other = person()
    log_out(page, base)
    sign_up(page, base, other, institution="BORAM")
    apply(page, "financial")
    answer_security_card(page, demo_security_card(page))
    page.click('form[action="/issue/verify-complete"] button')
    other_serial = collect_cloud(page, PIN)
    console = open_console(context, base, "BORAM")
    console.goto(f"{base}/console/certificates?q={other_serial}")
    console_row = console.locator(f'tr[data-serial="{other_serial}"]')
    console_row.locator("select[name=reason]").select_option("affiliationChanged")
    console_row.locator("button.danger").click()
    expect(console.locator("p.ok-text")).to_contain_text("인증서가 폐지되었습니다")
    other_view = served.runtime.lifecycle.show(other_serial)
    assert other_view.status == "revoked" and other_view.revocation_reason == "affiliationChanged"
    # Another institution's operator does not even see it.
    hanbit_console = open_console(context, base, "HANBIT")
    hanbit_console.goto(f"{base}/console/certificates")
    expect(hanbit_console.locator(f'tr[data-serial="{other_serial}"]')).to_have_count(0)
    page.bring_to_front()
    page.goto(f"{base}/certificates")
    expect(page.locator(f'tr[data-serial="{other_serial}"]')).to_have_attribute("data-status", "revoked")


def test_application_open_in_another_browser_is_resumed_or_cancelled(served, browser, page):
    base = served.base
    holder = person()
    sign_up(page, base, holder, institution="HANBIT")
    apply(page, "financial")  # left open in the first browser

    other = browser.new_context(locale="ko-KR")
    try:
        second = other.new_page()
        second.set_default_timeout(20_000)
        log_in(second, base, holder, "HANBIT", "/issue/apply")
        panel = second.locator("[data-open-application]")
        expect(panel).to_contain_text("진행 중인 신청이 있습니다")
        expect(panel).to_contain_text("발급")
        # Applying anyway is refused in place, and the choice stays on the page.
        second.click('form[action="/issue/apply"] button[type=submit]')
        expect(second.locator("#form-error")).to_contain_text("진행 중인 신청이 있습니다")
        expect(panel).to_be_visible()
        # Resume: this browser takes the application over and proves identity itself.
        panel.locator('form[action="/applications/open/resume"] button').click()
        expect(second.locator("ol.steps li[aria-current=step]")).to_contain_text("본인 확인")
        answer_security_card(second, demo_security_card(second))
        second.click('form[action="/issue/verify-complete"] button')
        serial = collect_cloud(second, PIN)
        assert served.runtime.lifecycle.show(serial).status == "active"

        # The first browser opens a new application; the second cancels it and starts its own.
        page.goto(f"{base}/issue/apply")
        apply(page, "joint")
        second.goto(f"{base}/issue/apply")
        expect(panel).to_be_visible()
        panel.locator('form[action="/applications/open/cancel"] button').click()
        expect(second.locator("p.ok-text")).to_contain_text("신청을 취소했습니다")
        expect(second.locator("[data-open-application]")).to_have_count(0)
        apply(second, "joint")
        member_id = served.runtime.registrar.list_members(served.runtime.institutions.get("HANBIT").id)
        mine = [m for m in member_id if m.login_id == holder["login_id"]][0]
        assert served.runtime.lifecycle.open_application_of(mine.id).product == "joint"
    finally:
        other.close()


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
    page.goto(base + "/sign")
    checked["sign"] = axe_violations(page)
    assert {p: v for p, v in checked.items() if v} == {}
