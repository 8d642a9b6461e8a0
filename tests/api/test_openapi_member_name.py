"""The OpenAPI document says how a member's name is limited, and the limit is the one the API
applies: 1-30 letters of the composed (NFC) name, whichever form it was sent in; the 128
characters a request may send leave room for any such name decomposed (NFD)."""

from __future__ import annotations

import unicodedata

import pytest
from api_helpers import assert_problem
from test_member_name_http import FIELDS, client, stored  # noqa: F401 - its HTTP client fixture

#: 홍 decomposes into three jamo (ᄒ ᅩ ᆼ): 30 syllables are 90 characters in NFD.
SYLLABLE = "홍"
OTHER_RRN = "851212-1357913"


def signup(client, name: str, rrn: str = FIELDS["rrn"], login_id: str = "hong90"):
    body = {"name": name, **FIELDS, "rrn": rrn, "login_id": login_id, "password": "s3cret-pass"}
    return client.post("/api/v1/institutions/HANBIT/signup", json=body)


@pytest.mark.parametrize("schema", ["MemberIn", "SignUpIn"])
def test_openapi_documents_the_name_limit_and_when_it_counts(client, schema):
    name = client.get("/openapi.json").json()["components"]["schemas"][schema]["properties"]["name"]
    assert name["maxLength"] == 128
    description = name["description"]
    assert "as on the ID card" in description and "1-30" in description
    assert "NFC" in description and "Decomposed (NFD) Hangul is accepted" in description


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_the_same_name_is_accepted_or_refused_whichever_form_it_is_sent_in(client, runtime, form):
    thirty = unicodedata.normalize(form, SYLLABLE * 30)
    assert len(thirty) == (30 if form == "NFC" else 90)
    fits = signup(client, thirty)
    assert fits.status_code == 201, fits.text
    assert fits.json()["name"] == SYLLABLE * 30  # stored composed (NFC)

    before = stored(runtime)
    too_long = signup(client, unicodedata.normalize(form, SYLLABLE * 31), rrn=OTHER_RRN, login_id="hong91")
    problem = assert_problem(too_long, 400)
    assert problem["field"] == "name" and "thirty" in problem["detail"]
    assert stored(runtime) == before


def test_a_request_longer_than_any_name_is_refused_before_the_service(client, runtime):
    before = stored(runtime)
    problem = assert_problem(signup(client, "a" * 129, rrn=OTHER_RRN, login_id="hong91"), 422)
    assert problem["type"].endswith("/invalid-input") and [e["field"] for e in problem["errors"]] == ["name"]
    assert stored(runtime) == before
