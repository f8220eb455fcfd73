"""SQL connector writes against real PostgreSQL and SQLite: mapped columns only, batches, inserts, state,
SQL injection in values and in configured identifiers, credentials and unreachable databases."""

from __future__ import annotations

import pytest

from peoplesync.config import SystemConfig
from peoplesync.connectors import sql
from peoplesync.model import Write
from peoplesync.ports import PermanentError, ReadFailed, TransientError, WriteResult
from tests.integration.sql.sql_fixtures import Db, DictSecrets


def update(key: str, **attrs) -> Write:
    return Write("badges", "update", "rec-" + key, key, attrs)


def test_given_an_update_when_written_then_only_its_columns_change_on_that_row(db: Db):
    before = db.rows()

    result = db.connector().write(update("2", badge_number="B-7777"))

    after = db.rows()
    assert isinstance(result, WriteResult) and result.key == "2"
    assert after[2] == {**before[2], "badge_number": "B-7777"}  # site, active, updated_at, names untouched
    assert {k: v for k, v in after.items() if k != 2} == {k: v for k, v in before.items() if k != 2}


def test_given_an_unmapped_column_when_written_then_the_write_is_refused_and_nothing_changes(db: Db):
    before = db.rows()

    with pytest.raises(PermanentError, match="unmapped"):
        db.connector().write(update("2", site="Annex"))

    assert db.rows() == before


def test_given_a_read_only_system_when_written_then_refused(db: Db):
    with pytest.raises(PermanentError, match="read-only"):
        db.connector(writable=False).write(update("2", badge_number="X"))


def test_given_a_batch_when_one_write_is_rejected_then_the_others_commit_together(db: Db):
    conn = db.connector(active_column="active")

    results = conn.write_batch([
        update("1", badge_number="B-1"),
        update("999", badge_number="B-999"),  # no such row
        Write("badges", "update", "r", "3", {"site": "Annex"}),  # unmapped
        Write("badges", "deactivate", "r", "4", {}),
    ])

    assert [type(r).__name__ for r in results] == ["WriteResult", "PermanentError", "PermanentError", "WriteResult"]
    rows = db.rows()
    assert rows[1]["badge_number"] == "B-1" and rows[4]["active"] is False and rows[3]["site"] == "HQ"


def test_given_inserts_not_allowed_when_a_create_arrives_then_it_is_refused(db: Db):
    with pytest.raises(PermanentError, match="insert"):
        db.connector().write(Write("badges", "create", "rec-new", None, {"employee_id": "E900"}))
    assert len(db.rows()) == 5


def test_given_inserts_allowed_when_a_create_arrives_then_a_row_is_added_and_its_key_returned(db: Db):
    conn = db.connector(insert=True, active_column="active")

    result = conn.write(Write("badges", "create", "rec-new", None,
                              {"employee_id": "E900", "badge_number": "B-900", "display_name": "New Person"}))

    row = db.rows()[int(result.key)]
    assert row["employee_id"] == "E900" and row["active"] is True and row["site"] is None
    seen = {o.key: o for o in conn.read().observations}
    assert seen[result.key].attrs["badge_number"] == "B-900"


def test_given_an_active_column_when_deactivated_then_activated_then_the_flag_follows(db: Db):
    conn = db.connector(active_column="active")

    conn.write(Write("badges", "deactivate", "r", "2", {}))
    off = {o.key: o.active for o in conn.read().observations}["2"]
    conn.write(Write("badges", "activate", "r", "2", {}))
    on = {o.key: o.active for o in conn.read().observations}["2"]

    assert (off, on) == (False, True)


def test_given_no_active_column_when_a_deactivate_arrives_then_it_is_refused(db: Db):
    with pytest.raises(PermanentError, match="active_column"):
        db.connector().write(Write("badges", "deactivate", "r", "2", {}))


def test_given_deletes_not_allowed_when_a_delete_arrives_then_the_row_stays(db: Db):
    with pytest.raises(PermanentError, match="delete"):
        db.connector().write(Write("badges", "delete", "r", "2", {}))
    assert 2 in db.rows()


def test_given_deletes_allowed_when_a_delete_arrives_then_the_row_is_gone(db: Db):
    db.connector(delete=True).write(Write("badges", "delete", "r", "2", {}))
    assert 2 not in db.rows() and len(db.rows()) == 4


# --- SQL injection -------------------------------------------------------------------------------------------
HOSTILE = ["x'); DROP TABLE badge_holders; --", "' OR '1'='1", "B-1\"; UPDATE badge_holders SET site='pwn'; --",
           "Robert'); DELETE FROM badge_holders WHERE ('a'='a"]


