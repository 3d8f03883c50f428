"""Migrated databases for the `engine` fixture, fast: the migrations run once per session into a
template, and each test gets a copy of it.

Running every Alembic revision for each of the suite's thousands of database tests cost about
0.1 s on SQLite and 0.2 s on PostgreSQL per test (minutes per run). The copy is the same schema
the migrations made, byte for byte on SQLite (the file) and statement for statement on
PostgreSQL (`pg_dump` of the template schema, replayed into the test's own schema). Tests of
the migrations themselves (storage/test_migrate.py, `hub migrate`) still run them for real.
Without `pg_dump` (a machine with a PostgreSQL server but no client tools) every test migrates.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url

from integration_hub.settings import normalize_database_url
from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.testing import scratch_database


class SqliteTemplate:
    def __init__(self, directory: Path) -> None:
        with scratch_database("sqlite", directory) as url:
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()  # the last connection closes: no WAL file is left beside it
            self.path = Path(make_url(url).database or "")

    def copy_to(self, url: str) -> None:
        target = Path(make_url(url).database or "")
        shutil.copyfile(self.path, target)
        target.chmod(0o600)


class PostgresTemplate:
    """The DDL and rows of a migrated schema, with its name as a placeholder."""

    def __init__(self, postgres_url: str) -> None:
        self._admin = create_engine(normalize_database_url(postgres_url))
        self.script: str | None = None
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            return
        with scratch_database("postgresql", Path("."), postgres_url) as url:
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            schema = make_url(url).query["options"]
            schema = str(schema).removeprefix("-csearch_path=")
            libpq = make_url(normalize_database_url(postgres_url)).set(drivername="postgresql")
            dump = subprocess.run(
                [pg_dump, "--no-owner", "--no-privileges", "--inserts", "--schema", schema,
                 libpq.render_as_string(hide_password=False)],
                capture_output=True, text=True, check=True, timeout=60,
            ).stdout  # fmt: skip
        self._placeholder = f"template_{uuid.uuid4().hex}"
        lines = []
        for line in dump.splitlines():
            # psql meta-commands (`\restrict`) and the schema's own creation (the test's
            # schema exists already) are not for the server.
            if line.startswith("\\") or line.startswith(f"CREATE SCHEMA {schema};"):
                continue
            lines.append(line.replace(schema, self._placeholder))
        self.script = "\n".join(lines)

    def copy_to(self, url: str) -> bool:
        """Replay the template into `url`'s schema; False when there is no template."""
        if self.script is None:
            return False
        schema = str(make_url(url).query["options"]).removeprefix("-csearch_path=")
        raw = self._admin.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.execute(self.script.replace(self._placeholder, schema))
            raw.commit()
        finally:
            raw.close()
        return True

    def close(self) -> None:
        self._admin.dispose()
