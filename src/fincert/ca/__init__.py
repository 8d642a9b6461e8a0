"""The certificate authority: the CA hierarchy, certificate profiles and issuance.

The CA never sees an HTTP request and never decides *who* someone is: the RA asks it to sign
a checked request, and it signs through a ``KeyBackend`` without ever holding a key file.
"""
