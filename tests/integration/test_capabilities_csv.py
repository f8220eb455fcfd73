"""Through the bridge and the real CSV connector (files in a temporary folder):
- a deactivation writes the value the file reads back as inactive (`inactive_values: ["0"]` -> `0`), so the
  next sync does not deactivate again; an activation writes `active_value`;
- a CSV target without `active_column` gets no deactivation, and a read-only CSV (no `writable: true`) gets no
  write at all: nothing is dead-lettered (issue 15: the plan said writable, the connector refused, every write
  was dead-lettered);
- an attribute absent from a read (the export lost its column) is no blank: even `on_blank: clear` clears
  nothing; a blank cell does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.config import ConfigError
from peoplesync_dev.memory import MemoryConnector

PHONES = "id,employee_id,name,status\nr1,E1,Ada,1\nr2,E2,Bob,1\n"


def bridge(tmp_path: Path, phones: dict[str, Any], *, on_blank: str | None = None) -> tuple[Any, MemoryConnector]:
    hr = MemoryConnector("hr", ["employeeID", "name"], writable=False)
    hr.put("w1", employeeID="E1", name="Ada")
    hr.put("w2", employeeID="E2", name="Bob")
    name: dict[str, Any] = {"source": "hr", "map": {"hr": "name", "phones": "name"}}
    if on_blank:
        name["on_blank"] = on_blank
    config = {
        "systems": {"hr": {"connector": "memory", "writable": False},
                    "phones": {"connector": "csv", "path": "phones.csv", "key": "id", "settle_seconds": 0,
                               **phones}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "employeeID", "phones": "employee_id"}},
                   "name": name},
        "match": ["employee_id"], "lifecycle": {"source": "hr"},
        "policies": {"removed": "deactivate", "max_changes_per_run": None},
    }
    local = bootstrap.local(config, connectors={"hr": hr}, base_dir=tmp_path, sleep=lambda s: None)
    return local, hr


def rows(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


def test_a_deactivation_writes_the_value_read_back_as_inactive(tmp_path: Path) -> None:
    path = tmp_path / "phones.csv"
    path.write_text(PHONES)
    local, hr = bridge(tmp_path, {"writable": True, "active_column": "status", "inactive_values": ["0"],
                                  "active_value": "1"})
    assert local.sync().dead_letters == 0
    hr.disable("w2")

    report = local.sync()

    assert report.writes == {"phones": 1} and report.dead_letters == 0
    assert rows(path) == ["r1,E1,Ada,1", "r2,E2,Bob,0"]
    assert local.sync(full=True).total_writes == 0  # "0" reads back as inactive: nothing to do again
    hr.disable("w2", active=True)
    assert local.sync().writes == {"phones": 1} and rows(path)[1] == "r2,E2,Bob,1"
    assert local.sync(full=True).total_writes == 0


def test_inactive_values_are_compared_without_case(tmp_path: Path) -> None:
    path = tmp_path / "phones.csv"
    path.write_text(PHONES.replace(",1\nr2,E2,Bob,1", ",Y\nr2,E2,Bob,N"))
    local, hr = bridge(tmp_path, {"writable": True, "active_column": "status", "inactive_values": ["n"],
                                  "active_value": "Y"})
    hr.disable("w2")
    assert local.sync().dead_letters == 0
    assert local.sync(full=True).total_writes == 0  # "N" is inactive: Bob is not deactivated again


def test_an_inactive_value_that_would_read_back_as_active_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not among inactive_values"):
        bootstrap.load_config({"systems": {"phones": {"connector": "csv", "path": "p.csv", "key": "id",
                                                      "active_column": "status", "inactive_value": "inactive",
                                                      "inactive_values": ["0"]}},
                               "fields": {"id": {"source": "phones", "map": {"phones": "id"}}}})


def test_a_csv_without_active_column_gets_no_deactivation_and_no_dead_letter(tmp_path: Path) -> None:
    path = tmp_path / "phones.csv"
    path.write_text(PHONES)
    local, hr = bridge(tmp_path, {"writable": True})
    assert local.sync().dead_letters == 0
    before = path.read_text()
    hr.disable("w2")

    report = local.sync()

    assert report.dead_letters == 0 and not report.errors and report.total_writes == 0
    assert path.read_text() == before


def test_a_read_only_csv_is_planned_no_write_and_dead_letters_nothing(tmp_path: Path) -> None:
    path = tmp_path / "phones.csv"
    path.write_text(PHONES.replace("r2,E2,Bob", "r2,E2,Robert"))
    local, hr = bridge(tmp_path, {"active_column": "status"})  # no writable: an export is read only
    assert not local.plan.systems["phones"].writable

    report = local.sync()
    hr.disable("w2")
    later = local.sync()

    assert report.dead_letters == later.dead_letters == 0 and report.total_writes == later.total_writes == 0
    assert not report.errors and not later.errors and "Robert" in path.read_text()
    assert local.owed() == []


def test_an_attribute_absent_from_the_read_clears_nothing_a_blank_cell_does(tmp_path: Path) -> None:
    hr_file = tmp_path / "hr.csv"
    hr_file.write_text("id,name\nE1,Ada\n")
    config = {
        "systems": {"hr": {"connector": "csv", "path": "hr.csv", "key": "id", "settle_seconds": 0},
                    "cloud": {"connector": "memory"}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "id", "cloud": "employee_id"}},
                   "name": {"source": "hr", "on_blank": "clear", "map": {"hr": "name", "cloud": "name"}}},
        "match": ["employee_id"], "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None},
    }
    cloud = MemoryConnector("cloud", ["employee_id", "name"])
    cloud.put("c1", employee_id="E1", name="Ada")
    local = bootstrap.local(config, connectors={"cloud": cloud}, base_dir=tmp_path, sleep=lambda s: None)
    assert local.sync().total_writes == 0

    hr_file.write_text("id,title\nE1,Engineer\n")  # the export lost its name column
    assert local.sync(full=True).total_writes == 0 and cloud.get("c1", "name") == "Ada"

    hr_file.write_text("id,name\nE1,\n")  # a blank cell: HR cleared it, and the field says clear
    assert local.sync(full=True).writes == {"cloud": 1} and cloud.get("c1", "name") in (None, "")
