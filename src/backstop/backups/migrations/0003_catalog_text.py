"""Catalog rows carry their body text, and the catalog gets its full-text index (`search.py`).

SQLite: a contentless FTS5 table whose rowid is the catalog row's id, kept by triggers. The
SQLite in use (3.40) has no `contentless_delete`, so a row leaves the index through FTS5's
'delete' command given the values it was indexed with: the triggers pass the OLD row. Updates
of `valid_to` (every backup) do not touch the index. A later migration that makes SQLite remake
`backups_catalogitem` (adding a NOT NULL column, altering one) drops these triggers with the old
table: it must create them again (`tests/backups/test_search.py` checks they exist).

PostgreSQL: a GIN expression index over the same columns; `search._Vector` builds the identical
expression, so queries use it (the test checks the plan).
"""

from django.db import migrations, models

from backstop.backups.migrations._search import PG_VECTOR

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE backups_catalog_fts USING fts5(
        scope, name, author, path, text, content='', tokenize="unicode61 remove_diacritics 2"
    )""",
    """CREATE TRIGGER backups_catalog_fts_insert AFTER INSERT ON backups_catalogitem BEGIN
        INSERT INTO backups_catalog_fts(rowid, scope, name, author, path, text)
        VALUES (new.id, 'e' || new.entity_id, new.name, new.author, new.path, new.text);
    END""",
    """CREATE TRIGGER backups_catalog_fts_delete AFTER DELETE ON backups_catalogitem BEGIN
        INSERT INTO backups_catalog_fts(backups_catalog_fts, rowid, scope, name, author, path, text)
        VALUES ('delete', old.id, 'e' || old.entity_id, old.name, old.author, old.path, old.text);
    END""",
    """CREATE TRIGGER backups_catalog_fts_update
    AFTER UPDATE OF entity_id, name, author, path, text ON backups_catalogitem BEGIN
        INSERT INTO backups_catalog_fts(backups_catalog_fts, rowid, scope, name, author, path, text)
        VALUES ('delete', old.id, 'e' || old.entity_id, old.name, old.author, old.path, old.text);
        INSERT INTO backups_catalog_fts(rowid, scope, name, author, path, text)
        VALUES (new.id, 'e' || new.entity_id, new.name, new.author, new.path, new.text);
    END""",
    """INSERT INTO backups_catalog_fts(rowid, scope, name, author, path, text)
    SELECT id, 'e' || entity_id, name, author, path, text FROM backups_catalogitem""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS backups_catalog_fts_insert",
    "DROP TRIGGER IF EXISTS backups_catalog_fts_delete",
    "DROP TRIGGER IF EXISTS backups_catalog_fts_update",
    "DROP TABLE IF EXISTS backups_catalog_fts",
]
PG_FORWARD = [f"CREATE INDEX catalog_search_idx ON backups_catalogitem USING gin ({PG_VECTOR})"]
PG_BACKWARD = ["DROP INDEX IF EXISTS catalog_search_idx"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0002_catalog_folder"),
    ]

    operations = [
        migrations.AddField(
            model_name="catalogitem",
            name="text",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Body text for search: mail bodies, text files (64 KiB at most).",
            ),
        ),
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": PG_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": PG_BACKWARD}),
        ),
    ]
