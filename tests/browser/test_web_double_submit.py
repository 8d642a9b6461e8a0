"""A button pressed twice while the first post is on its way, in real Chromium.

Regression: the browser drops the first answer and shows the second. "다음 단계" on the verify
page pressed twice showed "이미 본인 확인을 마친 신청입니다 … 처음부터 다시 신청해 주세요" instead of
the reference number and authorization code, which the first press had produced and which are
shown only once: the holder had to apply again. A form now posts once.
"""

from __future__ import annotations

import re

from conftest import answer_security_card, apply, demo_security_card, person, sign_up
from playwright.sync_api import expect


def test_next_step_pressed_twice_posts_once_and_shows_the_reference_number(served, page):
    sign_up(page, served.base, person())
    apply(page, "financial")
    answer_security_card(page, demo_security_card(page))
    expect(page.locator(".status")).to_contain_text("본인 확인이 끝났습니다")

    # Each post reaches the service at once; its answer is held back, as on a slow network.
    posted = []
    page.route("**/issue/verify-complete", lambda route: posted.append((route, route.fetch())))
    page.evaluate(
        """() => {
            const button = document.querySelector('form[action="/issue/verify-complete"] button');
            button.click();
            setTimeout(() => button.click(), 200);
        }"""
    )
    page.wait_for_timeout(1000)
    for route, answer in posted:
        route.fulfill(response=answer)

    assert len(posted) == 1
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("인증서 다운로드 및 저장")
    expect(page.locator("#reference-number")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("p.error[role=alert]:not([hidden])")).to_have_count(0)

