"""Browser tests: the served app (uvicorn in a thread on 127.0.0.1) and Debian's Chromium driven by
Playwright, with the steps a holder takes as small helpers.

Playwright never downloads a browser here: it launches /usr/bin/chromium (Debian's package,
installed by ``make test``). WebAuthn needs a secure context, so pages are opened on
``http://localhost:PORT`` and the service's WebAuthn origin is set to match.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from asn1crypto import pkcs12
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from fincert.api.app import create_app
from fincert.config import Settings
from fincert.formats.npki import read_sign_pri_key
from fincert.runtime import Runtime, open_runtime

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
AXE_JS = Path(os.environ.get("FINCERT_AXE_JS", REPO / ".cache" / "node_modules" / "axe-core" / "axe.min.js"))


@dataclass
class Served:
    base: str
    runtime: Runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_settings() -> dict[str, object]:
    """Settings a test module changes for its server (e.g. short validity to reach renewal)."""
    return {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, served_settings: dict[str, object]) -> Iterator[Served]:
    port = _free_port()
    home = tmp_path_factory.mktemp("browser-home")
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'fincert.db'}", ca_passphrase="test-ca-passphrase-not-secret",
        demo=True, public_url=f"http://localhost:{port}", log_level="WARNING", **served_settings,
    )
    runtime = open_runtime(settings)
    runtime.initialize()
    runtime.institutions.ensure_samples()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://localhost:{port}", runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(accept_downloads=True, locale="ko-KR")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page whose context lets axe-core be injected past the app's CSP (script-src 'self')."""
    ctx = browser.new_context(bypass_csp=True, locale="ko-KR")
    try:
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        yield page
    finally:
        ctx.close()


# -- the holder's steps --------------------------------------------------------------------------

_counter = iter(range(1, 10_000))


def person() -> dict[str, str]:
    """A fresh person: distinct resident number, login ID."""
    n = next(_counter)
    return {
        "name": "홍길동",
        "rrn": f"9001{n % 28 + 1:02d}-1{n:06d}",
        "phone": f"010-2{n:03d}-5678",
        "email": f"holder{n}@example.com",
        "login_id": f"holder{n}{os.getpid() % 1000}",
        "password": "s3cret-pass",
    }


def sign_up(page: Page, base: str, who: dict[str, str], institution: str = "HANBIT") -> None:
    page.goto(f"{base}/")
    page.click(f'a[href="/issue/institutions/{institution}"]')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("회원 가입")
    form = page.locator(f'form[action="/issue/institutions/{institution}/signup"]')
    for field in ("name", "rrn", "phone", "email", "login_id", "password"):
        form.locator(f'[name="{field}"]').fill(who[field])
    form.locator('[name="password_confirm"]').fill(who["password"])
    form.locator("button[type=submit]").click()
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("인증서 신청")


def apply(page: Page, product: str = "financial") -> None:
    page.check(f'input[name=product][value="{product}"]')
    page.click('form[action="/issue/apply"] button[type=submit]')
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("본인 확인")


def demo_security_card(page: Page) -> dict[str, str]:
    """Receive the demo security card on the verify page; returns its cells."""
    page.click('form[action$="/verify-demo/enroll"]:has(input[value="security-card"]) button')
    expect(page.locator("table.card td[data-cell]")).to_have_count(35)
    cells = {}
    for cell in page.locator("table.card td[data-cell]").all():
        cells[cell.get_attribute("data-cell")] = cell.inner_text().strip()
    assert len(cells) == 35
    return cells


def answer_security_card(page: Page, cells: dict[str, str], *, wrong: bool = False) -> None:
    page.click('form[action$="/verify/security-card/start"] button')
    first = page.locator("#f-card1").get_attribute("data-cell")
    second = page.locator("#f-card2").get_attribute("data-cell")
    answer = cells[first][:2], cells[second][2:]
    if wrong:
        answer = (f"{(int(answer[0]) + 1) % 100:02d}", answer[1])
    page.fill("#f-card1", answer[0])
    page.fill("#f-card2", answer[1])
    page.click('form[action$="/verify/security-card"] button[type=submit]')


def press_pin(page: Page, fieldset: str, pin: str) -> None:
    """Type a PIN on the on-screen keypad (its digits are shuffled: find each by its label)."""
    box = page.locator(f'fieldset[data-keypad="{fieldset}"]')
    for digit in pin:
        box.locator(".keys button", has_text=re.compile(f"^{digit}$")).click()
    expect(box.locator("input")).to_have_value(pin)


