"""PostgreSQL keeps the search document in a stored generated column, indexed by GIN.

The expression index of 0003 made a query for a common word, where the planner reads the
entity's rows instead of the index, compute `to_tsvector` again for every row (about 95 µs
each, 9.6 s at p95 on a million-version catalog: bench/recovery). Stored, it is computed once,
when the row is written. SQLite is unchanged (FTS5).
"""

from django.db import migrations

from backstop.backups.migrations._search import PG_VECTOR

FORWARD = [
    "DROP INDEX IF EXISTS catalog_search_idx",
    f"ALTER TABLE backups_catalogitem ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({PG_VECTOR}) STORED",
    "CREATE INDEX catalog_search_idx ON backups_catalogitem USING gin (search_document)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS catalog_search_idx",
    "ALTER TABLE backups_catalogitem DROP COLUMN IF EXISTS search_document",
    f"CREATE INDEX catalog_search_idx ON backups_catalogitem USING gin ({PG_VECTOR})",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0003_catalog_text"),
    ]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
