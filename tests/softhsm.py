"""A SoftHSM2 token for the PKCS#11 key backend's tests (Debian ``softhsm2``, which ``make test``
installs).

SoftHSM2 reads ``SOFTHSM2_CONF`` once, when a process first initialises the module, and sees the
tokens that existed then. So each pytest process gets one token directory and one token, made
before any test loads the module; tests on it use their own key labels. Subprocesses (the CLI)
get the same variables and see the same token.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SOFTHSM_LIBRARY = Path("/usr/lib/softhsm/libsofthsm2.so")
USER_PIN = "246810"
SO_PIN = "13579135"


@dataclass(frozen=True)
class Token:
    label: str
    pin: str
    library: Path
    conf: Path

    def env(self) -> dict[str, str]:
        """The variables a ``fincert`` process needs to keep its keys on this token."""
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "FINCERT_KEY_BACKEND": "pkcs11",
            "FINCERT_PKCS11_LIBRARY": str(self.library),
            "FINCERT_PKCS11_TOKEN": self.label,
            "FINCERT_PKCS11_PIN": self.pin,
        }


_token: Token | None = None


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    """This pytest process's SoftHSM2 token. Fails (never skips) without SoftHSM2: `make test`
    installs it."""
    global _token
    if _token is None:  # one per process, whichever module imports the fixture first
        _token = _make_token(tmp_path_factory)
    return _token


def _make_token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    tool = shutil.which("softhsm2-util")
    if tool is None or not SOFTHSM_LIBRARY.is_file():
        pytest.fail("SoftHSM2 is not installed (Debian softhsm2): run `make test`, which installs it")
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    label = f"fincert-test-{secrets.token_hex(4)}"
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        [tool, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN],
        check=True, capture_output=True, env=env,
    )
    # This process loads the module later, in a test: it must read this configuration.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return Token(label, USER_PIN, SOFTHSM_LIBRARY, conf)
