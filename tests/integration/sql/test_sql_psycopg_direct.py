"""PostgreSQL on psycopg directly (`connectors/sql/pg.py`, session 8) against a real server, held to what the
SQLAlchemy path does on the same server: the same observations for every column type, the same stored values
after the same writes (text from other systems converted alike, refusals alike), cursors and page positions
taken by one path carried on by the other, quoted identifiers, a configured query with `%` signs, and the
connection kept, pinged and replaced as SQLAlchemy's pool did. And a process that only builds, reads and writes
the connector never imports SQLAlchemy (the cold start this path exists for)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from peoplesync.config import SystemConfig
from peoplesync.connectors import sql
from peoplesync.connectors.sql import pg_pool
from peoplesync.model import Write
from peoplesync.ports import PermanentError
from tests.integration.sql.sql_fixtures import Db, DictSecrets

ROOT = Path(__file__).resolve().parents[3]


def connectors(server: Any, attributes: list[str], **settings: Any) -> tuple[sql.SqlConnector, sql.SqlConnector]:
    """(the connector on psycopg directly, the one on SQLAlchemy) for the same system."""
    conf = SystemConfig(connector="sql", url=server.url, credentials="secret:peoplesync/badges", **settings)
    secrets = DictSecrets({"peoplesync/badges": server.credentials})
    direct = sql.SqlConnector.from_system("badges", conf, attributes, secrets=secrets)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sql.urls, "is_direct", lambda url: False)
        alchemy = sql.SqlConnector.from_system("badges", conf, attributes, secrets=secrets)
    assert type(direct._db).__name__ == "PgBackend" and type(alchemy._db).__name__ == "AlchemyBackend"
    return direct, alchemy


def seen(result: Any) -> dict[str, tuple[dict[str, Any], bool, Any]]:
    return {o.key: (o.attrs, o.active, o.marker) for o in result.observations}


@pytest.fixture
def admin(postgres: Any) -> Iterator[Any]:
    engine = sa.create_engine(postgres.url_with_credentials())
    try:
        yield engine
    finally:
        sql.dispose_engines()
        engine.dispose()


# --- every column type read and written alike -------------------------------------------------------------------
KINDS = """
DROP TABLE IF EXISTS kinds; DROP DOMAIN IF EXISTS positive; DROP TYPE IF EXISTS mood;
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE kinds (id bigserial PRIMARY KEY, n numeric(10, 2), f float8, b boolean NOT NULL DEFAULT true,
  ts timestamptz, d date, t time, u uuid, j jsonb, arr text[], raw bytea, e mood, dom positive, ch char(3),
  vc varchar(10), small smallint, updated_at timestamp);
CREATE FUNCTION kinds_touch() RETURNS trigger AS $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$
  LANGUAGE plpgsql;
