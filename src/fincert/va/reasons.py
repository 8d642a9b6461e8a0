"""RFC 5280 §5.3.1 revocation reasons: the names the rest of fincert uses and their CRLReason codes.

OCSP (``va.ocsp``) and CRLs (``va.crl``) encode the same reasons; storage and the RA keep the
name. Code 7 is unassigned; ``removeFromCRL`` only belongs in delta CRLs, which fincert does not
issue, so neither encoder accepts it.
"""

from __future__ import annotations

from typing import Final

REVOCATION_REASONS: Final[dict[str, int]] = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
