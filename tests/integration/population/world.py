"""A generated organisation of N people with awkward names, through real servers: an HR CSV export (the source),
OpenLDAP (slapd, created and updated by the bridge), PostgreSQL (a badge database) and the Genesys Cloud
stand-in over HTTP. Shared by tests/integration/population and bench/population.py.

What is planted (what an administrator meets on a first sync):
- names with apostrophes, accents, commas and the other DN-special characters (`, + " \\ < > ; = #`), unique;
- work phones in mixed formats (`(317) 555-0142`, `317.555.0142`, `+1 317 555 0142`, ...) that are one E.164;
- a third of the people already in LDAP and in the cloud, some with a stale e-mail, title or manager there;
- the rest created by the bridge in LDAP and in the cloud, in the same run as their managers (SPEC 13);
- everyone in the badge database (its badge numbers reach LDAP), some rows with a stale e-mail or name;
- a duplicate badge row and a duplicate cloud user carrying a linked employee id (SPEC 12: held, never created).
Person i reports to person (i - 1) // 6 (person 0 to nobody); HR's rows are shuffled, so managers come before
and after their reports.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from ldap3 import SUBTREE, Connection
from ldap3.utils.dn import escape_rdn, parse_dn

from peoplesync import bootstrap
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync_dev.standins.genesys import start_standin

FIRST = ["José", "Zoë", "Jean-Luc", "Łukasz", "Søren", "Ngọc Anh", "Siân", "François", "Renée", "Björn",
         "Ana María", "Chloë", "Dvořák", "Oisín", "Maël", "Ines", "Tomás", "Ælfric", "Mary Ann", "Jürgen"]
LAST = ["O'Brien", "D'Angelo", "García-Márquez", "Smith, Jr.", "Müller", "van der Berg", "Núñez", "O'Connor",
        "Løvland", "Ó Súilleabháin", "Abu-Bakr", "Doe+Roe", "Lee <Admin>", 'Kim "KJ"', "Back\\Slash",
        "Semi;Colon", "Equals=Sign", "#Hash", "Żółć", "Nguyễn"]
PHONES = ["({a}) 555-{n:04d}", "{a}.555.{n:04d}", "+1 {a} 555 {n:04d}", "+1{a}555{n:04d}", "1-{a}-555-{n:04d}",
          "{a} 555 {n:04d}"]
CLIENT = ("peoplesync-population", "population-secret")
PHONE = "addresses[mediaType=PHONE,type=WORK]"


@dataclass
class Person:
    i: int
    eid: str
    first: str
    last: str
    email: str
    title: str
    phone: str  # as HR writes it
    e164: str
    manager: int | None
    badge: str

    @property
    def name(self) -> str:
        return f"{self.last}, {self.first} {self.i}"  # unique, a comma in every name (and so in every DN)


def generate(n: int, seed: int = 12) -> list[Person]:
    rnd = random.Random(seed)
    people = []
    for i in range(n):
        area, number = rnd.choice(["317", "212", "415"]), 100 + i
        people.append(Person(
            i=i, eid=f"E{10000 + i}", first=rnd.choice(FIRST), last=rnd.choice(LAST),
            email=f"person.{i}@corp.example", title=rnd.choice(["Engineer", "Agent", "Team Lead", "Director"]),
            phone=rnd.choice(PHONES).format(a=area, n=number), e164=f"+1{area}555{number:04d}",
            manager=(i - 1) // 6 if i else None, badge=f"B{900000 + i}"))
    return people


def configuration(hr_path: Path, slapd: Any, ou: str, pg_url: str, cloud_url: str) -> dict[str, Any]:
    """What an administrator writes from docs/configuration.md for these four systems."""
    return {
        "systems": {
            "hr": {"connector": "csv", "path": str(hr_path), "key": "Employee_ID", "writable": False,
                   "settle_seconds": 0},
            "directory": {"connector": "ldap", "flavor": "openldap", "url": slapd.ldaps_url, "ca_file": slapd.ca_file,
                          "base_dn": ou, "credentials": "secret:population/ldap", "reference": "dn",
                          "create_container": ou, "provision": True,
                          "object_classes": ["top", "person", "organizationalPerson", "inetOrgPerson"],
                          "rdn_from": ["displayName"]},
            "badges": {"connector": "sql", "url": pg_url, "table": "badge_holders", "key": "badge_holder_id",
                       "credentials": "secret:population/badges"},
            "cloud": {"connector": "genesys_cloud", "base_url": cloud_url, "credentials": "secret:population/cloud",
                      "provision": True, "requests_per_minute": 60000},  # the stand-in sets no budget
        },
        "fields": {
            "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "directory": "employeeNumber",
                                                     "badges": "employee_id", "cloud": "employerInfo.employeeId"}},
            "name": {"source": "hr", "map": {"hr": "Name", "directory": "displayName", "badges": "holder_name",
                                             "cloud": "name"}},
            "surname": {"source": "hr", "map": {"hr": "Last_Name", "directory": "sn"}},
            "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                           "map": {"hr": "Email", "directory": "mail", "badges": "email", "cloud": "email"}},
            "title": {"source": "hr", "map": {"hr": "Title", "directory": "title", "cloud": "title"}},
            "phone.work": {"source": "hr", "normalize": "e164",
                           "map": {"hr": "Phone", "directory": "telephoneNumber", "cloud": PHONE}},
            "badge": {"source": "badges", "map": {"badges": "badge_number", "directory": "roomNumber"}},
            "manager": {"source": "hr", "reference": "person", "ref_by": {"hr": "employee_id"},
                        "map": {"hr": "Manager_ID", "directory": "manager", "cloud": "manager"}},
        },
        "match": ["employee_id", "email.work"],
        "lifecycle": {"source": "hr"},
        "policies": {"max_changes_per_run": None},
    }


class Secrets:
    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.values[name])


@dataclass
class Population:
    """The four systems seeded with `people`, and the bridge between them."""

    people: list[Person]
    workdir: Path
    slapd: Any
    ldap: Connection  # the directory's administrator (not the connector)
    ou: str
    pg: Any  # tests.servers.postgres.PostgresServer
    dn: dict[int, str] = field(default_factory=dict)  # person -> DN of an entry seeded before the first sync
    cloud_ids: dict[int, str] = field(default_factory=dict)  # person -> cloud user seeded before the sync

    def start(self) -> Population:
        reset_caches()
        self.cloud_url, self.server = start_standin(clients=dict([CLIENT]))
        self.admin = sa.create_engine(self.pg.url_with_credentials())
        self._seed_hr()
        self._seed_ldap()
        self._seed_badges()
        self._seed_cloud()
        secrets = Secrets({"population/ldap": {"bind_dn": self.slapd.admin_dn, "password": self.slapd.admin_password},
                           "population/badges": self.pg.credentials,
                           "population/cloud": {"client_id": CLIENT[0], "client_secret": CLIENT[1]}})
        self.config = configuration(self.workdir / "hr.csv", self.slapd, self.ou, self.pg.url, self.cloud_url)
        self.store = bootstrap.sqlite_store(self.workdir / "state.sqlite3")  # the local run's own store
        self.bridge = bootstrap.local(self.config, store=self.store, secrets=secrets)
        return self

    def stop(self) -> None:
        self.server.stop()
        self.admin.dispose()
        reset_caches()

    # --- seeding: what the systems hold before the first sync -------------------------------------------
    def _seed_hr(self) -> None:
        rows = [{"Employee_ID": p.eid, "Name": p.name, "Last_Name": p.last, "Email": p.email, "Title": p.title,
                 "Phone": p.phone, "Manager_ID": self.people[p.manager].eid if p.manager is not None else ""}
                for p in self.people]
        random.Random(7).shuffle(rows)
        with (self.workdir / "hr.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def _seed_ldap(self) -> None:
        for p in self.people[::3]:  # a third exist; some stale
            dn = f"cn={escape_rdn(p.name)},{self.ou}"
            stale = p.i % 9 == 0
            attrs = {"sn": p.last, "displayName": p.name, "employeeNumber": p.eid, "mail": p.email,
                     "title": "Stale Title" if stale else p.title, "telephoneNumber": p.phone}
            assert self.ldap.add(dn, ["top", "person", "organizationalPerson", "inetOrgPerson"], attrs), \
                self.ldap.result
            self.dn[p.i] = dn
        for i, dn in self.dn.items():  # a wrong manager planted on some (someone else who exists)
            if i % 15 == 3:
                assert self.ldap.modify(dn, {"manager": [("MODIFY_REPLACE", [self.dn[0]])]}), self.ldap.result

    def _seed_badges(self) -> None:
        meta = sa.MetaData()
        table = sa.Table("badge_holders", meta, sa.Column("badge_holder_id", sa.Integer, primary_key=True),
                         sa.Column("employee_id", sa.String(20)), sa.Column("holder_name", sa.String(200)),
                         sa.Column("email", sa.String(200)), sa.Column("badge_number", sa.String(20)))
        meta.drop_all(self.admin)
        meta.create_all(self.admin)
        rows = [{"badge_holder_id": p.i + 1, "employee_id": p.eid,
                 "holder_name": p.name.upper() if p.i % 11 == 0 else p.name,
                 "email": f"old.{p.i}@corp.example" if p.i % 7 == 0 else p.email, "badge_number": p.badge}
                for p in self.people]
        dup = self.people[5]  # a second row carrying a linked employee id: a duplicate, to be held
        rows.append({"badge_holder_id": len(self.people) + 1, "employee_id": dup.eid, "holder_name": dup.name,
                     "email": dup.email, "badge_number": "B-DUPLICATE"})
        with self.admin.begin() as c:
            c.execute(sa.insert(table), rows)
        self.table = table

    def _seed_cloud(self) -> None:
        standin = self.server.standin
        for p in self.people[1::3]:  # another third exist in the cloud; stale e-mails and titles planted
            email = f"stale.{p.i}@corp.example" if p.i % 8 == 1 else p.email
            self.cloud_ids[p.i] = standin.add_user(
                p.name, email, title="Old Title" if p.i % 5 == 1 else p.title,
                employerInfo={"employeeId": p.eid},
                addresses=[{"address": p.e164, "mediaType": "PHONE", "type": "WORK"}])
        dup = self.people[4]  # a second cloud user carrying a linked employee id (dup is in the cloud already)
        self.duplicate_cloud_id = standin.add_user(f"{dup.name} (copy)", f"copy.{dup.i}@corp.example",
                                                   employerInfo={"employeeId": dup.eid})

    # --- what the systems hold after a sync ---------------------------------------------------------------
    def ldap_entries(self) -> dict[str, dict[str, Any]]:
        """employeeNumber -> the entry's DN and attributes, as the directory holds them."""
        self.ldap.search(self.ou, "(objectClass=inetOrgPerson)", SUBTREE,
                         attributes=["employeeNumber", "displayName", "mail", "title", "telephoneNumber",
                                     "manager", "roomNumber", "modifyTimestamp"])
        out = {}
        for r in self.ldap.response:
            if r["type"] != "searchResEntry":
                continue
            a = r["attributes"]
            out[str(a["employeeNumber"][0] if isinstance(a["employeeNumber"], list) else a["employeeNumber"])] = {
                "dn": r["dn"], **{k: (v[0] if isinstance(v, list) and v else (v or None)) for k, v in a.items()}}
        return out

    def badge_rows(self) -> list[dict[str, Any]]:
        with self.admin.connect() as c:
            return [dict(r._mapping) for r in c.execute(sa.select(self.table))]

    def badge_updates(self) -> int:
        """PostgreSQL's own count of rows updated in the table (its statistics, after a flush)."""
        with self.admin.connect() as c:
            c.exec_driver_sql("SELECT pg_stat_force_next_flush()")
            return int(c.exec_driver_sql("SELECT n_tup_upd + n_tup_ins FROM pg_stat_user_tables "
                                         "WHERE relname = 'badge_holders'").scalar() or 0)

    def cloud_users(self) -> dict[str, dict[str, Any]]:
        standin = self.server.standin
        return {uid: standin.user(uid) for uid in list(standin.users)}