CREATE TRIGGER kinds_touch BEFORE INSERT OR UPDATE ON kinds FOR EACH ROW EXECUTE FUNCTION kinds_touch();
INSERT INTO kinds (id, n, f, b, ts, d, t, u, j, arr, raw, e, dom, ch, vc, small) VALUES
  (1, 12.50, 1.5, true, '2024-01-02 03:04:05+00', '2024-02-03', '10:30', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '{"a": [1, 2]}', '{x,y}', '\\x00ff', 'happy', 7, 'ab', 'short', 3),
  (2, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT setval('kinds_id_seq', 100);
"""
COLUMNS = ["n", "f", "ts", "d", "t", "u", "j", "arr", "raw", "e", "dom", "ch", "vc", "small"]


@pytest.fixture
def kinds(admin: Any) -> Iterator[None]:
    with admin.begin() as c:
        c.exec_driver_sql(KINDS.replace("%", "%%"))
    yield
    sql.dispose_engines()
    with admin.begin() as c:
        c.exec_driver_sql("DROP TABLE kinds; DROP FUNCTION kinds_touch; DROP DOMAIN positive; DROP TYPE mood")


def stored(admin: Any, key: int) -> dict[str, Any]:
    with admin.connect() as c:
        row = c.exec_driver_sql(f"SELECT {', '.join(COLUMNS)}, b FROM kinds WHERE id = {key}").one()
    return dict(row._mapping)


def test_given_every_column_type_when_read_by_both_paths_then_the_observations_are_the_same(postgres, kinds):
    direct, alchemy = connectors(postgres, COLUMNS, table="kinds", key="id", watermark="updated_at",
                                 active_column="b")

    mine, theirs = direct.read(), alchemy.read()

    assert seen(mine) == seen(theirs)
    assert seen(mine)["1"][0] == {"n": 12.5, "f": 1.5, "ts": "2024-01-02T03:04:05+00:00", "d": "2024-02-03",
                                  "t": "10:30:00", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": "{'a': [1, 2]}",
                                  "arr": ("x", "y"), "raw": "00ff", "e": "happy", "dom": 7, "ch": "ab ",
                                  "vc": "short", "small": 3}
    assert seen(mine)["2"][1] is False  # the active column, as the other path reads it
    assert mine.cursor == theirs.cursor  # the same cursor: either path carries on from the other's


TEXT_VALUES = {"n": "13.25", "f": "2.5", "ts": "2024-03-04T05:06:07Z", "d": "2024-04-05", "t": "11:45",
               "u": "b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a22", "e": "sad", "dom": " 9 ", "ch": "xyz", "vc": "longer",
               "small": "12"}


def test_given_text_values_when_written_by_both_paths_then_the_rows_hold_the_same(postgres, admin, kinds):
    direct, alchemy = connectors(postgres, list(TEXT_VALUES), table="kinds", key="id", writable=True,
                                 active_column="b", watermark="updated_at", insert=True)
    with admin.begin() as c:
        c.exec_driver_sql("INSERT INTO kinds (id) VALUES (3)")

    one = direct.write_batch([Write(system="badges", record_id="rec", op="update", key="2", attrs=TEXT_VALUES),
                              Write(system="badges", record_id="rec", op="deactivate", key="1")])
    other = alchemy.write_batch([Write(system="badges", record_id="rec", op="update", key="3", attrs=TEXT_VALUES),
                                 Write(system="badges", record_id="rec", op="deactivate", key="3")])

    assert stored(admin, 2) == stored(admin, 3)  # row 2 was inactive already; 3 deactivated by the other path
    assert stored(admin, 3)["n"] == Decimal("13.25") and stored(admin, 3)["dom"] == 9
    assert stored(admin, 1)["b"] is False and stored(admin, 3)["b"] is False
    assert [r.values for r in one] == [r.values for r in other]
    assert all(isinstance(r.marker, float) for r in one + other)  # the trigger's updated_at, read back
    created = [c.write(Write(system="badges", record_id="rec", op="create", key=None, attrs={"vc": "new", "small": "4"}))
               for c in (direct, alchemy)]
    assert [r.key for r in created] == ["101", "102"]
    assert [r.values for r in created] == [{"vc": "new", "small": 4}] * 2


@pytest.mark.parametrize("attrs", [{"n": "twelve"}, {"dom": "-1"}, {"small": "70000"}, {"vc": "x" * 11},
                                   {"e": "angry"}, {"d": "tomorrow"}])
def test_given_a_value_its_column_cannot_hold_then_both_paths_refuse_that_write_alone(postgres, admin, kinds, attrs):
    direct, alchemy = connectors(postgres, list(dict.fromkeys([*attrs, "vc"])), table="kinds", key="id",
                                 writable=True)
    before = stored(admin, 1)

    outcomes = [c.write_batch([Write(system="badges", record_id="rec", op="update", key="1", attrs=attrs),
                               Write(system="badges", record_id="rec", op="update", key="2", attrs={"vc": "ok"})])
                for c in (direct, alchemy)]

    assert [[type(r).__name__ for r in o] for o in outcomes] == [["PermanentError", "WriteResult"]] * 2
    assert stored(admin, 1) == before and stored(admin, 2)["vc"] == "ok"


# --- identifiers, a query with % signs, cursors and positions across the paths -----------------------------------
def test_given_quoted_identifiers_in_a_schema_then_both_paths_read_and_write_that_table_only(postgres, admin):
    with admin.begin() as c:
        c.exec_driver_sql('CREATE SCHEMA "Access Control"; CREATE TABLE "Access Control"."Badge Holders" '
                          '("Holder Id" int PRIMARY KEY, "select" text, "Badge No" text); '
                          'INSERT INTO "Access Control"."Badge Holders" VALUES (1, \'a\', \'B-1\'), (2, \'b\', \'B-2\'); '
                          'CREATE TABLE "Badge Holders" ("Holder Id" int PRIMARY KEY, "select" text, "Badge No" text)')
    try:
        direct, alchemy = connectors(postgres, ["select", "Badge No"], table="Badge Holders",
                                     schema="Access Control", key="Holder Id", writable=True)
        assert seen(direct.read()) == seen(alchemy.read())
        assert direct.write(Write(system="badges", record_id="rec", op="update", key="2", attrs={"Badge No": "B-22"})).key == "2"
        assert seen(alchemy.read())["2"][0] == {"select": "b", "Badge No": "B-22"}
        with admin.connect() as c:  # the table of the same name outside the schema is untouched
            assert c.exec_driver_sql('SELECT count(*) FROM "Badge Holders"').scalar() == 0
        wrong = connectors(postgres, ["select"], table="badge holders", schema="Access Control", key="Holder Id")
        for conn in wrong:  # names are matched exactly, as quoted identifiers are
            with pytest.raises(Exception, match="no table"):
                conn.read()
    finally:
        sql.dispose_engines()
        with admin.begin() as c:
            c.exec_driver_sql('DROP SCHEMA "Access Control" CASCADE; DROP TABLE "Badge Holders"')


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_a_query_with_percent_signs_then_both_paths_read_the_same_rows(postgres, db: Db):
    db.touch(2, 10, display_name="100% Person")
    query = ("SELECT badge_holder_id, badge_number, display_name FROM badge_holders "
             "WHERE display_name LIKE '%Person%' AND badge_number LIKE 'B-100%'")
    direct, alchemy = connectors(postgres, ["badge_number", "display_name"], query=query, key="badge_holder_id")

    mine, theirs = direct.read(), alchemy.read()

    assert seen(mine) == seen(theirs) and sorted(seen(mine)) == ["1", "2", "3", "4", "5"]
    assert seen(mine)["2"][0]["display_name"] == "100% Person"
    assert [o.key for p in direct.read_pages(full=True, page_size=2) for o in p.observations] == \
        ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_a_cursor_or_a_page_position_from_one_path_then_the_other_carries_on(postgres, db: Db):
    direct, alchemy = connectors(postgres, ["badge_number"], table="badge_holders", key="badge_holder_id",
                                 watermark="updated_at")
    for seconds, (first, then) in ((50, (direct, alchemy)), (60, (alchemy, direct))):
        cursor = first.read().cursor
        db.touch(3, seconds, badge_number=f"B-{seconds}")
        assert sorted(seen(then.read(cursor))) == ["3"]

    page = next(direct.read_pages(full=True, page_size=2))
    rest = [o.key for p in alchemy.read_pages(full=True, page_size=2, start=page.position) for o in p.observations]
    assert [o.key for o in page.observations] + rest == ["1", "2", "3", "4", "5"]

    hashes = connectors(postgres, ["badge_number"], table="badge_holders", key="badge_holder_id")
    cursor = hashes[0].read().cursor
    db.touch(5, 99, badge_number="B-5555")
    assert seen(hashes[1].read(cursor)) == seen(hashes[0].read(cursor))
    assert sorted(seen(hashes[1].read(cursor))) == ["5"]


# --- connections ------------------------------------------------------------------------------------------------
def sessions(admin: Any, name: str) -> list[int]:
    with admin.connect() as c:
        return sorted(c.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE application_name = %(n)s",
                                        {"n": name}).scalars())


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_pool_single_then_reads_share_one_connection_and_a_dropped_one_is_replaced_for_reads_and_writes(postgres, admin, db: Db):
    conf = SystemConfig(connector="sql", url=f"{postgres.url}?application_name=ps-single", writable=True,
                        credentials="secret:peoplesync/badges", table="badge_holders", key="badge_holder_id")
    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"], secrets=db.secrets)

    conn.read()
    conn.read()
    kept = sessions(admin, "ps-single")
    assert len(kept) == 1  # one connection, kept between reads (a warm Lambda's next invocation)
    with admin.connect() as c:  # the server drops it (an idle timeout, a failover)
        c.exec_driver_sql("SELECT pg_terminate_backend(%(p)s)", {"p": kept[0]})

    assert len(conn.read().observations) == 5  # pinged, found dead, replaced: the read does not fail
    assert len(sessions(admin, "ps-single")) == 1 and sessions(admin, "ps-single") != kept
    with admin.connect() as c:  # and again, before a write
        c.exec_driver_sql("SELECT pg_terminate_backend(%(p)s)", {"p": sessions(admin, "ps-single")[0]})
    assert conn.write(Write(system="badges", record_id="rec", op="update", key="2",
                            attrs={"badge_number": "B-2b"})).key == "2"
    assert db.rows()[2]["badge_number"] == "B-2b"


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_a_plain_postgresql_url_then_it_is_read_through_psycopg_too(postgres, db: Db):
    conf = SystemConfig(connector="sql", url=postgres.url.replace("postgresql+psycopg://", "postgresql://"),
                        credentials="secret:peoplesync/badges", table="badge_holders", key="badge_holder_id")
    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"], secrets=db.secrets)

    assert type(conn._db).__name__ == "PgBackend"
    assert sorted(o.attrs["badge_number"] for o in conn.read().observations) == [f"B-{1000 + i}" for i in range(1, 6)]


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_pool_none_or_an_old_connection_then_none_is_kept_or_it_is_renewed(postgres, admin, db: Db,
                                                                                   monkeypatch):
    conf = SystemConfig(connector="sql", url=f"{postgres.url}?application_name=ps-none", pool="none",
                        credentials="secret:peoplesync/badges", table="badge_holders", key="badge_holder_id")
    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"], secrets=db.secrets)
    conn.read()
    conn.write(Write(system="badges", record_id="rec", op="update", key="1", attrs={"badge_number": "B-1"}))
    assert sessions(admin, "ps-none") == []

    conf = SystemConfig(connector="sql", url=f"{postgres.url}?application_name=ps-old",
                        credentials="secret:peoplesync/badges", table="badge_holders", key="badge_holder_id")
    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"], secrets=db.secrets)
    conn.read()
    first = sessions(admin, "ps-old")
    monkeypatch.setattr(pg_pool, "RECYCLE_SECONDS", 0.0)  # older than the recycle age: closed, a new one opened
    conn.read()
    assert len(first) == 1 and len(sessions(admin, "ps-old")) == 1 and sessions(admin, "ps-old") != first


# --- the cold start ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_a_postgresql_url_then_building_reading_and_writing_never_import_sqlalchemy(postgres, db: Db):
    code = (
        "import json, sys\nfrom peoplesync.config import SystemConfig\nfrom peoplesync.connectors import sql\n"
        "from peoplesync.model import Write\n"
        "class Secrets:\n    def get(self, name): return json.loads(sys.argv[2])\n"
        "conf = SystemConfig(connector='sql', url=sys.argv[1], credentials='secret:peoplesync/badges', "
        "table='badge_holders', key='badge_holder_id', watermark='updated_at', writable=True)\n"
        "c = sql.SqlConnector.from_system('badges', conf, ['badge_number'], secrets=Secrets())\n"
        "built = 'sqlalchemy' in sys.modules\n"
        "first = c.read()\n"
        "w = c.write(Write(system='badges', record_id='rec', op='update', key='4', attrs={'badge_number': 'B-44'}))\n"
        "again = c.read(first.cursor)\n"
        "print(json.dumps([built, len(first.observations), [o.attrs for o in again.observations], "
        "'sqlalchemy' in sys.modules]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "peoplesync"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code, postgres.url, json.dumps(postgres.credentials)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]

    assert json.loads(out.stdout) == [False, 5, [], False]  # our write's marker: not news to the next delta
    assert db.rows()[4]["badge_number"] == "B-44"


def test_given_a_value_with_a_nul_byte_then_no_account_is_found_and_the_write_is_refused(postgres, admin, kinds):
    direct, alchemy = connectors(postgres, ["vc"], table="kinds", key="id", writable=True)
    for conn in (direct, alchemy):
        assert conn.find_account({"vc": "a\x00b"}) is None
        assert isinstance(conn.write_batch([Write(system="badges", record_id="rec", op="update", key="1", attrs={"vc": "a\x00b"})])[0],
                          PermanentError)
