"""SQL connector reads against real PostgreSQL and SQLite: full, watermark delta, hash delta, active flag."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
import sqlalchemy as sa

from peoplesync.ports import ReadFailed
from tests.integration.sql.sql_fixtures import MAPPED, T0, Db


def by_key(result):
    return {o.key: o for o in result.observations}


def test_given_a_table_when_read_in_full_then_every_row_is_listed_with_its_mapped_columns_only(db: Db):
    result = db.connector().read()

    assert result.complete is True
    seen = by_key(result)
    assert sorted(seen) == ["1", "2", "3", "4", "5"]
    assert seen["3"].attrs == {"badge_number": "B-1003", "display_name": "Person 3", "employee_id": "E003"}
    assert "site" not in seen["3"].attrs and seen["3"].active is True
    assert seen["3"].system == "badges"


def test_given_a_watermark_when_two_rows_change_then_the_delta_holds_only_those_rows(db: Db):
    conn = db.connector(watermark="updated_at")
    first = conn.read()
    db.touch(2, 100, badge_number="B-2222")
    db.touch(4, 101, display_name="Person Four")

    delta = conn.read(first.cursor)

    assert delta.complete is False
    assert sorted(by_key(delta)) == ["2", "4"]
    assert by_key(delta)["2"].attrs["badge_number"] == "B-2222"
    assert by_key(delta)["4"].marker > by_key(delta)["2"].marker > by_key(first)["5"].marker


def test_given_a_watermark_when_nothing_changed_then_the_delta_is_empty(db: Db):
    conn = db.connector(watermark="updated_at")
    first = conn.read()

    delta = conn.read(first.cursor)

    assert delta.observations == []
    assert json.loads(delta.cursor) == json.loads(first.cursor)


def test_given_a_watermark_when_a_row_arrives_late_with_the_same_value_then_it_is_not_missed(db: Db):
    conn = db.connector(watermark="updated_at")
    first = conn.read()  # the top value is row 5's (T0 + 5 s)
    db.execute(sa.insert(db.table).values(badge_holder_id=60, employee_id="E060", updated_at=T0.replace(second=5)))

    delta = conn.read(first.cursor)

    assert [o.key for o in delta.observations] == ["60"]
    assert conn.read(delta.cursor).observations == []


def test_given_no_watermark_when_rows_change_appear_and_vanish_then_the_hash_delta_reports_exactly_those(db: Db):
    conn = db.connector()
    first = conn.read()
    db.execute(sa.update(db.table).where(db.table.c.badge_holder_id == 1).values(badge_number="B-9"))
    db.execute(sa.insert(db.table).values(badge_holder_id=50, employee_id="E050", badge_number="B-50"))
    db.execute(sa.delete(db.table).where(db.table.c.badge_holder_id == 5))
    db.execute(sa.update(db.table).where(db.table.c.badge_holder_id == 2).values(site="Annex"))  # unmapped

    delta = conn.read(first.cursor)

    seen = by_key(delta)
    assert sorted(seen) == ["1", "5", "50"]
    assert seen["1"].attrs["badge_number"] == "B-9"
    assert seen["50"].attrs == {"badge_number": "B-50", "display_name": None, "employee_id": "E050"}
    assert seen["5"].removed is True
    again = conn.read(delta.cursor)
    assert again.observations == []


def test_given_a_hash_cursor_when_the_mapping_changes_then_the_next_read_is_full(db: Db):
    first = db.connector().read()

    wider = db.connector(attributes=[*MAPPED, "site"]).read(first.cursor)

    assert wider.complete is True and len(wider.observations) == 5
    assert by_key(wider)["1"].attrs["site"] == "HQ"


def test_given_a_hash_cursor_when_the_source_reads_empty_then_nothing_is_concluded_and_the_hashes_kept(db: Db):
    conn = db.connector()
    first = conn.read()
    db.execute(sa.delete(db.table))

    delta = conn.read(first.cursor)

    assert delta.observations == [] and delta.complete is True
    assert delta.cursor == first.cursor


def test_given_an_active_column_when_a_row_is_disabled_then_it_is_seen_inactive(db: Db):
    db.touch(3, 200, active=False)

    seen = by_key(db.connector(active_column="active").read())

    assert seen["3"].active is False and seen["2"].active is True


def test_given_text_status_values_when_read_then_only_listed_values_count_as_active(db: Db):
    db.touch(1, 0, site="A")
    db.touch(2, 0, site="I")
    db.touch(3, 0, site=None)

    seen = by_key(db.connector(attributes=["badge_number"], active_column="site", active_values=["a", "HQ"]).read())

    assert (seen["1"].active, seen["2"].active, seen["3"].active, seen["4"].active) == (True, False, False, True)


def test_given_a_configured_query_when_read_then_its_rows_are_the_source_with_deltas_by_watermark(db: Db):
    query = "SELECT badge_holder_id, employee_id, badge_number, display_name, updated_at FROM badge_holders " \
            "WHERE site = 'HQ'"
    db.touch(4, 4, site="Annex")
    conn = db.connector(table=None, query=query, watermark="updated_at")

    first = conn.read()
    db.touch(1, 500, badge_number="B-1")
    delta = conn.read(first.cursor)

    assert sorted(by_key(first)) == ["1", "2", "3", "5"]
    assert [o.key for o in delta.observations] == ["1"]
    assert conn.writable is False  # a query alone is not a place to write


def test_given_a_query_that_writes_when_read_then_the_read_fails_and_no_row_is_touched(db: Db):
    query = "WITH gone AS (DELETE FROM badge_holders RETURNING *) SELECT badge_holder_id, employee_id, " \
            "badge_number, display_name FROM gone"
    conn = db.connector(table=None, query=query)

    with pytest.raises(ReadFailed):
        conn.read()

    assert len(db.rows()) == 5


def test_given_a_missing_table_when_read_then_read_failed(db: Db):
    with pytest.raises(ReadFailed, match="no table"):
        db.connector(table="no_such_table").read()


def test_given_a_watermark_cursor_when_the_configuration_switches_to_hashes_then_a_full_read_follows(db: Db):
    first = db.connector(watermark="updated_at").read()

    result = db.connector().read(first.cursor)

    assert result.complete is True and len(result.observations) == 5
    assert json.loads(result.cursor)["mode"] == "hash"


def test_given_datetime_watermarks_when_read_then_markers_are_epoch_seconds(db: Db):
    seen = by_key(db.connector(watermark="updated_at").read())

    assert seen["1"].marker == T0.replace(tzinfo=UTC).timestamp() + 1  # naive timestamps are UTC