@pytest.mark.parametrize("value", HOSTILE)
def test_given_a_hostile_value_when_written_then_it_is_stored_verbatim_on_one_row_only(db: Db, value: str):
    db.connector().write(update("3", display_name=value))

    rows = db.rows()
    assert len(rows) == 5 and rows[3]["display_name"] == value
    assert [r["display_name"] for k, r in rows.items() if k != 3] == ["Person 1", "Person 2", "Person 4", "Person 5"]
    assert {r["site"] for r in rows.values()} == {"HQ"}


def test_given_a_hostile_key_when_written_then_it_matches_no_row_and_nothing_changes(db: Db):
    before = db.rows()

    with pytest.raises(PermanentError):
        db.connector().write(update("1 OR 1=1", badge_number="B-0"))

    assert db.rows() == before


@pytest.mark.parametrize("table", ["badge_holders; DROP TABLE badge_holders; --",
                                   'badge_holders" ; DROP TABLE badge_holders; --'])
def test_given_a_hostile_table_name_when_read_or_written_then_refused_and_the_table_survives(db: Db, table: str):
    conn = db.connector(table=table)

    with pytest.raises(ReadFailed):
        conn.read()
    with pytest.raises(PermanentError):
        conn.write(update("1", badge_number="B-0"))

    assert len(db.rows()) == 5


@pytest.mark.parametrize("column", ["badge_number = 'x', site", "badge_number; DROP TABLE badge_holders; --"])
def test_given_a_hostile_column_name_when_read_or_written_then_refused_and_the_table_survives(db: Db, column: str):
    conn = db.connector(attributes=[column])

    with pytest.raises(ReadFailed, match="no column"):
        conn.read()
    with pytest.raises(PermanentError, match="no column"):
        conn.write(Write("badges", "update", "r", "1", {column: "x"}))

    assert {r["badge_number"] for r in db.rows().values()} == {f"B-{1000 + i}" for i in range(1, 6)}


@pytest.mark.parametrize("query", ["DELETE FROM badge_holders", "SELECT 1; DROP TABLE badge_holders",
                                   "UPDATE badge_holders SET site = 'x'"])
def test_given_a_configured_query_that_is_not_a_single_select_then_the_configuration_is_rejected(query: str):
    with pytest.raises(ValueError, match="query"):
        sql.Settings.model_validate({"url": "sqlite://", "query": query, "key": "id"})


# --- connection and credentials ------------------------------------------------------------------------------
@pytest.mark.parametrize("db", ["pg"], indirect=True)  # password authentication is a PostgreSQL matter
def test_given_credentials_in_the_secret_when_the_password_is_wrong_then_the_read_fails_without_leaking_it(
        db: Db):
    wrong = "n0t-the:p@ss/word%"
    secrets = DictSecrets({"peoplesync/badges": {"username": "postgres", "password": wrong}})
    conf = SystemConfig(connector="sql", url=db.url, credentials="secret:peoplesync/badges",
                        table="badge_holders", key="badge_holder_id")
    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"], secrets=secrets)

    with pytest.raises(ReadFailed) as failure:
        conn.read()

    assert "password authentication failed" in str(failure.value)
    assert wrong not in str(failure.value) and wrong not in repr(conn)
    assert secrets.asked == ["peoplesync/badges"]


@pytest.mark.parametrize("db", ["pg"], indirect=True)
def test_given_url_special_characters_in_the_password_when_connecting_then_it_works(postgres, db: Db):
    assert any(ch in postgres.password for ch in "@:/%")

    assert len(db.connector().read().observations) == 5
    assert db.secrets.asked == ["peoplesync/badges"]
    assert postgres.password not in repr(db.connector())


def test_given_an_unreachable_database_then_reads_fail_and_writes_are_transient():
    conf = SystemConfig(connector="sql", url="postgresql+psycopg://127.0.0.1:1/none?connect_timeout=2",
                        table="badge_holders", key="badge_holder_id")
    conn = sql.SqlConnector.from_system("badges", conf, ["badge_number"])

    with pytest.raises(ReadFailed):
        conn.read()
    with pytest.raises(TransientError):
        conn.write(update("1", badge_number="B-0"))


def test_given_two_reads_in_one_process_then_one_engine_serves_them(db: Db):
    a, b = db.connector(), db.connector()
    a.read()
    b.read()
    assert a.engine is b.engine


def test_given_a_mixed_type_value_when_written_to_an_integer_key_then_it_is_coerced_or_refused(db: Db):
    conn = db.connector()
    assert conn.write(update(" 4 ", badge_number="B-4")).key == " 4 "
    assert db.rows()[4]["badge_number"] == "B-4"
    with pytest.raises(PermanentError):
        conn.write(update("four", badge_number="B-4"))
