"""The console's member and certificate lists reach every row through "next page" links, and only
the operator's institution's rows; members have a search box (name prefix, member number, phone).

Regression: the certificate page showed the newest 200 certificates and the member page every
member at once. A bad page address (limit, cursor, a NUL) shows the page with the message, never a 500.
"""

from __future__ import annotations

import html
import re

import pytest
from holders import issue_joint
from test_console_audit import holder_key  # noqa: F401 - the module-scoped key fixture
from web_helpers import client, csrf, database_url, errors  # noqa: F401 - the page tests' fixtures and helpers

from fincert.ra.registrar import page_cursor

PASSWORD = "operator-pass-1"
NAMES = ["김민준", "김서연", "이도윤", "박지우", "김하은"]


@pytest.fixture
def bank(client, runtime):
    """Five members of HANBIT and two of NURI with the same names and phones; HANBIT's operator logged in."""
    reg = runtime.registrar
    own, other = [], []
    for n, name in enumerate(NAMES):
        own.append(reg.register_member("HANBIT", name=name, rrn=f"8001{n + 1:02d}-1{n:06d}", phone=f"010-3000-{4000 + n}", email=f"m{n}@example.com", actor="t").id)
        if n < 2:
            other.append(reg.register_member("NURI", name=name, rrn=f"8101{n + 1:02d}-2{n:06d}", phone=f"010-3000-{4000 + n}", email=f"n{n}@example.com", actor="t").id)
    reg.add_operator("HANBIT", "hanbit-op", password=PASSWORD)
    token = csrf(client)
    assert client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": PASSWORD}, follow_redirects=False).status_code == 303
    return {"own": own, "other": other, "token": token}


def member_rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr><td><a href="/console/members/(\d+)">', page)]


def serial_rows(page: str) -> list[str]:
    return re.findall(r'<tr data-serial="([0-9a-f]+)"', page)


def next_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    return html.unescape(found.group(1)) if found else None


def walk(client, address: str, rows) -> list[list]:
    pages = []
    while address:
        answer = client.get(address)
        assert answer.status_code == 200, answer.text
        pages.append(rows(answer.text))
        address = next_link(answer.text)
        assert len(pages) < 20
    return pages


def test_members_pages_follow_next_links_through_the_institutions_own(client, bank):
    pages = walk(client, "/console/members?limit=2", member_rows)
    assert pages == [bank["own"][0:2], bank["own"][2:4], bank["own"][4:5]]
    # The first page by default: every member here (fewer than 200), and no next link.
    first = client.get("/console/members").text
    assert member_rows(first) == bank["own"] and next_link(first) is None
    # A later page links back to the first, keeping the page size.
    later = client.get(next_link(client.get("/console/members?limit=2").text)).text
    assert 'href="/console/members?limit=2" rel="first"' in later


def test_a_cursor_of_another_institutions_member_lists_only_the_own(client, bank):
    page = client.get("/console/members", params={"before": page_cursor("m", bank["other"][0])})
    assert page.status_code == 200
    assert set(member_rows(page.text)) <= set(bank["own"]) and not set(member_rows(page.text)) & set(bank["other"])


@pytest.mark.parametrize(("q", "expected"), [("김", [0, 1, 4]), ("이도", [2]), ("010-3000-4003", [3]), ("01030004001", [1]), ("없는이름", [])])
def test_the_member_search_box_finds_the_institutions_members(client, bank, q, expected):
    pages = walk(client, "/console/members?" + "limit=1&q=" + q, member_rows)
    assert [m for page in pages for m in page] == [bank["own"][i] for i in expected]
    assert f'value="{q}"' in client.get("/console/members", params={"q": q}).text


def test_the_member_search_by_number_never_finds_another_institutions(client, bank):
    assert member_rows(client.get("/console/members", params={"q": str(bank["own"][3])}).text) == [bank["own"][3]]
    assert member_rows(client.get("/console/members", params={"q": str(bank["other"][1])}).text) == []


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"}, {"limit": "10000"}, {"limit": "ten"}, {"limit": "9" * 30},
        {"before": "garbage!"}, {"before": "\x00"}, {"before": page_cursor("m", "x")}, {"before": page_cursor("c", "ab")},
        {"q": "\x00"}, {"q": "김\x00"}, {"q": "x" * 200},
    ],
)
def test_bad_member_page_addresses_show_the_page_with_the_message(client, bank, params):
    page = client.get("/console/members", params=params)
    assert page.status_code == 400 and errors(page.text)
    assert "\x00" not in page.text
    # The first page is still there to work from, and the registration form.
    assert member_rows(page.text) == bank["own"] and 'action="/console/members"' in page.text
    assert next_link(page.text) is None and 'rel="first"' not in page.text  # no link carries the bad address on


# -- certificates -----------------------------------------------------------------------------


@pytest.fixture
def issued(bank, runtime, holder_key):  # noqa: F811 - the imported fixture
    own = [issue_joint(runtime, member_id, holder_key) for member_id in bank["own"][:4]]
    other = [issue_joint(runtime, member_id, holder_key) for member_id in bank["other"]]
    return {"own": own[::-1], "other": other}


def test_certificate_pages_follow_next_links_through_the_institutions_own(client, issued):
    assert walk(client, "/console/certificates?limit=3", serial_rows) == [issued["own"][0:3], issued["own"][3:4]]
    assert serial_rows(client.get("/console/certificates").text) == issued["own"]


def test_certificate_search_pages_too(client, bank, issued):
    # A part of a serial, a page at a time; another institution's serial is not found.
    assert walk(client, f"/console/certificates?limit=1&q={issued['own'][1][:12]}", serial_rows) == [[issued["own"][1]]]
    assert walk(client, f"/console/certificates?limit=1&q={issued['other'][0]}", serial_rows) == [[]]
    # A member number: that member's certificates (not every serial holding the digit); never NURI's.
    assert walk(client, f"/console/certificates?limit=1&q={bank['own'][2]}", serial_rows) == [[issued["own"][1]]]
    assert walk(client, f"/console/certificates?q={bank['other'][0]}", serial_rows) == [[]]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_certificate_cursor_of_another_institution_shows_the_page_with_the_message(client, issued):
    for cursor in (page_cursor("c", issued["other"][0]), "garbage!", "\x00", page_cursor("m", 1)):
        page = client.get("/console/certificates", params={"before": cursor})
        assert page.status_code == 400 and errors(page.text)
        assert issued["other"][0] not in page.text
        assert serial_rows(page.text) == issued["own"]
    for limit in ("0", "10000", "x"):
        page = client.get("/console/certificates", params={"limit": limit})
        assert page.status_code == 400 and errors(page.text)
