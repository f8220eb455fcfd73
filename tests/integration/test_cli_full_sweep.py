"""`peoplesync sync --full` runs the full sweep's steps in-process (issue 14 item 3: each system snapshotted
to chunks, judged by the change guard, its chunks reconciled in batches by the sweep's item processor, then who
vanished): the same result as the full polls it replaced. Each scenario of the CLI tests (test_cli_runs.py: an
agreement, a failed read, a dead-lettered write, a hold that lifts, a hold approved by id, a review, a plan) is
run with `--full` both ways, and the exit codes, the `--json` reports, the badge database and the open reviews
must be the same. "Before" is the same build with the sweep switched off, so `--full` polls each system with a
full read as it did."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peoplesync.cli import main
from peoplesync.service import sweep
from tests.integration.test_cli_runs import CONFIG, Site, people

Step = Callable[[Site], Any]


def full(site: Site, command: str = "sync", *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = site.run(command, "--full", "--json", *extra)
    report = json.loads(out.replace(str(site.root), "<root>"))
    return code, {k: v for k, v in report.items() if k not in ("decisions",)}


def reviews(site: Site) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k not in ("at",)} for item in json.loads(site.run("reviews", "--json")[1])]


def badges(site: Site) -> list[tuple[Any, ...]]:
    with sqlite3.connect(site.root / "badges.sqlite3") as db:
        return db.execute("SELECT employee_id, name, title, active FROM holders ORDER BY id").fetchall()


def agreement(site: Site) -> list[Any]:
    return [full(site), full(site)]


def failed_read(site: Site) -> list[Any]:
    (site.root / "hr.csv").rename(site.root / "hr.csv.bak")
    return [full(site), full(site, "plan")]


def dead_letter(site: Site) -> list[Any]:
    rows = people()
    rows[3]["title"] = "Senior Principal Staff Engineer, Platform"  # longer than the column's CHECK allows
    site.export(rows)
    return [full(site), full(site)]


def hold_lifts(site: Site) -> list[Any]:
    site.export(people()[3:])  # 3 of 10 rows lost: 30% > 20%
    steps = [full(site), reviews(site), full(site, "plan")]
    rows = people()[3:]
    rows[5]["title"] = "Head of Badges"
    site.export(rows)
    steps.append(full(site))
    rows = people()
    rows[8]["title"] = "Head of Badges"
    site.export(rows)
    return [*steps, full(site), reviews(site)]


def approved_by_id(site: Site) -> list[Any]:
    site.export(people()[3:])
    steps: list[Any] = [full(site)]
    [hold] = json.loads(site.run("reviews", "--json")[1])
    site.capsys.readouterr()
    steps.append(main(["reviews", "approve", hold["id"], site.config]))
    return [*steps, full(site), reviews(site)]


def approved_all(site: Site) -> list[Any]:
    site.export(people()[3:])
    return [full(site), full(site, "sync", "--approve"), reviews(site)]


def review(site: Site) -> list[Any]:
    (site.root / "peoplesync.yaml").write_text(CONFIG.replace("removed: deactivate",
                                                              "removed: deactivate, unmatched: report"))
    with sqlite3.connect(site.root / "badges.sqlite3") as db:
        db.execute("INSERT INTO holders VALUES (99, 'E99', 'Visitor', 'Guest', 1)")
    return [full(site), reviews(site)]


def plan_then_sync(site: Site) -> list[Any]:
    rows = people()
    rows[0]["title"] = r"Chief Engineer\Ops"
    site.export(rows)
    return [full(site, "plan"), full(site), full(site)]


SCENARIOS: dict[str, Step] = {f.__name__: f for f in (agreement, failed_read, dead_letter, hold_lifts,
                                                       approved_by_id, approved_all, review, plan_then_sync)}


def outcome(root: Path, capsys: pytest.CaptureFixture[str], scenario: Step) -> list[Any]:
    site = Site(root, capsys)
    assert site.run("sync", "--quiet")[0] == 0
    return [*scenario(site), badges(site)]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sync_full_through_the_sweep_gives_what_the_full_polls_gave(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sweep").mkdir()
    (tmp_path / "polls").mkdir()
    made: list[sweep.LocalSweep] = []
    real = sweep.LocalSweep

    def counted(*a: Any, **k: Any) -> sweep.LocalSweep:
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(sweep, "LocalSweep", counted)
    now = outcome(tmp_path / "sweep", capsys, SCENARIOS[name])
    assert made  # the sweep ran
    monkeypatch.setattr(sweep, "LocalSweep", lambda *a, **k: None)  # before: --full polled every system fully
    before = outcome(tmp_path / "polls", capsys, SCENARIOS[name])

    assert now == before
