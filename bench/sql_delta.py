"""SQL connector delta reads: 100,000 rows, 100 changed between polls, on PostgreSQL and SQLite.

For each database it measures (median of --repeat runs, each on fresh changes):
- a full read of every row (the baseline);
- a watermark delta (`WHERE updated_at >= :last`, an index on the column): should read on the order of the
  100 changed rows, so it is a small fraction of the full read;
- a hash delta (no watermark: full scan, hash every row, compare with the hashes in the cursor);
and reports the rows each returned, the ratio to the full read in the same run, and the cursor sizes.

    python bench/sql_delta.py [--rows 100000] [--changed 100] [--repeat 5] [--only sqlite|postgresql]

PostgreSQL is started from the same throwaway-cluster helper the tests use (needs the server binaries).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from peoplesync.connectors import sql

T0 = datetime(2024, 1, 1)
ATTRS = ["badge_number", "display_name", "employee_id"]


def make_table(engine: sa.Engine, rows: int) -> sa.Table:
    md = sa.MetaData()
    table = sa.Table("badge_holders", md,
                     sa.Column("badge_holder_id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("employee_id", sa.String(20)), sa.Column("badge_number", sa.String(20)),
                     sa.Column("display_name", sa.String(200)), sa.Column("site", sa.String(50)),
                     sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
                     sa.Column("updated_at", sa.DateTime, index=True))
    md.drop_all(engine)
    md.create_all(engine)
    batch = 10_000
    with engine.begin() as c:
        for start in range(1, rows + 1, batch):
            c.execute(sa.insert(table), [
                {"badge_holder_id": i, "employee_id": f"E{i:06d}", "badge_number": f"B-{i}",
                 "display_name": f"Person {i}", "site": "HQ", "active": True,
                 "updated_at": T0 + timedelta(seconds=i)}
                for i in range(start, min(start + batch, rows + 1))])
        if engine.dialect.name == "postgresql":
            c.exec_driver_sql("ANALYZE badge_holders")
    return table


def change(engine: sa.Engine, table: sa.Table, rows: int, changed: int, round_no: int) -> None:
    step = max(1, rows // changed)
    ids = [1 + (k * step + round_no) % rows for k in range(changed)]
    stamp = T0 + timedelta(days=400 + round_no)
    with engine.begin() as c:
        c.execute(sa.update(table).where(table.c.badge_holder_id.in_(ids))
                  .values(badge_number=sa.func.concat("R", str(round_no), "-", table.c.badge_holder_id)
                          if engine.dialect.name == "postgresql"
                          else ("R" + str(round_no) + "-") + sa.cast(table.c.badge_holder_id, sa.String),
                          updated_at=stamp))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(name: str, url: str, admin_url: str, secrets: dict | None, rows: int, changed: int, repeat: int) -> dict:
    engine = sa.create_engine(admin_url)
    t_setup, table = timed(lambda: make_table(engine, rows))
    print(f"[{name}] {rows} rows loaded in {t_setup:.1f} s", flush=True)

    class Secrets:
        def get(self, _name: str) -> dict:
            return dict(secrets or {})

    from peoplesync.config import SystemConfig

    def connector(**settings):
        conf = SystemConfig(connector="sql", url=url, table="badge_holders", key="badge_holder_id",
                            credentials="secret:bench" if secrets else None, **settings)
        return sql.SqlConnector.from_system("badges", conf, ATTRS, secrets=Secrets())

    wm, hashed = connector(watermark="updated_at", active_column="active"), connector(active_column="active")
    wm_cursor = wm.read().cursor
    hash_cursor = hashed.read().cursor
    full_t, wm_t, hash_t, wm_n, hash_n = [], [], [], [], []
    for r in range(repeat):
        t, res = timed(lambda: wm.read(full=True))
        full_t.append(t)
        assert len(res.observations) == rows
        change(engine, table, rows, changed, r)
        t, res = timed(lambda c=wm_cursor: wm.read(c))
        wm_t.append(t)
        wm_n.append(len(res.observations))
        wm_cursor = res.cursor
        t, res = timed(lambda c=hash_cursor: hashed.read(c))
        hash_t.append(t)
        hash_n.append(len(res.observations))
        hash_cursor = res.cursor
    engine.dispose()
    sql.dispose_engines()
    full, w, h = statistics.median(full_t), statistics.median(wm_t), statistics.median(hash_t)
    out = {"db": name, "rows": rows, "changed": changed, "full_s": full, "watermark_s": w, "hash_s": h,
           "watermark_rows": statistics.median(wm_n), "hash_rows": statistics.median(hash_n),
           "watermark_cursor_bytes": len(wm_cursor), "hash_cursor_bytes": len(hash_cursor)}
    print(f"[{name}] full read          {full * 1000:9.1f} ms  {rows} rows  (baseline 1.00)")
    print(f"[{name}] watermark delta    {w * 1000:9.1f} ms  {out['watermark_rows']:.0f} rows  "
          f"ratio {w / full:.3f}  cursor {len(wm_cursor)} B")
    print(f"[{name}] hash delta         {h * 1000:9.1f} ms  {out['hash_rows']:.0f} rows  "
          f"ratio {h / full:.3f}  cursor {len(hash_cursor) / 1024:.0f} KiB")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--changed", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    results = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{d}/badges.db"
            results.append(run("sqlite", url, url, None, args.rows, args.changed, args.repeat))
    if args.only in (None, "postgresql"):
        from tests.servers.postgres import bin_dir, start_postgres

        if bin_dir() is None:
            print("[postgresql] skipped: server binaries not installed (apt-get install postgresql)")
        else:
            server = start_postgres()
            try:
                results.append(run("postgresql", server.url, server.url_with_credentials(), server.credentials,
                                   args.rows, args.changed, args.repeat))
            finally:
                server.stop()
    print("\nmedians of", args.repeat, "runs; ratio = delta time / full-read time in the same run")


if __name__ == "__main__":
    main()
