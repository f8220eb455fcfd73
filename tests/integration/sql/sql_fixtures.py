"""Helpers shared by the SQL connector tests (named uniquely: test directories are not packages)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root, for tests.servers

sa = pytest.importorskip("sqlalchemy")

from peoplesync.config import SystemConfig  # noqa: E402
from peoplesync.connectors import sql  # noqa: E402

T0 = datetime(2024, 1, 1, 9, 0, 0)
MAPPED = ["badge_number", "display_name", "employee_id"]


class DictSecrets:
    """A SecretsPort over a dict (Secrets Manager's role in these tests)."""

    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, name: str) -> dict[str, Any]:
        self.asked.append(name)
        return dict(self.values[name])




@dataclass
class Db:
    kind: str
    url: str  # without credentials
    admin: Any  # an SQLAlchemy engine with full rights, to arrange and inspect
    secrets: DictSecrets
    table: Any

    def connector(self, attributes: list[str] | None = None, *, credentials: bool = True,
                  writable: bool | None = None, **settings: Any) -> sql.SqlConnector:
        settings.setdefault("table", "badge_holders")
        settings.setdefault("key", "badge_holder_id")
        conf = SystemConfig(connector="sql", url=self.url, writable=writable,
                            credentials="secret:peoplesync/badges" if credentials and self.kind == "pg" else None,
                            **settings)
        return sql.SqlConnector.from_system("badges", conf, MAPPED if attributes is None else attributes,
                                             secrets=self.secrets)

    def rows(self) -> dict[int, dict[str, Any]]:
        with self.admin.connect() as c:
            return {r.badge_holder_id: dict(r._mapping) for r in c.execute(sa.select(self.table))}

    def execute(self, stmt: Any) -> None:
        with self.admin.begin() as c:
            c.execute(stmt)

    def touch(self, holder_id: int, seconds: int, **values: Any) -> None:
        self.execute(sa.update(self.table).where(self.table.c.badge_holder_id == holder_id)
                     .values(updated_at=T0 + timedelta(seconds=seconds), **values))


def badge_table(metadata: Any) -> Any:
    return sa.Table(
        "badge_holders", metadata,
        sa.Column("badge_holder_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("employee_id", sa.String(20)),
        sa.Column("badge_number", sa.String(20)),
        sa.Column("display_name", sa.String(200)),
        sa.Column("site", sa.String(50)),  # never mapped: the bridge must leave it alone
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime, index=True),
    )


def seed_rows(n: int = 5) -> list[dict[str, Any]]:
    return [{"badge_holder_id": i, "employee_id": f"E{i:03d}", "badge_number": f"B-{1000 + i}",
             "display_name": f"Person {i}", "site": "HQ", "active": True, "updated_at": T0 + timedelta(seconds=i)}
            for i in range(1, n + 1)]
