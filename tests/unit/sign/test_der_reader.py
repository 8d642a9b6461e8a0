"""The fast path reads DER times as asn1crypto does and refuses every other form.

The DER reader itself (``fincert.formats.der``) is tested in ``tests/unit/formats/test_der.py``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asn1crypto import core

from fincert.formats import der as _der
from fincert.sign.verify import _time


@pytest.mark.parametrize(
    "value",
    [
        core.UTCTime(datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
        core.UTCTime(datetime(1950, 1, 1, 0, 0, 0, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2026, 11, 25, 10, 23, 11, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2026, 11, 25, 10, 23, 11, 500000, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2026, 11, 25, 10, 23, 11, 123456, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2050, 1, 1, 0, 0, 0, 10, tzinfo=timezone.utc)),
    ],
)
def test_times_read_as_asn1crypto_reads_them(value):
    data = value.dump()
    assert _time(data, _der.element(data, 0, len(data))) == core.load(data).native


@pytest.mark.parametrize(
    "tag, text",
    [
        (0x17, b"2611251023+1Z"),  # not digits
        (0x17, b"261125102311+0900"),  # an offset instead of Z
        (0x17, b"2611251023Z"),  # no seconds
        (0x18, b"20261125102311.50Z"),  # trailing zero in the fraction (not DER)
        (0x18, b"20261125102311.Z"),  # empty fraction
        (0x18, b"20261125102311.1234567Z"),  # finer than microseconds
        (0x18, b"20261125102311"),  # no Z
        (0x18, b"20261325102311Z"),  # month 13
        (0x04, b"261125102311Z"),  # not a time type
    ],
)
def test_other_time_forms_go_the_full_way(tag, text):
    encoded = _der.tlv(tag, text)
    with pytest.raises(ValueError):
        _time(encoded, _der.element(encoded, 0, len(encoded)))
