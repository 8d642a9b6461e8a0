"""Validation authority: certificate status for relying parties (OCSP, CRL) as pure protocol code.

``va.ocsp`` parses OCSP requests and signs responses; ``va.crl`` builds and signs CRLs. Neither
touches storage or HTTP: the caller passes status lookups and keys in and serves the bytes.
"""
