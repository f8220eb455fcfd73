"""The newcomer's path: `make demo` (peoplesync_dev.demo) and the CLI on the demo's files, state in SQLite."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from peoplesync.cli import main
from peoplesync_dev import ldap_memory
from peoplesync_dev.demo import run


def rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as fh:
        return {r["employee_id"]: r for r in csv.DictReader(fh)}


def test_the_demo_runs_twice_and_the_second_run_has_nothing_to_do(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert out.count("in agreement: nothing left to write") == 1  # the second run, not the first
    book = rows(tmp_path / "demo" / "data" / "phonebook.csv")
    assert book["E101"]["title"] == "Rear Admiral"
    assert book["E102"]["manager_employee_id"] == "E100"
    assert book["E103"]["hired"] == "2021-08-26"  # created, with its on_create hire date
    assert book["E104"]["status"] == "inactive"  # terminated in HR
    # Grace's own edits in the cloud reached the phone directory (two-way phone, cloud-sourced e-mail)
    assert book["E101"]["phone"] == "+13175550199"
    assert book["E101"]["personal_email"] == "grace@navy.example"
    assert "email.personal = grace@navy.example " in out
    # multi-system alignment: HR's e-mail reached the badge database, whose badge numbers reached the directory
    with sqlite3.connect(tmp_path / "demo" / "data" / "badges.sqlite3") as db:
        badges = {row[0]: row[1:] for row in db.execute("SELECT employee_id, email, active FROM badge_holders")}
    assert badges["E100"] == ("ada.lovelace@example.com", 1)
    assert badges["E104"][1] == 0  # terminated in HR: deactivated in the badge system too
    assert book["E102"]["badge"] == "100102"
    # group membership (SPEC 17): the directory's Support group drives the cloud's, as one add and one remove
    assert "the cloud's Support group now holds Ada Lovelace, Grace Hopper" in out
    assert "the cloud's Support group: Alan Turing, Grace Hopper" in out


def test_plan_shows_a_change_and_writes_nothing_then_sync_applies_it(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def then(config: str, workday: Any) -> None:  # runs while the demo's stand-ins are still up
        directory = ldap_memory.entries(str(tmp_path / "demo" / "data" / "directory.json"))
        grace = directory["cn=Grace Hopper,ou=people,dc=example,dc=org"]
        assert grace["title"] == ["Rear Admiral"]  # HR's title, written over LDAP
        assert [m.lower() for m in grace["manager"]] == ["cn=ada lovelace,ou=people,dc=example,dc=org"]  # a DN
        with workday.lock:  # HR gives Alan a new title
            next(w for w in workday.workers if w["Employee_ID"] == "E102")["Business_Title"] = "Head of Hut 8"
        capsys.readouterr()
        assert main(["plan", config]) == 0
        planned = capsys.readouterr().out
        assert "Head of Hut 8" in planned
        assert rows(tmp_path / "demo" / "data" / "phonebook.csv")["E102"]["title"] == "Principal Cryptanalyst"
        assert main(["sync", config, "--quiet"]) == 0
        assert rows(tmp_path / "demo" / "data" / "phonebook.csv")["E102"]["title"] == "Head of Hut 8"
        capsys.readouterr()
        assert main(["explain", config, "E102", "title"]) == 0
        explained = capsys.readouterr().out
        assert "title = Head of Hut 8 " in explained and "hr is the source" in explained

    assert run(tmp_path / "demo", then=then) == 0


def test_validate_accepts_the_demo_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo" / "peoplesync.yaml"
    assert main(["validate", str(demo)]) == 0
    assert "valid" in capsys.readouterr().out
