"""The CLI on the demo (real files, the Workday and Genesys stand-ins over HTTP, the LDAP directory): a new
manager with no directory entry makes the directory's old manager be cleared, and `plan` and `explain` show the
reference as owed; `unlink` / `link` move a cloud account, recorded as a decision and delivered by `sync`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peoplesync.cli import main
from peoplesync_dev import ldap_memory
from peoplesync_dev.demo import run


def test_a_stale_manager_is_cleared_and_shown_as_owed_and_an_account_is_relinked_by_hand(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def then(config: str, workday: Any) -> None:
        alan = "cn=Alan Turing,ou=people,dc=example,dc=org"
        directory = ldap_memory.entries(str(tmp_path / "demo" / "data" / "directory.json"))
        assert [m.lower() for m in directory[alan]["manager"]] == ["cn=ada lovelace,ou=people,dc=example,dc=org"]
        with workday.lock:  # a new head of department, with no directory entry (the directory does not create)
            workday.workers.append({"Employee_ID": "E105", "Worker": "Joan Clarke",
                                    "Email_-_Work": "joan.clarke@example.com", "Business_Title": "Head of Hut 8",
                                    "Manager_ID": "E100", "Hire_Date": "2024-02-01-08:00",
                                    "Worker_Status": "Active"})
            next(w for w in workday.workers if w["Employee_ID"] == "E102")["Manager_ID"] = "E105"
        capsys.readouterr()
        main(["plan", config])
        planned = capsys.readouterr().out
        assert "manager in directory -> Joan Clarke (E105" in planned  # owed, once she has a directory entry
        main(["sync", config, "--quiet"])
        directory = ldap_memory.entries(str(tmp_path / "demo" / "data" / "directory.json"))
        assert not directory[alan].get("manager")  # the old manager does not stand
        capsys.readouterr()
        assert main(["explain", config, "E102", "manager"]) == 0
        assert "(owed: " in capsys.readouterr().out

        # repair by hand: Alan's cloud account detached, then attached again (a decision each)
        capsys.readouterr()
        assert main(["unlink", config, "cloud:nope"]) == 1
        assert "linked to nobody" in capsys.readouterr().err
        main(["explain", config, "E102"])
        cloud_key = next(line for line in capsys.readouterr().out.splitlines() if "cloud=" in line)
        key = cloud_key.split("cloud=")[1].split(",")[0].split()[0]
        assert main(["unlink", config, f"cloud:{key}"]) == 0
        assert "detached from Alan Turing (E102" in capsys.readouterr().out
        assert main(["link", config, f"cloud:{key}", "E102"]) == 0
        assert "linked to Alan Turing (E102" in capsys.readouterr().out
        main(["sync", config, "--quiet"])
        capsys.readouterr()
        assert main(["explain", config, "E102"]) == 0
        explained = capsys.readouterr().out
        assert "attached by an administrator" in explained and "detached by an administrator" in explained

    assert run(tmp_path / "demo", then=then) == 0