def dn_key(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN compared as LDAP does: attribute names and values case-insensitively, escapes resolved."""
    return tuple((a.lower(), v.lower()) for a, v, _ in parse_dn(dn, escape=False))


def digits(phone: str | None) -> str | None:
    return re.sub(r"\D", "", phone)[-10:] if phone else None


def mismatches(pop: Population) -> dict[str, list[Any]]:
    """Every (system, field) where a target does not hold its source's value, with examples."""
    bad: dict[str, list[Any]] = {}

    def check(what: str, got: Any, want: Any, who: Person) -> None:
        if got != want:
            bad.setdefault(what, []).append((who.eid, got, want))

    entries = pop.ldap_entries()
    users = pop.cloud_users()
    by_eid = {u.get("employerInfo", {}).get("employeeId"): u for uid, u in users.items()
              if uid != pop.duplicate_cloud_id}
    rows = {r["employee_id"]: r for r in pop.badge_rows() if r["badge_number"] != "B-DUPLICATE"}
    for p in pop.people:
        e, u, r = entries.get(p.eid), by_eid.get(p.eid), rows[p.eid]
        manager = pop.people[p.manager] if p.manager is not None else None
        check("directory: account", e is not None, True, p)
        check("cloud: account", u is not None, True, p)
        if e is not None:
            for attr, want in (("displayName", p.name), ("mail", p.email), ("title", p.title),
                               ("roomNumber", p.badge)):
                check(f"directory.{attr}", e.get(attr), want, p)
            # one number in any spelling: a seeded entry keeps HR's format (equal after E.164: no write)
            check("directory.telephoneNumber", digits(e.get("telephoneNumber")), digits(p.e164), p)
            want_dn = entries[manager.eid]["dn"] if manager and manager.eid in entries else None
            check("directory.manager", e.get("manager") and dn_key(e["manager"]),
                  want_dn and dn_key(want_dn), p)
        if u is not None:
            phones = [a["address"] for a in u.get("addresses", []) if a.get("mediaType") == "PHONE"]
            for what, got, want in (("name", u.get("name"), p.name), ("email", u.get("email"), p.email),
                                    ("title", u.get("title"), p.title), ("phone", phones, [p.e164])):
                check(f"cloud.{what}", got, want, p)
            want_id = by_eid[manager.eid]["id"] if manager and manager.eid in by_eid else None
            check("cloud.manager", (u.get("manager") or {}).get("id"), want_id, p)
        check("badges.holder_name", r["holder_name"], p.name, p)
        check("badges.email", r["email"], p.email, p)
    return bad
