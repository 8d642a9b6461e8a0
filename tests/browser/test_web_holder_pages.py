"""What a holder's browser notices on the pages, in real Chromium: no request the page did not
mean (a /favicon.ico answered 404, logged as a console error on every page) and no CSP violation;
the reissue process page (재발급 절차 진행) switching language in place (it jumped to the store
step); the done page after a reissue saying it was reissued (it said issued)."""

from __future__ import annotations

from conftest import (
    answer_security_card,
    code_from_outbox,
    collect_cloud,
    person,
    verified_by_security_card,
)
from playwright.sync_api import expect

PIN = "258013"
#: Recorded in the page before its own scripts run (Playwright's init scripts are not under the CSP).
CSP_SPY = "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"


def test_pages_ask_for_no_favicon_and_break_no_csp_rule(served, page):
    requests, problems = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.add_init_script(CSP_SPY)
    for path in ("/", "/issue", "/issue/institutions/HANBIT", "/login", "/reissue", "/outbox", "/console"):
        page.goto(served.base + path)
        page.wait_for_load_state("load")
        # The browser asks for a favicon after the page has loaded.
        page.wait_for_timeout(300)
        assert page.evaluate("window.__csp") == [], path
    assert not [url for url in requests if "favicon" in url]
    assert problems == []


def test_reissue_process_page_switches_language_in_place(served, page):
    holder = person()
    cells = verified_by_security_card(page, served.base, holder)
    old = collect_cloud(page, PIN)

    page.goto(f"{served.base}/reissue")
    page.check('input[name=reason][value="lost"]')
    page.click('form[action="/reissue"] button[type=submit]')
    answer_security_card(page, cells)
    page.click('form[action="/reissue/verify/sms/start"] button')
    code = code_from_outbox(page, served.base)
    page.fill("#f-sms", code)
    page.click('form[action="/reissue/verify/sms"] button[type=submit]')
    page.click('form[action="/reissue/verify-complete"] button')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("재발급 절차 진행")
    reference = page.locator("dl.collection code").first.inner_text()

    page.click("form.switch button")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Reissuance in progress")
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("Reissuance in progress")
    expect(page.locator("dl.collection")).to_contain_text(reference)
    expect(page.locator("dl.collection")).to_contain_text(old)
    expect(page.locator("fieldset[data-keypad]")).to_have_count(0)
    page.click("form.switch button")
    expect(page.locator("h1")).to_have_text("재발급 절차 진행")

    page.click('form[action="/reissue/store"] button')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("인증서 다운로드 및 저장")
    new = collect_cloud(page, "147036")
    expect(page.locator("h1")).to_have_text("인증서가 재발급되었습니다")
    assert new != old and served.runtime.lifecycle.show(old).status == "revoked"
