"""fincert: a Korean-style financial certificate service.

Components (see docs/architecture.md): ``ca`` signs, ``ra`` registers and verifies people,
``keys`` keeps private keys, ``va`` publishes status (OCSP, CRL), ``sign`` makes and checks
signatures and time-stamps, ``formats`` holds pure byte-level formats (NPKI, VID, PKCS#12),
``storage`` persists, ``api``/``web``/``cli`` are the edges.
"""

__version__ = "0.1.0"
