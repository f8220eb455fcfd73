"""The CSV connector: a local file or an S3 object, delta by row hash, safe writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from peoplesync.connectors.csv_file import CsvConnector, Settings
from peoplesync.model import Write
from peoplesync.ports import PermanentError, ReadFailed

ATTRS = ["Name", "Title"]
TEXT = "Employee_ID,Name,Title,Status\nE1,Ada,Scientist,active\nE2,Grace,Admiral,active\nE3,Alan,Cryptanalyst,active\n"


def connector(path: str, writable: bool = False) -> CsvConnector:
    return CsvConnector("hr", Settings(path=path, key="Employee_ID", active_column="Status"), ATTRS,
                        writable=writable, sleep=lambda _: None)  # a file just written: no real wait


def test_a_full_read_lists_every_row_and_is_complete(tmp_path: Path) -> None:
    (tmp_path / "hr.csv").write_text(TEXT)
    result = connector(str(tmp_path / "hr.csv")).read()
    assert result.complete and [o.key for o in result.observations] == ["E1", "E2", "E3"]
    assert result.observations[0].attrs == {"Name": "Ada", "Title": "Scientist"}


def test_a_delta_read_reports_only_changed_new_and_vanished_rows(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(TEXT)
    c = connector(str(path))
    cursor = c.read().cursor
    path.write_text(TEXT.replace("Admiral", "Rear Admiral").replace("E3,Alan,Cryptanalyst,active\n", "")
                    + "E4,Katherine,Mathematician,terminated\n")
    delta = c.read(cursor)
    assert not delta.complete
    seen = {o.key: o for o in delta.observations}
    assert set(seen) == {"E2", "E3", "E4"}
    assert seen["E2"].attrs["Title"] == "Rear Admiral"
    assert seen["E3"].removed and not seen["E4"].active
    assert c.read(delta.cursor).observations == []  # nothing changed since


def test_an_empty_or_missing_file_is_a_failed_read_never_an_empty_company(tmp_path: Path) -> None:
    (tmp_path / "hr.csv").write_text("Employee_ID,Name,Title,Status\n")
    with pytest.raises(ReadFailed, match="no rows"):
        connector(str(tmp_path / "hr.csv")).read()
    with pytest.raises(ReadFailed, match="not found"):
        connector(str(tmp_path / "missing.csv")).read()
    with pytest.raises(ReadFailed, match=r"missing\.csv not found"):  # read in pages, said the same way
        next(connector(str(tmp_path / "missing.csv")).read_pages(None, full=True, page_size=10))


def test_writes_change_only_the_given_columns_and_keep_the_others(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(TEXT.replace("Status\n", "Status,Notes\n").replace("active\n", "active,keep\n"))
    c = connector(str(path), writable=True)
    c.write(Write("hr", "update", "p-1", "E2", {"Title": "Rear Admiral"}))
    c.write(Write("hr", "deactivate", "p-1", "E1", {}))
    created = c.write(Write("hr", "create", "p-9", None, {"Name": "Katherine", "Title": "Mathematician"}))
    text = path.read_text()
    assert "E2,Grace,Rear Admiral,active,keep" in text and "E1,Ada,Scientist,inactive,keep" in text
    assert created.key and f"{created.key},Katherine,Mathematician" in text
    with pytest.raises(PermanentError, match="unmapped"):
        c.write(Write("hr", "update", "p-1", "E2", {"Notes": "overwrite"}))
    with pytest.raises(PermanentError, match="read-only"):
        connector(str(path)).write(Write("hr", "update", "p-1", "E2", {"Title": "x"}))


def test_a_file_in_s3_is_read_and_written_back(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="hr-exports")
        s3.put_object(Bucket="hr-exports", Key="daily/hr.csv", Body=TEXT.encode())
        c = connector("s3://hr-exports/daily/hr.csv", writable=True)
        assert [o.key for o in c.read().observations] == ["E1", "E2", "E3"]
        c.write(Write("hr", "update", "p-1", "E3", {"Title": "Codebreaker"}))
        body = s3.get_object(Bucket="hr-exports", Key="daily/hr.csv")["Body"].read().decode()
        assert "E3,Alan,Codebreaker,active" in body
        with pytest.raises(ReadFailed, match="not found"):
            connector("s3://hr-exports/missing.csv").read()


def test_two_deliveries_writing_the_same_s3_file_never_lose_an_update(monkeypatch: pytest.MonkeyPatch) -> None:
    from peoplesync.ports import TransientError

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="exports")
        s3.put_object(Bucket="exports", Key="hr.csv", Body=TEXT.encode())
        first, second = (connector("s3://exports/hr.csv", writable=True) for _ in range(2))
        columns, rows = first._load()  # the first delivery has read the file...
        second.write(Write("hr", "update", "p-2", "E2", {"Title": "Rear Admiral"}))  # ...the second writes it
        rows[0]["Title"] = "Countess"
        with pytest.raises(TransientError, match="changed while"):
            first._save(columns, rows)  # refused: it would erase the second delivery's row
        first.write(Write("hr", "update", "p-1", "E1", {"Title": "Countess"}))  # the retry reads again
        body = s3.get_object(Bucket="exports", Key="hr.csv")["Body"].read().decode()
        assert "E1,Ada,Countess" in body and "E2,Grace,Rear Admiral" in body


# --- creates safe to retry: find_account; no marker ------------------------------------------------------
def test_a_created_row_is_found_by_its_mapped_cells_and_two_matching_rows_find_none(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(TEXT)
    created = connector(str(path), writable=True).write(
        Write("hr", "create", "p-9", None, {"Name": "=HYPERLINK(\"http://x\")", "Title": "Mathematician"}))
    assert created.marker is None  # a file has no per-row version: its observations carry no marker either

    fresh = connector(str(path))  # another process
    found = fresh.find_account({"Name": "=HYPERLINK(\"http://x\")"})  # stored neutralised, matched as written
    assert found is not None and found.key == created.key and found.attrs["Title"] == "Mathematician"
    assert fresh.find_account({"Name": "Ada", "Title": "Scientist"}).key == "E1"
    assert fresh.find_account({"Employee_ID": "E2"}).key == "E2"
    assert fresh.find_account({"Name": "Nobody"}) is None
    assert fresh.find_account({"Status": "active"}) is None  # not a mapped column: never a lookup column
    assert fresh.find_account({"Name": "Ada,Scientist"}) is None  # a cell's value, not the line's text
    path.write_text(TEXT + "E4,Ada,Engineer,active\n")
    assert fresh.find_account({"Name": "Ada"}) is None  # two rows hold it: none is the one


def test_a_file_not_known_to_be_whole_finds_nothing_and_says_so(tmp_path: Path) -> None:
    from peoplesync.ports import TransientError

    path = tmp_path / "hr.csv"
    path.write_text(TEXT.rstrip("\n"))  # cut in its last row: the row may be the one looked for
    with pytest.raises(TransientError, match="not taken as whole"):
        connector(str(path)).find_account({"Name": "Alan"})


def _bridge_to_a_csv_target(path: Path) -> tuple[Any, dict[str, int]]:
    from peoplesync import bootstrap
    from peoplesync_dev.memory import MemoryConnector

    hr = MemoryConnector("hr", ["employeeID", "name"])
    hr.put("w900", employeeID="E900", name="New Person")
    phones = CsvConnector("phones", Settings(path=str(path), key="Row", active_column="Status", settle_seconds=0),
                          ["EmployeeNumber", "Name"], writable=True)
    local = bootstrap.local({
        "systems": {"hr": {"connector": "memory"},
                    "phones": {"connector": "csv", "path": "phones.csv", "key": "Row", "provision": True,
                               "writable": True}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "employeeID", "phones": "EmployeeNumber"}},
                   "name": {"source": "hr", "map": {"hr": "name", "phones": "Name"}}},
        "match": ["employee_id"], "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None},
    }, connectors={"hr": hr, "phones": phones}, sleep=lambda s: None)
    real, calls = local.reconciler.confirm, {"n": 0}

    def crash_once(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the function died after the file was replaced, before recording it")
        return real(*a, **k)

    local.reconciler.confirm = crash_once
    return local, calls


def test_a_create_that_landed_before_a_crash_is_linked_when_its_delivery_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "phones.csv"
    path.write_text("Row,EmployeeNumber,Name,Status\nr1,E001,Someone,active\n")
    local, calls = _bridge_to_a_csv_target(path)

    report = local.sync()

    assert calls["n"] >= 1 and not report.errors and report.dead_letters == 0
    lines = [line for line in path.read_text().splitlines() if ",E900," in line]
    assert len(lines) == 1  # exactly one line: the retried delivery found it and linked it
    store = local.store
    record = store.load(store.by_link("person", "hr", "w900"))
    assert record.shadows["phones"].key == lines[0].split(",")[0] and not record.create_pending
    assert local.sync().total_writes == 0


def test_without_the_lookup_the_retried_create_is_refused_and_the_person_never_linked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the derived key stops a second line, but the delivery is parked and nothing is linked."""
    from peoplesync.ports import Connector

    monkeypatch.setattr(CsvConnector, "find_account", Connector.find_account)
    path = tmp_path / "phones.csv"
    path.write_text("Row,EmployeeNumber,Name,Status\nr1,E001,Someone,active\n")
    local, _ = _bridge_to_a_csv_target(path)

    report = local.sync()

    assert report.dead_letters == 1 and "already exists" in report.errors[0]
    record = local.store.load(local.store.by_link("person", "hr", "w900"))
    assert "phones" not in record.shadows
