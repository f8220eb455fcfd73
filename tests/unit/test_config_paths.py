"""Paths in a configuration stay inside its folder unless an operator allows otherwise (issue 11, item 6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.cli import main

CONFIG = """systems:
  hr: {{connector: csv, path: {path}, key: Employee_ID, writable: false}}
  book: {{connector: csv, path: book.csv, key: id, writable: true, provision: true}}
fields:
  employee_id: {{source: hr, map: {{hr: Employee_ID, book: id}}}}
  name: {{source: hr, map: {{hr: Name, book: name}}}}
match: [employee_id]
"""
SECRET_ROW = "E1,Ada-the-private-row\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PEOPLESYNC_ALLOW_PATHS_OUTSIDE_CONFIG", raising=False)
    (tmp_path / "outside.csv").write_text("Employee_ID,Name\n" + SECRET_ROW)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "book.csv").write_text("id,name\n")
    (conf / "hr.csv").write_text("Employee_ID,Name\n" + SECRET_ROW)
    return conf


def factory(conf: Path, path: str) -> Callable[[str], Any]:
    (conf / "peoplesync.yaml").write_text(CONFIG.format(path=path))
    plan = bootstrap.compile_config(bootstrap.load_config(conf / "peoplesync.yaml"))
    return bootstrap.connector_factory(plan, None, base_dir=conf)


@pytest.mark.parametrize("escape", ["../outside.csv", "sub/../../outside.csv", "{abs}"])
def test_a_path_escaping_the_configuration_folder_is_refused_with_path_and_reason(folder: Path, escape: str) -> None:
    escape = escape.format(abs=folder.parent / "outside.csv")
    with pytest.raises(bootstrap.ConfigError) as refused:
        factory(folder, escape)("hr")
    text = str(refused.value)
    assert "systems.hr.path" in text and escape in text and "outside the configuration's folder" in text
    assert "PEOPLESYNC_ALLOW_PATHS_OUTSIDE_CONFIG" in text and "Ada-the-private-row" not in text


def test_a_symbolic_link_out_of_the_folder_is_refused(folder: Path) -> None:
    (folder / "link.csv").symlink_to(folder.parent / "outside.csv")
    with pytest.raises(bootstrap.ConfigError, match="resolves to"):
        factory(folder, "link.csv")("hr")


def test_paths_inside_resolve_and_an_operator_may_allow_outside(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert factory(folder, "hr.csv")("hr").settings.path == str((folder / "hr.csv").resolve())
    monkeypatch.setenv("PEOPLESYNC_ALLOW_PATHS_OUTSIDE_CONFIG", "true")
    assert factory(folder, "../outside.csv")("hr").settings.path == str(folder.parent / "outside.csv")


def test_the_command_line_names_the_path_and_prints_no_file_contents(folder: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "peoplesync.yaml").write_text(CONFIG.format(path="../outside.csv"))
    assert main(["sync", str(folder / "peoplesync.yaml"), "--quiet"]) != 0
    out = capsys.readouterr()
    assert "../outside.csv" in out.err + out.out and "Ada-the-private-row" not in out.err + out.out
    assert (folder / "book.csv").read_text() == "id,name\n"  # nothing was written
