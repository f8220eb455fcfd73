"""A generated organisation through real servers (issue 12): OpenLDAP (slapd), PostgreSQL, an HR CSV export and
the Genesys Cloud stand-in over HTTP, with awkward names, mixed phone formats, stale values and duplicates
planted (tests/integration/population/world.py). The local run (`LocalBridge.sync`, SQLite state) syncs it
once, then again `--again` times (nothing changed: each must write nothing).

    python bench/population.py                    # 2,000 people
    python bench/population.py --people 5000 --again 3

Prints the first run (wall time, writes per system, accounts created), what every target holds against its
source (mismatches per system x field; managers included), the duplicates held, and the runs with nothing to
do: their median wall time is the baseline the first run is compared with (the same machine, the same run),
and each server's own count of changes during them (LDAP modifyTimestamp, the cloud's user versions,
PostgreSQL's n_tup_upd + n_tup_ins), which must be 0.
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldap3 import Connection, Server, Tls  # noqa: E402

from tests.integration.population.world import Population, generate, mismatches  # noqa: E402
from tests.servers import slapd as slapd_mod  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--again", type=int, default=3, help="runs with nothing changed, after the first")
    args = parser.parse_args()
    slapd, pg = slapd_mod.Slapd().start(), start_postgres()
    try:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=slapd.ca_file)
        admin = Connection(Server("127.0.0.1", port=slapd.tls_port, use_ssl=True, tls=tls), slapd.admin_dn,
                           slapd.admin_password, auto_bind=True, auto_referrals=False, return_empty_attributes=False)
        ou = f"ou=bench,{slapd.people}"
        assert admin.add(ou, ["top", "organizationalUnit"]), admin.result
        with tempfile.TemporaryDirectory(prefix="ps-population-") as tmp:
            pop = Population(generate(args.people), Path(tmp), slapd, admin, ou, pg).start()
            try:
                return report(pop, args)
            finally:
                pop.stop()
    finally:
        slapd.close()
        pg.stop()


def report(pop: Population, args: argparse.Namespace) -> int:
    n = args.people
    t0 = time.perf_counter()
    first = pop.bridge.sync()
    first_s = time.perf_counter() - t0
    bad = mismatches(pop)
    print(f"people: {n}; first run {first_s:.1f} s ({n / first_s:.0f} people/s); people created "
          f"{first.created}; writes {dict(sorted(first.writes.items()))}; errors {len(first.errors)}, "
          f"dead letters {first.dead_letters}")
    print(f"cloud accounts created by the bridge: {n - len(pop.cloud_ids)}; directory entries created: "
          f"{n - len(pop.dn)}")
    print("mismatches (system.field: count):", {k: len(v) for k, v in sorted(bad.items())} or "none")
    print("held for review:", [f"{r['system']}:{r['key']} ({', '.join(r.get('duplicate_of', []))})"
                               for r in pop.store.reviews()])
    seconds, writes, changed = [], 0, []
    for _ in range(args.again):
        ldap_before = {e["dn"]: e["modifyTimestamp"] for e in pop.ldap_entries().values()}
        versions = {uid: u["version"] for uid, u in pop.cloud_users().items()}
        pg_before = pop.badge_updates()
        t0 = time.perf_counter()
        again = pop.bridge.sync()
        seconds.append(time.perf_counter() - t0)
        writes += again.total_writes
        ldap_after = {e["dn"]: e["modifyTimestamp"] for e in pop.ldap_entries().values()}
        changed.append((sum(ldap_after[d] != t for d, t in ldap_before.items()),
                        sum(u["version"] != versions.get(uid) for uid, u in pop.cloud_users().items()),
                        pop.badge_updates() - pg_before))
    base = statistics.median(seconds)
    print(f"runs with nothing changed: median {base:.1f} s over {args.again} (min {min(seconds):.1f}); writes "
          f"{writes}; changed per server (ldap entries, cloud users, postgres rows) {changed}")
    print(f"first run / nothing-changed run: {first_s / base:.1f}x")
    ok = not bad and not first.errors and writes == 0 and all(c == (0, 0, 0) for c in changed)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
