"""Fixtures for the SQL connector: a real PostgreSQL (started once per session) and SQLite files.

Each test gets a fresh `badge_holders` table in the database it is parametrised over: SQLite (through
SQLAlchemy), PostgreSQL through psycopg directly (`pg`: what a `postgresql+psycopg://` URL gets, `connectors/sql/pg.py`)
and PostgreSQL through SQLAlchemy (`pg-sqlalchemy`: the path any other PostgreSQL driver's URL takes), so both
paths are held to the same tests on the same server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sql.sql_fixtures import Db, DictSecrets, badge_table, seed_rows, sql
from tests.servers.postgres import bin_dir, start_postgres

sa = pytest.importorskip("sqlalchemy")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    if bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = start_postgres()
    try:
        yield server
    finally:
        sql.dispose_engines()
        server.stop()


@pytest.fixture(params=["sqlite", "pg", "pg-sqlalchemy"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "pg-sqlalchemy":  # the same server, the connector on its SQLAlchemy path
        request.getfixturevalue("monkeypatch").setattr(sql.urls, "is_direct", lambda url: False)
    metadata = sa.MetaData()
    table = badge_table(metadata)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'badges.db'}"
        admin = sa.create_engine(url)
        secrets = DictSecrets({})
    else:
        server = request.getfixturevalue("postgres")
        url = server.url
        admin = sa.create_engine(server.url_with_credentials())
        secrets = DictSecrets({"peoplesync/badges": server.credentials})
    metadata.drop_all(admin)
    metadata.create_all(admin)
    with admin.begin() as c:
        c.execute(sa.insert(table), seed_rows())
        if request.param != "sqlite":  # keep the serial in step with the explicit ids
            c.exec_driver_sql("SELECT setval('badge_holders_badge_holder_id_seq', 100)")
    try:
        yield Db("sqlite" if request.param == "sqlite" else "pg", url, admin, secrets, table)
    finally:
        if request.param != "sqlite":
            sql.dispose_engines()  # no pooled connection may hold a lock on the table we drop
            metadata.drop_all(admin)
        admin.dispose()
