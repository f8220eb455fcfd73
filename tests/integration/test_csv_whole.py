"""A half-written HR export concludes nothing (issue 11, item 5); formula cells are inert and read back as
written (item 6). Through the connector's `read()` and through the local run (no leaver deactivated)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from peoplesync.connectors.csv_file import CsvConnector, Settings
from peoplesync.connectors.csv_whole import neutralise, restore
from peoplesync.model import Write
from peoplesync.ports import ReadFailed, TransientError

HEADER = "Employee_ID,Name,Email,Status\n"
ROWS = ["E1,Ada,ada@example.com,active\n", 'E2,"Hopper, Grace",grace@example.com,active\n',
        "E3,Alan,alan@example.com,active\n"]
WHOLE = HEADER + "".join(ROWS)
ATTRS = ["Name", "Email"]
OLD = 1_000_000.0  # a modification time long before the clock below


class Clock:
    def __init__(self, now: float = OLD + 3600) -> None:
        self.now, self.slept = now, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def write(path: Path, text: str, mtime: float = OLD) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def hr(path: Path, clock: Clock | None = None, attrs: list[str] = ATTRS, **settings: Any) -> CsvConnector:
    clock = clock or Clock()
    return CsvConnector("hr", Settings(path=str(path), key="Employee_ID", active_column="Status", **settings),
                        attrs, writable=True, clock=clock, sleep=clock.sleep)


def read_then(path: Path, text: str, **settings: Any) -> Any:
    """A whole file read (the cursor), then the file replaced by `text` and read again from that cursor."""
    write(path, WHOLE)
    c = hr(path, **settings)
    cursor = c.read().cursor
    write(path, text)
    return c.read(cursor)


@pytest.mark.parametrize(("cut", "reason", "settings"), [
    (WHOLE[: WHOLE.index("alan@ex") + 7], "no line break", {}),  # mid-row: Alan's e-mail cut to "alan@ex"
    (HEADER + ROWS[0] + 'E2,"Hopper,\n', "quoted field", {}),  # inside a quoted field, after a line break in it
    (HEADER + ROWS[0] + 'E2,"Hopper, Gr', "quoted field", {"require_final_newline": False}),
    (HEADER + ROWS[0] + "E2,Grace\n", "2 fields where the header has 4", {}),  # cut at a field's end
])
def test_a_cut_file_concludes_no_leaver_and_no_truncated_value(tmp_path: Path, cut: str, reason: str,
                                                               settings: dict[str, Any]) -> None:
    path = tmp_path / "hr.csv"
    with pytest.raises(ReadFailed, match=reason) as failed:
        read_then(path, cut, **settings)  # a delta: neither E2/E3 gone nor a cut e-mail
    assert "nothing is concluded" in str(failed.value) and "alan@ex" not in str(failed.value)
    write(path, cut)
    with pytest.raises(ReadFailed, match=reason):
        hr(path, **settings).read(full=True)  # a full read neither


def test_a_file_shorter_than_its_trailer_says_is_refused(tmp_path: Path) -> None:
    trailer = r"TRAILER,(?P<count>\d+)"
    path = tmp_path / "hr.csv"
    write(path, WHOLE + "TRAILER,3\n")
    whole = hr(path, trailer=trailer).read()
    assert whole.complete and [o.key for o in whole.observations] == ["E1", "E2", "E3"]  # the trailer: no row
    write(path, HEADER + "".join(ROWS[:2]) + "TRAILER,3\n")
    with pytest.raises(ReadFailed, match="declares 3 rows but 2 were found"):
        hr(path, trailer=trailer).read()
    write(path, HEADER + "".join(ROWS[:2]))  # the export stopped before its trailer
    with pytest.raises(ReadFailed, match="trailer line is missing"):
        hr(path, trailer=trailer).read()


def test_a_file_growing_between_two_stats_is_waited_for_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    clock = Clock(now=OLD + 0.5)  # written half a second ago
    write(path, HEADER + ROWS[0])
    c = hr(path, clock)
    grown: list[bool] = []

    def sleep(seconds: float) -> None:  # the exporter writes on while we wait
        clock.sleep(seconds)
        if not grown:
            write(path, HEADER + ROWS[0] + ROWS[1], mtime=clock.now)
            grown.append(True)

    c._sleep = sleep
    with pytest.raises(ReadFailed, match="still being written"):
        c.read()
    assert clock.slept == [pytest.approx(1.5)]  # waited for the rest of settle_seconds (2 s), once
    clock.now += 10  # then it stood still: read as whole
    assert [o.key for o in c.read().observations] == ["E1", "E2"]


def test_a_file_that_changes_while_it_is_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peoplesync.connectors import csv_file

    path = tmp_path / "hr.csv"
    write(path, WHOLE)
    real = csv_file._read_text

    def read_and_append(p: str, encoding: str) -> tuple[str, str | None]:
        answer = real(p, encoding)
        with open(p, "a") as fh:
            fh.write("E4,Kat,kat@example.com,active\n")
        return answer

    monkeypatch.setattr(csv_file, "_read_text", read_and_append)
    with pytest.raises(ReadFailed, match="changed while it was read"):
        hr(path).read()


def test_an_empty_or_null_state_is_unknown_never_inactive(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    text = WHOLE.replace("alan@example.com,active", "alan@example.com,").replace("grace@example.com,active",
                                                                                  "grace@example.com,NULL")
    delta = read_then(path, text)
    assert delta.observations == []  # neither inactive nor removed: held back
    write(path, text)
    full = hr(path).read()
    assert [o.key for o in full.observations] == ["E1"] and not full.complete  # cannot say who is gone
    write(path, WHOLE.replace("Status", "State"))
    with pytest.raises(ReadFailed, match="active column 'Status' is not in"):
        hr(path).read()
    # once the state is known again, the row is seen (it was never reported as a leaver)
    write(path, text)
    c = hr(path)
    cursor = c.read().cursor
    write(path, WHOLE.replace("alan@example.com,active", "alan@example.com,terminated"))
    seen = {o.key: o for o in c.read(cursor).observations}
    assert set(seen) == {"E2", "E3"} and seen["E2"].active and not seen["E3"].active


def test_a_write_refuses_to_rewrite_a_cut_file(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    write(path, WHOLE[:-5])
    with pytest.raises(TransientError, match="not taken as whole"):
        hr(path).write(Write("hr", "update", "p-1", "E1", {"Name": "Ada L."}))
    assert path.read_text() == WHOLE[:-5]  # untouched


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "'=already quoted", "''@twice"]


def test_formula_cells_are_written_inert_and_read_back_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    write(path, WHOLE)
    c = hr(path, attrs=["Employee_ID", *ATTRS])
    for n, value in enumerate(FORMULAS):
        c.write(Write("hr", "create", f"p-{n}", None, {"Employee_ID": f"F{n}", "Name": value, "Email": "x@y"}))
    c.write(Write("hr", "update", "p-1", "E1", {"Name": "=1+2", "Email": "+44 20 7946 0000"}))
    data = path.read_bytes().decode()
    import csv
    import io

    cells = [row["Name"] for row in csv.DictReader(io.StringIO(data))]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]  # none live
    assert "'=1+2" in cells and "O'" not in data
    assert "+44 20 7946 0000" in data  # a phone number: nothing a spreadsheet could call
    c.settings.settle_seconds = 0
    seen = {o.key: o.attrs["Name"] for o in c.read().observations}
    assert [seen[f"F{n}"] for n in range(len(FORMULAS))] == FORMULAS and seen["E1"] == "=1+2"


@pytest.mark.parametrize("value", [*FORMULAS, "O'Brien", "'quoted'", "", "-", "+", "plain", "-12.5", "'"])
def test_neutralise_then_restore_is_the_identity(value: str) -> None:
    assert restore(neutralise(value)) == value
    assert neutralise(value)[:1] not in ("=", "@", "\t", "\r") or value == ""


def test_through_the_bridge_a_cut_export_deactivates_nobody_and_writes_no_cut_value(tmp_path: Path) -> None:
    from peoplesync import bootstrap
    from peoplesync.config import compile_config, load_config, system_attributes
    from peoplesync_dev.memory import MemoryConnector

    path = tmp_path / "hr.csv"
    write(path, WHOLE)
    plan = compile_config(load_config({
        "systems": {"hr": {"connector": "csv", "path": str(path), "key": "Employee_ID", "active_column": "Status"},
                    "ad": {"connector": "memory", "provision": True}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID"}},
                   "email.work": {"source": "hr", "map": {"hr": "Email", "ad": "mail"}}},
        "match": ["employee_id"], "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None}}))
    ad = MemoryConnector("ad", system_attributes(plan, "ad"))
    clock = Clock()
    csv_hr = CsvConnector("hr", Settings(path=str(path), key="Employee_ID", active_column="Status"),
                          system_attributes(plan, "hr"), clock=clock, sleep=clock.sleep)
    bridge = bootstrap.local(plan, connectors={"hr": csv_hr, "ad": ad}, sleep=lambda s: None)
    bridge.sync()
    assert sorted(a["attrs"]["mail"] for a in ad.accounts.values()) == [
        "ada@example.com", "alan@example.com", "grace@example.com"]
    # cut mid-row; then, with a trailer declared, cut at a row's end (only the trailer can tell that one)
    for cut, trailer in ((WHOLE[: WHOLE.index("alan@ex") + 7], None), (HEADER + ROWS[0], r"T,(?P<count>\d+)")):
        write(path, cut)
        csv_hr.settings.trailer = trailer
        report = bridge.sync()
        assert "not taken as whole" in report.read_failures["hr"]
        assert all(a["active"] for a in ad.accounts.values())
        assert sorted(a["attrs"]["mail"] for a in ad.accounts.values()) == [
            "ada@example.com", "alan@example.com", "grace@example.com"]
