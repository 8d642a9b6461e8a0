"""What the page's scripts say, in real Chromium: a Korean page never shows the API's English
detail or an English word of the script's own (regressions: a file issuance the API refused showed
"발급에 실패했습니다: unknown reference number or wrong authorization code"; signing with no file
chosen showed "서명을 검증하지 못했습니다: choose a file"; a verified signature's certificate status
was the verifier's "good"; the valid-signature sentence carried "(valid)")."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import person, sign_up, verified_by_security_card

ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")


def test_a_refused_file_issuance_is_explained_in_korean(served, page):
    holder = person()
    verified_by_security_card(page, served.base, holder, "joint")
    # The authorization code the page holds no longer matches (as after a stale page or a typo).
    page.locator("[data-file-store]").evaluate("box => { box.dataset.code = 'AAAA-BBBB-CCCC-DDDD'; }")
    page.fill("#f-file_password", "file-pass-1!")
    page.fill("#f-file_password_confirm", "file-pass-1!")
    page.click("[data-file-store] form button[type=submit]")
    error = page.locator("[data-file-store] [data-file-error]")
    expect(error).to_be_visible(timeout=60_000)
    expect(error).to_contain_text("발급에 실패했습니다")
    expect(error).to_contain_text("참조번호, 인가코드")
    assert not ENGLISH_WORD.search(error.inner_text()), error.inner_text()


def test_signing_without_a_file_asks_for_the_file_in_korean(served, page):
    holder = person()
    sign_up(page, served.base, holder)
    page.goto(f"{served.base}/sign")
    box = page.locator("[data-file-sign]")
    box.locator("[name=key_password]").fill("file-pass-1!")
    box.locator("[name=to_account]").fill("110-123-456789")
    box.locator("[name=amount]").fill("70000")
    box.locator("button[type=submit]").click()
    error = box.locator("[data-file-error]")
    expect(error).to_have_text("인증서 파일을 선택해 주세요.")
    assert not ENGLISH_WORD.search(error.inner_text())
