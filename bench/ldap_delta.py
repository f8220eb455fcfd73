"""LDAP connector: a delta poll after 10 changes in a 20,000-user directory, against a full read, same run.

For OpenLDAP (slapd, 20,000 inetOrgPerson entries bulk-loaded offline with slapadd) and Samba AD (2,000 users
by default, loaded offline into sam.ldb in one transaction through the system Python's samba bindings: loading
is the slow part, and 20,000 did not load in 16 minutes on a 2-core machine), it measures, median of --repeat:
- a full read (paged, mapped attributes only): seconds and entries per second (the baseline);
- a delta read from the cursor of that full read, after --changed entries were modified: seconds, entries read,
  and its share of the full read's time;
- a delta read when nothing changed.
The delta is repeated from the same cursor (the same changes are re-read), so every repetition does equal work.

    python bench/ldap_delta.py [--users 20000] [--samba-users 2000] [--changed 10] [--repeat 5]
                               [--only openldap|samba]

Samba needs root (fixed ports 389/636) and takes the same lock as the tests, so it waits for a running suite.
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ldap3 import MODIFY_REPLACE, Connection, Server, Tls

from peoplesync.connectors import ldap
from tests.servers.samba import SambaAD
from tests.servers.slapd import Slapd

ATTRS_OL = ["cn", "mail", "title", "telephoneNumber", "employeeNumber", "manager"]
ATTRS_AD = ["cn", "mail", "title", "telephoneNumber", "employeeID", "manager", "department"]


class Secrets:
    def __init__(self, bind_dn: str, password: str) -> None:
        self.value = {"bind_dn": bind_dn, "password": password}

    def get(self, name: str) -> dict[str, str]:
        return dict(self.value)


def timed(fn, repeat: int):
    runs, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), result


def raw_search(connector: ldap.LdapConnector) -> int:
    """The baseline: the same paged search through ldap3 alone, entries left as ldap3 decoded them."""
    conn = connector._open()
    try:
        return sum(1 for _ in connector._search(conn, connector.s.base_dn, connector.s.filter,
                                                connector._read_attrs()))
    finally:
        conn.unbind()


def measure(name: str, connector: ldap.LdapConnector, change, changed: int, repeat: int, users: int) -> dict:
    raw_s, raw_n = timed(lambda: raw_search(connector), repeat)
    assert raw_n == users
    full_s, full = timed(lambda: connector.read(full=True), repeat)
    assert len(full.observations) == users, (len(full.observations), users)
    cursor = full.cursor
    before = connector.stats["entries"]
    idle_s, _ = timed(lambda: connector.read(cursor), repeat)
    idle_entries = (connector.stats["entries"] - before) / repeat
    change(changed)
    before = connector.stats["entries"]
    delta_s, delta = timed(lambda: connector.read(cursor), repeat)
    delta_entries = (connector.stats["entries"] - before) / repeat
    row = {"server": name, "users": users, "raw_s": raw_s, "full_s": full_s, "full_eps": users / full_s,
           "delta_s": delta_s, "delta_entries": delta_entries, "delta_obs": len(delta.observations),
           "idle_s": idle_s, "idle_entries": idle_entries, "ratio": delta_s / full_s}
    print(f"{name:9} {users:>7,} users | ldap3 paged search alone {raw_s:7.3f} s | "
          f"full read {full_s:7.3f} s ({users / full_s:>8,.0f} entries/s, {full_s / raw_s:.2f}x the search) | "
          f"delta after {changed} changes {delta_s * 1000:7.1f} ms, {delta_entries:.0f} entries read "
          f"({delta_s / full_s:.2%} of full) | idle delta {idle_s * 1000:6.1f} ms, {idle_entries:.0f} entries",
          flush=True)
    return row


def openldap(users: int, changed: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ps-bench-slapd-") as tmp:
        server = Slapd(Path(tmp) / "slapd")
        ldif = Path(tmp) / "users.ldif"
        with ldif.open("w") as f:
            for i in range(users):
                f.write(f"dn: cn=user{i:05d},{server.people}\nobjectClass: inetOrgPerson\ncn: user{i:05d}\n"
                        f"sn: User {i}\nmail: user{i}@example.org\ntitle: Agent\ntelephoneNumber: +1 317 555 "
                        f"{i % 10000:04d}\nemployeeNumber: E{i:05d}\ndescription: not mapped, never read\n\n")
        t0 = time.perf_counter()
        server.load_offline(ldif)
        load_s = time.perf_counter() - t0
        print(f"openldap: slapadd of {users:,} entries took {load_s:.1f} s", flush=True)
        server.start()
        time.sleep(1.1)  # the load's entryCSNs are now clearly older than the cursor
        try:
            system = {"url": server.ldaps_url, "flavor": "openldap", "base_dn": server.people,
                      "ca_file": server.ca_file, "page_size": 1000, "credentials": "secret:x"}
            connector = ldap.LdapConnector.from_system("dir", system, ATTRS_OL,
                                                       secrets=Secrets(server.admin_dn, server.admin_password))
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=server.ca_file)
            admin = Connection(Server("127.0.0.1", port=server.tls_port, use_ssl=True, tls=tls), server.admin_dn,
                               server.admin_password, auto_bind=True)

            def change(n: int) -> None:
                for i in range(n):
                    dn = f"cn=user{i * (users // n):05d},{server.people}"
                    assert admin.modify(dn, {"title": [(MODIFY_REPLACE, ["Lead"])]}), admin.result

            row = measure("openldap", connector, change, changed, repeat, users)
            row["load_s"] = load_s
            return row
        finally:
            server.close()


def samba(users: int, changed: int, repeat: int) -> dict:
    if os.geteuid() != 0:
        raise SystemExit("Samba AD needs root (ports 389/636)")
    with tempfile.TemporaryDirectory(prefix="ps-bench-samba-") as tmp:
        server = SambaAD(Path(tmp) / "ad")
        ou = f"OU=Bench,{server.base_dn}"
        ldif = Path(tmp) / "users.ldif"
        with ldif.open("w") as f:
            f.write(f"dn: {ou}\nobjectClass: organizationalUnit\n\n")
            for i in range(users):
                f.write(f"dn: CN=User {i:05d},{ou}\nobjectClass: user\nmail: user{i}@example.test\n"
                        f"title: Agent\nemployeeID: E{i:05d}\ntelephoneNumber: +1 317 555 {i % 10000:04d}\n"
                        f"description: not mapped, never read\n\n")
        t0 = time.perf_counter()
        server.load_offline(ldif)  # one transaction straight into sam.ldb: over LDAP it is ~10x slower
        load_s = time.perf_counter() - t0 - server.provision_seconds
        print(f"samba: provision {server.provision_seconds:.1f} s, offline load of {users:,} users {load_s:.1f} s "
              f"({users / load_s:.0f}/s)", flush=True)
        server.start()
        try:
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=server.ca_file, valid_names=[server.tls_name])
            admin = Connection(Server("127.0.0.1", port=636, use_ssl=True, tls=tls), server.admin_dn,
                               server.admin_password, auto_bind=True)
            system = {"url": server.ldaps_url, "flavor": "active_directory", "base_dn": ou,
                      "ca_file": server.ca_file, "tls_server_name": server.tls_name, "page_size": 1000,
                      "credentials": "secret:x"}
            connector = ldap.LdapConnector.from_system("ad", system, ATTRS_AD,
                                                       secrets=Secrets(server.admin_dn, server.admin_password))

            def change(n: int) -> None:
                for i in range(n):
                    dn = f"CN=User {i * (users // n):05d},{ou}"
                    assert admin.modify(dn, {"title": [(MODIFY_REPLACE, ["Lead"])]}), admin.result

            row = measure("samba-ad", connector, change, changed, repeat, users)
            row["load_s"] = load_s
            admin.unbind()
            return row
        finally:
            server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=20_000)
    # Samba's own add path (every module of a DC runs per entry) loads ~100 users/s at first and slows as the
    # OU grows: 2,000 load in ~20 s, 20,000 did not finish in 16 minutes here. Hence the smaller default.
    p.add_argument("--samba-users", type=int, default=2_000)
    p.add_argument("--changed", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--only", choices=["openldap", "samba"])
    a = p.parse_args()
    if a.only in (None, "openldap"):
        openldap(a.users, a.changed, a.repeat)
    if a.only in (None, "samba"):
        samba(a.samba_users, a.changed, a.repeat)


if __name__ == "__main__":
    main()
