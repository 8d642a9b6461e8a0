"""Step 5 offers only the storage the service allows: with FINCERT_FINANCIAL_STORAGE=cloud a
financial certificate's store page has no key-file section (the server would refuse the file),
while a joint certificate's still has one."""

from __future__ import annotations

import pytest
from test_web_steps import store_page
from web_helpers import client, csrf, database_url  # noqa: F401 - the page tests' fixtures and helpers

FILE_SECTION = "data-file-store"
CLOUD_FORM = "data-pin-form"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"financial_storage": "cloud"})


def test_a_financial_certificate_kept_in_the_cloud_only_is_offered_no_key_file(client, runtime):
    page, reference, _ = store_page(client, runtime, csrf(client))
    assert CLOUD_FORM in page and FILE_SECTION not in page
    # Shown again (the language switch, a reload) it still offers the cloud only.
    again = client.post("/issue/store", data={"csrf_token": csrf(client), "action": "show", "reference_number": reference, "authorization_code": "x"})
    assert CLOUD_FORM in again.text and FILE_SECTION not in again.text


def test_a_joint_certificate_is_still_offered_a_key_file(client, runtime):
    page, _, _ = store_page(client, runtime, csrf(client), product="joint")
    assert CLOUD_FORM in page and FILE_SECTION in page
