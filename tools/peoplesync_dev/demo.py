"""`make demo`: copy examples/demo to .peoplesync-demo/, create its badge database (SQLite), start the
Workday and Genesys Cloud stand-ins on 127.0.0.1, and sync: what a first sync would do, the sync itself, a
second sync with nothing to do, then an agent editing their own profile in the cloud and the next sync
carrying it to the phone directory (two-way), a conflict on that two-way field settled by its `winner`, where one
person's values came from, and finally the report page (report.html: the mapping drawn, every decision
searchable)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peoplesync.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(target: Path | None = None, then: Callable[[str, Any], None] | None = None) -> int:
    """`then(config_path, workday_standin)`, if given, runs after the story while the stand-ins are still up
    (tests)."""
    from .standins import genesys_groups
    from .standins.genesys import start_standin
    from .standins.workday import start_standin as start_workday

    source = ROOT / "examples" / "demo"
    if not source.is_dir():
        print(f"demo files not found at {source} (run from a source checkout)", file=sys.stderr)
        return 1
    target = target or Path.cwd() / ".peoplesync-demo"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    with sqlite3.connect(target / "data" / "badges.sqlite3") as db:  # the badge system's database
        db.executescript((target / "data" / "badges.sql").read_text())
    base_url, server = start_standin()
    report_url, hr = start_workday([dict(w) for w in json.loads((target / "data" / "workers.json").read_text())],
                                   users={"ISU_PeopleSync": "wd-pass"})
    try:
        seed = json.loads((target / "cloud-users.json").read_text())
        users = {u["email"]: server.standin.add_user(**u) for u in seed["users"]}
        for g in seed.get("groups", ()):  # the cloud's groups, members by e-mail
            genesys_groups.add_group(server.standin, g["name"], members=[users[m] for m in g["members"]])
        config = target / "peoplesync.yaml"
        text = re.sub(r'base_url: "http://127\.0\.0\.1:\d+"', f'base_url: "{base_url}"', config.read_text())
        config.write_text(re.sub(r'url: "http://127\.0\.0\.1:\d+/ccx/service/customreport2/[^"]+"',
                                 f'url: "{report_url}"', text))
        status = _story(str(config), server, users) or _membership(str(config), server)
        if then is not None:
            then(str(config), hr.standin)
        return status
    finally:
        server.stop()
        hr.stop()
        from . import ldap_memory

        ldap_memory.forget(str(target / "data" / "directory.json"))


def _story(config: str, server: object, users: dict[str, str]) -> int:
    standin = server.standin  # type: ignore[attr-defined]
    print(f"== demo in {Path(config).parent}; the Workday and Genesys Cloud stand-ins run on 127.0.0.1 meanwhile")
    if main(["validate", config]):
        return 1
    print("\n== what a first sync would do (peoplesync plan: nothing is written)")
    main(["plan", config])
    print("\n== first sync: Workday's data reaches the phone directory (CSV), the badge database (SQLite), the LDAP "
          "directory and the cloud; missing accounts are created")
    if main(["sync", config, "--quiet"]):
        return 1
    print("\n== second sync: nothing changed since, so nothing is written")
    main(["sync", config, "--quiet"])
    grace = users["grace.hopper@example.com"]
    print("\n== Grace edits her own cloud profile: a new work phone and a personal e-mail")
    standin.edit_user(grace, {"addresses": [
        {"mediaType": "PHONE", "type": "WORK", "address": "+1 317 555 0199"},
        {"mediaType": "EMAIL", "type": "HOME", "address": "grace@navy.example"}]})
    main(["sync", config, "--quiet"])
    winner_conflict(config, standin, users["ada.lovelace@example.com"])
    print("\n== where Grace's values came from (peoplesync explain ... E101)")
    status = main(["explain", config, "E101"])
    return status or report_page(config)


def winner_conflict(config: str, standin: Any, ada: str) -> None:
    """Both sides of a two-way field change between two syncs: the field's `winner` settles it. phone.work is
    two-way between the phone directory and the cloud with `winner: phonebook`, so the directory's number stays
    and the cloud's is overwritten (and shown as the losing value in `explain` and on the report page)."""
    print("\n== Ada's work phone is changed in the phone directory AND in her cloud profile before the next sync: "
          "phone.work is two-way with winner: phonebook, so the directory's number wins")
    book = Path(config).parent / "data" / "phonebook.csv"
    with book.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["employee_id"] == "E100":
            row["phone"] = "+1 317 555 0142"
    with book.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    standin.edit_user(ada, {"addresses": [
        {"mediaType": "PHONE", "type": "WORK", "address": "+1 317 555 0177"},
        {"mediaType": "EMAIL", "type": "HOME", "address": "ada@analytical.example"}]})
    main(["sync", config, "--quiet"])
    main(["explain", config, "E100", "phone.work"])


def report_page(config: str) -> int:
    """The report page: the mapping drawn, and why each value is what it is, searchable; one HTML file."""
    page = Path(config).parent / "report.html"
    print("\n== the report page (peoplesync report ... -o report.html): open it in a browser")
    status = main(["report", config, "-o", str(page)])
    print(f"   {page.resolve().as_uri()}")
    return status


def _membership(config: str, server: Any) -> int:
    """Group membership (SPEC 17): the directory's Support group is the source of the cloud's."""
    from . import ldap_memory
    from .standins import genesys_groups

    standin = server.standin
    [gid] = [g for g in standin.groups if standin.groups[g]["name"] == "Support"]
    names = {uid: u["name"] for uid, u in standin.users.items()}

    def cloud_members() -> str:
        return ", ".join(sorted(names[m] for m in genesys_groups.group(standin, gid)["members"]))

    print(f"\n== group membership: the cloud's Support group now holds {cloud_members()} (the first sync added "
          "Grace, a member of the directory's Support group)")
    seed = str(Path(config).parent / "data" / "directory.json")
    ldap_memory.edit(seed, "cn=Support,ou=groups,dc=example,dc=org",
                     add=["cn=Alan Turing,ou=people,dc=example,dc=org"],
                     remove=["cn=Ada Lovelace,ou=people,dc=example,dc=org"])
    print("== an administrator adds Alan to the directory's Support group and removes Ada; the next sync writes "
          "one add and one remove to the cloud group (never the whole member list)")
    if main(["sync", config, "--quiet"]):
        return 1
    print(f"   the cloud's Support group: {cloud_members()}")
    print("\n== the Support group explained (peoplesync explain ... Support)")
    return main(["explain", config, "Support"])


if __name__ == "__main__":
    raise SystemExit(run())
