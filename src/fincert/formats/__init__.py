"""Byte formats a certificate holder carries around: NPKI key files and folders, the KISA VID
inside certificates, PKCS#12 exports, and the password rule for those files; and the small DER
framing and strict reading (``der``) that the VA, the TSA and the verifier share.

Everything here is a pure function over bytes (and, for folders, the filesystem paths it is
handed): no database, web or global state, so relying parties can reuse it and tests can run
it against vectors and third-party tools.
"""
