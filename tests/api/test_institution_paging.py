"""An institution's lists over HTTP reach every row, a page at a time, and only its own rows.

Regression: ``GET /institutions/{code}/certificates`` answered the newest 200 certificates with no
way to the others, and ``/members`` every member at once. Both now take ``limit`` (1-500, default
200) and ``before`` (the opaque ``next`` of the previous page); members also take ``q`` (name
prefix, member number, phone number), and ``POST …/members/lookup`` finds one by resident number
through its blind index (in the body, never in a URL). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64

import pytest
from api_helpers import assert_problem
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from holders import issue_joint

from fincert.api.app import create_app
from fincert.ra.registrar import page_cursor

NAMES = ["김민준", "김서연", "이도윤", "박지우", "김하은", "최예준", "정서윤"]


@pytest.fixture(scope="module")
def holder_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rrn(n: int) -> str:
    return f"9001{n % 28 + 1:02d}-1{n:06d}"


def phone(n: int) -> str:
    return f"010-{2000 + n:04d}-{3000 + n:04d}"


@pytest.fixture
def world(runtime):
    """Seven members of HANBIT and three of NURI (interleaved), an operator of each."""
    runtime.institutions.ensure_samples()
    reg = runtime.registrar
    own, other = [], []
    for n, name in enumerate(NAMES):
        own.append(reg.register_member("HANBIT", name=name, rrn=rrn(n), phone=phone(n), email=f"m{n}@example.com", actor="t").id)
        if n < 3:  # the same names and phone numbers at NURI: a search must still find HANBIT's only
            other.append(reg.register_member("NURI", name=name, rrn=rrn(50 + n), phone=phone(n), email=f"n{n}@example.com", actor="t").id)
    _, hanbit = reg.add_operator("HANBIT", "hanbit-op")
    _, nuri = reg.add_operator("NURI", "nuri-op")
    with TestClient(create_app(runtime)) as client:
        yield {"client": client, "own": own, "other": other, "hanbit": hanbit, "nuri": nuri}


def get(world, path: str, token: str | None = None, **params):
    headers = {"authorization": f"Bearer {token or world['hanbit']}"}
    return world["client"].get(f"/api/v1/institutions/HANBIT/{path}", params=params, headers=headers)


def walk(world, path: str, key: str, field: str, **params) -> list[list]:
    """Every page of a list, following ``next``: the ``field`` of each page's rows."""
    pages, before = [], None
    while True:
        answer = get(world, path, **params, **({"before": before} if before else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([row[field] for row in body[key]])
        before = body["next"]
        if before is None:
            return pages
        assert len(pages) < 20


def test_members_come_a_page_at_a_time_and_only_the_institutions_own(world):
    pages = walk(world, "members", "members", "member_id", limit=3)
    assert pages == [world["own"][0:3], world["own"][3:6], world["own"][6:7]]
    # Without paging parameters: the keys as before, every member (fewer than 200), and no next page.
    body = get(world, "members").json()
    assert set(body) == {"members", "next"} and body["next"] is None
    assert [m["member_id"] for m in body["members"]] == world["own"]
    assert all(m["institution"] == "HANBIT" and m["rrn"].endswith("******") for m in body["members"])


def test_a_page_that_ends_the_list_exactly_has_no_next(world):
    assert walk(world, "members", "members", "member_id", limit=7) == [world["own"]]


def test_a_cursor_never_reaches_another_institutions_members(world):
    # A cursor made at NURI, or naming a NURI member's position, still lists HANBIT's members only.
    nuri_page = world["client"].get("/api/v1/institutions/NURI/members", params={"limit": 1}, headers={"authorization": f"Bearer {world['nuri']}"}).json()
    assert nuri_page["next"] is not None
    for cursor in (nuri_page["next"], page_cursor("m", world["other"][0])):
        members = get(world, "members", before=cursor, limit=500).json()["members"]
        assert members and {m["member_id"] for m in members} <= set(world["own"])
    # And the NURI operator cannot read HANBIT's list at all.
    assert_problem(get(world, "members", token=world["nuri"]), 403)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("김", [0, 1, 4]),
        ("김서", [1]),
        (" 김서연 ", [1]),
        ("010-2003-3003", [3]),
        ("01020033003", [3]),
        ("박", [3]),
        ("홍", []),
        ("%", []),
        ("_", []),
    ],
)
def test_members_are_searched_by_name_prefix_and_phone(world, q, expected):
    pages = walk(world, "members", "members", "member_id", q=q, limit=2)
    assert [m for page in pages for m in page] == [world["own"][i] for i in expected]


def test_members_are_searched_by_member_number_of_the_institution_only(world):
    own = world["own"][5]
    assert walk(world, "members", "members", "member_id", q=str(own)) == [[own]]
    assert walk(world, "members", "members", "member_id", q=str(world["other"][0])) == [[]]


