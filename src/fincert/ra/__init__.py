"""The registration authority: institutions, members, identity verification.

The RA decides *who* someone is and whether they may have a certificate; it asks the CA to
sign and never touches a private key. Modules here are pure logic (no database, no web):
``identity`` validates personal identifiers, ``pii`` encrypts personal data before it is
stored, ``passwords`` hashes login passwords and throttles guessing, and ``verifiers`` holds
one module per identity method (security card, OTP, SMS/e-mail code, WebAuthn) plus the
assurance policy that says which proofs a purpose needs.
"""
