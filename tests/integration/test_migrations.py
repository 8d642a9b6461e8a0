"""Migrations that change existing data, run over rows written before them (both databases)."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import text

from fincert.storage.db import Database, alembic_config

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc)


def test_evidence_records_kept_before_references_get_distinct_ones(database_url):
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.upgrade(config, "0002_sign")
            for _ in range(3):
                connection.execute(
                    text(
                        "INSERT INTO signature_evidence (kind, signer_subject, signer_serial, content, signature_der,"
                        " report_json, created_at) VALUES ('transfer', 'CN=x', 'ab', :c, :s, '{}', :t)"
                    ),
                    {"c": b"{}", "s": b"\x30\x00", "t": NOW},
                )
        db.migrate()
        with db.engine.connect() as connection:
            references = [r for (r,) in connection.execute(text("SELECT reference FROM signature_evidence"))]
        assert len(references) == 3 and len(set(references)) == 3
        assert all(reference and len(reference) >= 22 for reference in references)
    finally:
        db.dispose()