def test_a_member_is_looked_up_by_resident_number_in_the_body_only(world):
    client, headers = world["client"], {"authorization": f"Bearer {world['hanbit']}"}
    found = client.post("/api/v1/institutions/HANBIT/members/lookup", json={"rrn": rrn(2)}, headers=headers)
    assert found.status_code == 200 and found.json()["member_id"] == world["own"][2]
    assert rrn(2) not in found.text and rrn(2).replace("-", "") not in found.text
    # Audited, without the number: who looked whom up by a resident number.
    records = client.get("/api/v1/institutions/HANBIT/audit", headers=headers).json()
    records = records.get("records", records) if isinstance(records, dict) else records
    lookups = [r for r in records if r["action"] == "member.found-by-rrn"]
    assert len(lookups) == 1 and str(lookups[0]["subject_id"]) == str(world["own"][2])
    assert rrn(2)[:6] not in str(lookups[0]) and rrn(2)[7:] not in str(lookups[0])
    # NURI's member: "not found", as a number nobody has; the number is never echoed.
    for number in (rrn(50), rrn(99)):
        missing = client.post("/api/v1/institutions/HANBIT/members/lookup", json={"rrn": number}, headers=headers)
        assert_problem(missing, 404)
        assert number not in missing.text
    bad = client.post("/api/v1/institutions/HANBIT/members/lookup", json={"rrn": "901301-1234567"}, headers=headers)
    assert_problem(bad, 400)
    assert "901301" not in bad.text
    assert_problem(client.post("/api/v1/institutions/HANBIT/members/lookup", json={"rrn": "\x00"}, headers=headers), 422)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 0}, 422),
        ({"limit": 501}, 422),
        ({"limit": 10000}, 422),
        ({"limit": "ten"}, 422),
        ({"before": "garbage!"}, 400),
        ({"before": "not-a-cursor"}, 400),
        ({"before": "\x00"}, 400),
        ({"before": base64.urlsafe_b64encode(b"m:\x00").decode()}, 400),
        ({"before": page_cursor("m", "-1")}, 400),
        ({"before": page_cursor("m", 2**63)}, 400),
        ({"before": page_cursor("c", "ab")}, 400),
        ({"before": "A" * 129}, 422),
        ({"q": "\x00"}, 400),
        ({"q": "김\x00"}, 400),
        ({"q": "x" * 65}, 400),
        ({"q": "x" * 129}, 422),
    ],
)
def test_bad_member_paging_is_a_problem_document(world, params, status):
    body = assert_problem(get(world, "members", **params), status)
    assert "\x00" not in body["detail"]


# -- certificates ----------------------------------------------------------------------------


@pytest.fixture
def certificates(world, runtime, holder_key):
    """Five certificates of HANBIT's members and two of NURI's, interleaved; HANBIT's newest first."""
    own, other = [], []
    for n in range(5):
        own.append(issue_joint(runtime, world["own"][n], holder_key))
        if n < 2:
            other.append(issue_joint(runtime, world["other"][n], holder_key))
    return {"own": own[::-1], "other": other}


def test_certificates_come_a_page_at_a_time_newest_first_and_only_the_institutions_own(world, certificates):
    pages = walk(world, "certificates", "certificates", "serial", limit=2)
    assert pages == [certificates["own"][0:2], certificates["own"][2:4], certificates["own"][4:5]]
    body = get(world, "certificates").json()
    assert set(body) == {"certificates", "next"} and body["next"] is None
    assert [c["serial"] for c in body["certificates"]] == certificates["own"]
    assert all(c["institution"] == "HANBIT" for c in body["certificates"])


def test_a_certificate_cursor_of_another_institution_is_refused(world, certificates):
    nuri = world["client"].get("/api/v1/institutions/NURI/certificates", params={"limit": 1}, headers={"authorization": f"Bearer {world['nuri']}"}).json()
    assert nuri["next"] is not None
    for cursor in (nuri["next"], page_cursor("c", certificates["other"][0]), page_cursor("c", "ffff")):
        body = assert_problem(get(world, "certificates", before=cursor), 400)
        assert body["field"] == "before"
        assert certificates["other"][0] not in body["detail"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 0}, 422),
        ({"limit": 10000}, 422),
        ({"before": "garbage!"}, 400),
        ({"before": "\x00"}, 400),
        ({"before": page_cursor("m", 1)}, 400),
        ({"before": page_cursor("c", "XYZ")}, 400),
        ({"before": page_cursor("c", "a" * 60)}, 400),
        ({"before": page_cursor("c", "a" * 100)}, 422),
    ],
)
def test_bad_certificate_paging_is_a_problem_document(world, params, status):
    assert_problem(get(world, "certificates", **params), status)
