"""Key custody: where private keys live and how they are used without being handed out.

``KeyBackend`` is the one interface the CA signs through; ``software`` keeps keys encrypted
under a key-encryption key, and an HSM backend (PKCS#11) plugs in behind the same interface.
"""
