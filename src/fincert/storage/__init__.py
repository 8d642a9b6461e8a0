"""Storage authority: the database schema, migrations, sessions and the audit chain.

Every other component stores through here; nothing outside ``storage`` opens a connection.
"""