def collect_cloud(page: Page, pin: str) -> str:
    """Store in the cloud with a new PIN (typed twice), or renew with the current one (once)."""
    press_pin(page, "pin", pin)
    if page.locator('fieldset[data-keypad="pin_confirm"]').count():
        press_pin(page, "pin_confirm", pin)
    page.click("form[data-pin-form] button[type=submit]")
    serial = page.locator("#issued-serial").inner_text()
    assert re.fullmatch(r"[0-9a-f]+", serial)
    return serial


def axe_violations(page: Page) -> list[dict]:
    """Critical and serious axe-core violations on the current page."""
    page.add_script_tag(content=AXE_JS.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("critical", "serious")
    ]


def verified_by_security_card(page: Page, base: str, holder: dict[str, str], product: str = "financial", institution: str = "HANBIT") -> dict[str, str]:
    """Sign up, apply for ``product``, verify with the demo security card and go on to the store
    step; returns the security card's cells."""
    sign_up(page, base, holder, institution=institution)
    apply(page, product)
    cells = demo_security_card(page)
    answer_security_card(page, cells)
    page.click('form[action="/issue/verify-complete"] button')
    return cells


def issue_file_certificate(page: Page, base: str, holder: dict[str, str], password: str, target: Path, institution: str = "NURI") -> dict[str, str]:
    """Sign up, apply for a joint certificate, verify with the demo security card, let the browser
    make the key and save the downloaded .p12 at ``target``; returns the security card's cells."""
    cells = verified_by_security_card(page, base, holder, "joint", institution=institution)
    page.fill("#f-file_password", password)
    page.fill("#f-file_password_confirm", password)
    page.click("[data-file-store] form button[type=submit]")
    download_file(page, page.locator("[data-file-store] [data-file-link]"), target)
    return cells


def download_file(page: Page, link, target: Path) -> None:  # noqa: ANN001 - a Playwright Locator
    expect(link).to_be_visible(timeout=60_000)
    with page.expect_download() as download_info:
        link.click()
    download_info.value.save_as(target)


def pkcs12_key_attributes(data: bytes, password: str):  # noqa: ANN201 - fincert.formats.npki.NpkiPrivateKey
    """The private key of a PKCS#12 file read with its attributes: the shrouded key bag's
    EncryptedPrivateKeyInfo decrypted by fincert's PKCS#8 reader (which keeps randomNum, unlike
    OpenSSL's and cryptography's PKCS#12 readers)."""
    pfx = pkcs12.Pfx.load(data)
    for content_info in pfx.authenticated_safe:
        if content_info["content_type"].native != "data":
            continue
        for bag in pkcs12.SafeContents.load(content_info["content"].native):
            if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                return read_sign_pri_key(bag["bag_value"].untag().dump(), password)
    raise AssertionError("no pkcs8ShroudedKeyBag in the file")


def open_console(context: BrowserContext, base: str, institution: str) -> Page:
    """A demo operator of ``institution``, logged in to the console in a new tab."""
    console = context.new_page()
    console.set_default_timeout(20_000)
    console.goto(f"{base}/console")
    if console.locator('form[action="/console/logout"]').count():
        # The context is still logged in as an operator of another institution.
        console.click('form[action="/console/logout"] button')
    console.select_option("#demo-institution", institution)
    console.click('form[action="/console/demo-operator"] button')
    expect(console.locator("#demo-password")).to_be_visible()
    return console


def log_in(page: Page, base: str, holder: dict[str, str], institution: str, next_page: str) -> None:
    page.goto(f"{base}/login?next={next_page}")
    page.select_option("#f-institution", institution)
    page.fill("#f-login_id", holder["login_id"])
    page.fill("#f-password", holder["password"])
    page.click('form[action="/login"] button[type=submit]')


def log_out(page: Page, base: str) -> None:
    page.goto(f"{base}/certificates")
    page.click('form[action="/logout"] button')
    expect(page.locator('form[action="/logout"]')).to_have_count(0)


def code_from_outbox(page: Page, base: str) -> str:
    """The one-time code of the newest message in the demo outbox, read in another tab (as the
    holder reads their phone), then back to ``page``."""
    outbox = page.context.new_page()
    outbox.goto(f"{base}/outbox")
    code = re.search(r"\[(\d{6})\]", outbox.locator("td.message").first.inner_text()).group(1)
    outbox.close()
    page.bring_to_front()
    return code
