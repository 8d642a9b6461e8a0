"""Byte formats a certificate holder carries around: NPKI key files and folders, the KISA VID
inside certificates, PKCS#12 exports, and the password rule for those files.

Everything here is a pure function over bytes (and, for folders, the filesystem paths it is
handed): no database, web or global state, so relying parties can reuse it and tests can run
it against vectors and third-party tools.
"""
