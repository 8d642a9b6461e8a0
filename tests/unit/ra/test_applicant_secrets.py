"""What issuance carries of an applicant in memory never shows its secrets in a repr."""

from __future__ import annotations

import datetime as dt

from fincert.ra.lifecycle import _Applicant


def test_repr_leaves_out_the_resident_number_birth_date_and_data_key():
    applicant = _Applicant(
        application_id=1, member_id=2, kind="issue", product="financial", target_serial=None, reason=None,
        member_name="홍길동", birth_date=dt.date(1985, 3, 7), institution_id=3, institution_name="한빛은행",
        person="blind-index", data_key=b"wrapped-data-key-bytes", rrn_digits="8503071234567",
    )
    shown = repr(applicant) + str(applicant)
    assert "8503071234567" not in shown
    assert "wrapped-data-key-bytes" not in shown
    assert "1985" not in shown
    assert "홍길동" in shown  # the repr still says who it is about
