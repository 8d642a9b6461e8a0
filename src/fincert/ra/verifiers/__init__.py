"""Identity verifiers: one module per method, all behind ``base.IdentityVerifier``.

As smallstep's provisioners, a verifier only establishes who someone is and returns evidence;
issuance is decided elsewhere (``policy.AssurancePolicy`` + the RA service). Adding a method is
adding a module.
"""
