from __future__ import annotations

import pytest
from va_pki import Pki, build_pki


@pytest.fixture(scope="session")
def pki() -> Pki:
    return build_pki()
