"""`peoplesync sync`, `plan`, `reviews` as an administrator runs them, on real files: an HR CSV export (the
source) and a badge database (SQLite, the target). Each exit code is caused for real: a held run (rows removed
from the export), a failed read (the export missing), a dead-lettered write (the database refuses the value),
a configuration or argument error; and the guard's hold lifts by itself once the export is restored."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peoplesync.cli import main

ROOT = Path(__file__).resolve().parents[2]
LONG_NAME = "Maria-Magdalena Wilhelmina Theodora von Hohenzollern-Sigmaringen-Veringen zu Hechingen"
CONFIG = """\
systems:
  hr:     {connector: csv, path: hr.csv, key: id}
  badges: {connector: sql, url: "sqlite:///badges.sqlite3", table: holders, key: id,
           active_column: active, active_values: [1], inactive_value: 0}
fields:
  employee_id: {source: hr, map: {hr: id, badges: employee_id}}
  name:        {source: hr, map: {hr: name, badges: name}}
  title:       {source: hr, map: {hr: title, badges: title}}
match: [employee_id]
lifecycle: {source: hr}
policies: {max_changes_per_run: "20%", removed: deactivate}
"""


def people() -> list[dict[str, str]]:
    return [{"id": f"E{n}", "name": LONG_NAME if n == 1 else f"Person {n}", "title": f"Title {n}"}
            for n in range(1, 11)]


class Site:
    """The configuration's folder: the export, the badge database, the CLI run on them."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.capsys = root, capsys
        self.config = str(root / "peoplesync.yaml")
        (root / "peoplesync.yaml").write_text(CONFIG)
        self.export(people())
        with sqlite3.connect(root / "badges.sqlite3") as db:
            db.execute("CREATE TABLE holders (id INTEGER PRIMARY KEY, employee_id TEXT, name TEXT, "
                       "title TEXT CHECK (length(title) <= 24), active INTEGER NOT NULL)")
            db.executemany("INSERT INTO holders VALUES (?, ?, ?, ?, 1)",
                           [(n, p["id"], "old name", p["title"]) for n, p in enumerate(people(), 1)])

    def export(self, rows: list[dict[str, str]]) -> None:
        with (self.root / "hr.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, ["id", "name", "title"])
            writer.writeheader()
            writer.writerows(rows)

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([args[0], self.config, *args[1:]])
        out, err = self.capsys.readouterr()
        return code, out, err

    def badge(self, employee_id: str) -> tuple[str, str, int]:
        with sqlite3.connect(self.root / "badges.sqlite3") as db:
            return db.execute("SELECT name, title, active FROM holders WHERE employee_id = ?",
                              (employee_id,)).fetchone()


@pytest.fixture
def site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Site:
    s = Site(tmp_path, capsys)
    code, out, _ = s.run("sync", "--quiet")
    assert code == 0 and "done: 10 writes delivered" in out  # the names, from HR
    return s


def test_a_second_sync_in_agreement_exits_0_and_json_says_so(site: Site) -> None:
    code, out, _ = site.run("sync", "--quiet")
    assert code == 0 and "in agreement: nothing left to write" in out
    code, out, _ = site.run("sync", "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "in agreement" and result["exit_code"] == 0
    assert result["writes_total"] == 0 and result["read_failures"] == {} and result["holds"] == []


def test_a_failed_read_exits_3_and_never_claims_agreement(site: Site) -> None:
    (site.root / "hr.csv").rename(site.root / "hr.csv.bak")
    code, out, _ = site.run("sync", "--quiet")
    assert code == 3
    assert "in agreement" not in out and "incomplete: the read of hr failed" in out
    assert site.badge("E2")[2] == 1  # nobody deactivated because of it
    code, out, _ = site.run("plan", "--json")
    assert code == 3 and json.loads(out)["status"] == "read failed" and "hr" in json.loads(out)["read_failures"]


def test_a_dead_lettered_write_exits_4(site: Site) -> None:
    rows = people()
    rows[3]["title"] = "Senior Principal Staff Engineer, Platform"  # longer than the column's CHECK allows
    site.export(rows)
    code, out, _ = site.run("sync", "--quiet")
    assert code == 4 and "dead-lettered:" in out and "in agreement" not in out
    assert site.badge("E4")[1] == "Title 4"
    code, out, _ = site.run("sync", "--json")  # parked: not sent again until something changes
    assert json.loads(out)["status"] == "in agreement"
    site.capsys.readouterr()
    code, out = main(["dlq", "list", site.config]), site.capsys.readouterr().out
    assert code == 0 and "1 dead-lettered deliveries" in out and "CHECK" in out


def test_a_hold_names_its_people_lifts_when_the_export_is_restored_and_other_changes_still_flow(site: Site) -> None:
    site.export(people()[3:])  # 3 of 10 rows lost from the export: 30% > 20%
    code, out, _ = site.run("sync", "--quiet")
    assert code == 2 and "held: hold:hr:" in out and "in agreement" not in out
    assert all(site.badge(f"E{n}")[2] == 1 for n in (1, 2, 3))
    code, out, _ = site.run("reviews")
    assert code == 0 and "3 people would change" in out and "1 runs and 0 accounts held for review" in out
    assert f"{LONG_NAME} (E1): badges deactivate" in out  # by name and employee id, the name not cut
    assert "Person 2 (E2): badges deactivate" in out and "p-" not in out
    code, out, _ = site.run("plan")
    assert code == 2 and "Person 3 (E3): badges deactivate" in out and "in agreement" not in out

    rows = people()[3:]
    rows[5]["title"] = "Head of Badges"  # an ordinary change meanwhile: E9
    site.export(rows)
    code, out, _ = site.run("sync", "--quiet")
    assert code == 2 and site.badge("E9")[1] == "Head of Badges"  # it flowed; the hold stays
    assert all(site.badge(f"E{n}")[2] == 1 for n in (1, 2, 3))

    rows = people()
    rows[8]["title"] = "Head of Badges"
    site.export(rows)  # the export restored
    code, out, _ = site.run("sync", "--quiet")
    assert code == 0 and "released: hold:hr:" in out and "in agreement" in out
    code, out, _ = site.run("reviews")
    assert "0 runs and 0 accounts held for review" in out
    assert all(site.badge(f"E{n}")[2] == 1 for n in (1, 2, 3))


def test_a_held_run_is_approved_by_its_id_and_then_applied(site: Site) -> None:
    site.export(people()[3:])
    assert site.run("sync", "--quiet")[0] == 2
    holds = json.loads(site.run("reviews", "--json")[1])
    assert [h["kind"] for h in holds] == ["run"] and holds[0]["count"] == 3
    assert holds[0]["account_keys"] == ["E1", "E2", "E3"] and holds[0]["system"] == "hr"
    code, _, err = site.run("reviews", "approve", "hold:hr:nosuch")
    assert code == 1 and err.count("\n") == 1 and holds[0]["id"] in err
    site.capsys.readouterr()
    code, out = main(["reviews", "approve", holds[0]["id"], site.config]), site.capsys.readouterr().out
    assert code == 0 and "approved" in out
    code, out, _ = site.run("sync", "--quiet")
    assert code == 0 and [site.badge(f"E{n}")[2] for n in (1, 2, 3, 4)] == [0, 0, 0, 1]
    assert json.loads(site.run("reviews", "--json")[1]) == []


def test_an_account_held_for_review_makes_the_run_exit_2_and_is_listed(site: Site) -> None:
    (site.root / "peoplesync.yaml").write_text(CONFIG.replace('removed: deactivate', 'removed: deactivate, '
                                                              'unmatched: report'))
    with sqlite3.connect(site.root / "badges.sqlite3") as db:  # a badge nobody in HR has
        db.execute("INSERT INTO holders VALUES (99, 'E99', 'Visitor', 'Guest', 1)")
    code, out, _ = site.run("sync", "--quiet")
    assert code == 2 and "1 account(s) held for review" in out and "in agreement" not in out
    code, out, _ = site.run("reviews")
    assert "badges account 99: unmatched" in out and "0 runs and 1 accounts held for review" in out


def test_plan_shows_values_as_stored_whole_and_people_by_name(site: Site) -> None:
    rows = people()
    rows[0]["title"] = r"Chief Engineer\Ops"  # a backslash, shown once (not as a doubled Python repr)
    site.export(rows)
    code, out, _ = site.run("plan")
    assert code == 0 and f"{LONG_NAME} (E1)  badges update" in out
    assert r"title: Title 1 => Chief Engineer\Ops" in out and "\\\\" not in out and "'" not in out
    code, out, _ = site.run("explain", "E1", "title")
    assert code == 0 and "title = Title 1 " in out and "badges.title: Title 1" in out


# --- errors: one line, exit 1 -------------------------------------------------------------------------------
def test_cli_errors_are_one_line_naming_the_file_or_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(args))
        return code, capsys.readouterr().err

    missing = str(tmp_path / "nowhere.yaml")
    for command in ("validate", "sync", "plan", "reviews"):
        code, err = run(command, missing)
        assert code == 1 and err == f"peoplesync {command}: {missing}: no such file (give the configuration file)\n"
    code, err = run("validate", str(tmp_path))
    assert code == 1 and "is a directory" in err and err.count("\n") == 1
    code, err = run("sync", missing, "--no-such-flag")
    assert code == 1 and err.count("\n") == 1 and "--no-such-flag" in err

    demo = tmp_path / "demo"  # the demo's configuration, its secrets file without the Workday entry
    demo.mkdir()
    (demo / "peoplesync.yaml").write_text((ROOT / "examples" / "demo" / "peoplesync.yaml").read_text())
    (demo / "secrets.json").write_text("{}")
    code, err = run("plan", str(demo / "peoplesync.yaml"))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "secret 'workday' not found" in err and str(demo / "secrets.json") in err


def _without(modules: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, in a Python where `modules` are not installed (the base package alone)."""
    code = (f"import sys\nfor m in {modules!r}: sys.modules[m] = None\n"
            f"from peoplesync.cli import main\nraise SystemExit(main({list(args)!r}))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "peoplesync"), str(ROOT / "tools")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_a_command_whose_extra_is_missing_says_which_extra_to_install(site: Site) -> None:
    done = _without(["boto3", "botocore"], "dlq", "list", "--dlq-url", "http://127.0.0.1:1/queue/dlq")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("peoplesync dlq: this command needs the optional package 'boto3': "
                                   "pip install 'peoplesync[aws]' (or peoplesync[dev] for everything)")
    done = _without(["scim2_server", "scim2_models"], "serve", site.config, "--port", "0")
    assert done.returncode == 1 and "pip install 'peoplesync[scim]'" in done.stderr
    assert done.stderr.count("\n") == 1
