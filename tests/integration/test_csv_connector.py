"""The CSV connector: a local file or an S3 object, delta by row hash, safe writes."""

from __future__ import annotations

from pathlib import Path

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
