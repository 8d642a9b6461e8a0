"""Signatures: CMS signing and verification, and the RFC 3161 time-stamp authority.

Pure protocol code over bytes (no database, no web): ``cms`` signs, ``verify`` judges a
signature for a relying party, ``tsa`` issues and reads time-stamps, ``raw_signer`` abstracts
where the key lives.
"""
