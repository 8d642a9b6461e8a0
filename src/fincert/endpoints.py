"""The public URLs that certificates point to, all built from ``FINCERT_PUBLIC_URL``.

The CA writes them into certificates (AIA, CDP) and the web edge serves them: one place keeps
both sides in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

from fincert.errors import ConfigurationError


@dataclass(frozen=True)
class PublicEndpoints:
    base_url: str

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            # A typed error: the CLI and the server show it as a configuration problem, not a crash.
            raise ConfigurationError("FINCERT_PUBLIC_URL must be an http(s) URL")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/tsa"

    def ca_issuers_url(self, authority_id: int) -> str:
        return f"{self.base_url}/ca/{authority_id}.crt"

    def crl_url(self, authority_id: int, partition: int) -> str:
        return f"{self.base_url}/crl/{authority_id}/{partition}.crl"

    def full_crl_url(self, authority_id: int) -> str:
        return f"{self.base_url}/crl/{authority_id}/full.crl"
