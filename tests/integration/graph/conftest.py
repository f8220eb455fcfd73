"""The Microsoft Graph stand-in on 127.0.0.1 (a free port per test), a simulated clock shared by the stand-in and
the connector, and a factory for `graph` connectors pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from peoplesync.connectors.base import forget_tokens
from peoplesync.connectors.graph import GraphConnector, Settings
from peoplesync.connectors.ratelimit import MemoryBucketStore
from peoplesync_dev.standins.graph import GraphStandin, StandinServer, start_standin
from tests.integration.genesys.conftest import SimClock

CLIENT_ID, CLIENT_SECRET = "peoplesync-app", "app-secret"
ATTRS = ["userPrincipalName", "employeeId", "jobTitle", "displayName", "members"]


class Tenant:
    def __init__(self, base_url: str, server: StandinServer, clock: SimClock) -> None:
        self.base_url, self.server, self.clock = base_url, server, clock

    @property
    def g(self) -> GraphStandin:
        return self.server.standin

    def settings(self, **settings: Any) -> Settings:
        return Settings(tenant_id=self.g.tenant, graph_url=f"{self.base_url}/v1.0", login_url=self.base_url,
                        **settings)

    def connector(self, attrs: list[str] | None = None, *, secret: str = CLIENT_SECRET, writable: bool = True,
                  **settings: Any) -> GraphConnector:
        return GraphConnector("entra", self.settings(**settings), attrs or ATTRS, writable=writable,
                              credentials={"client_id": CLIENT_ID, "client_secret": secret},
                              buckets=MemoryBucketStore(), clock=self.clock, sleep=self.clock.sleep)

    def people(self, n: int, start: int = 0) -> list[str]:
        return [self.g.add_user(displayName=f"Person {i}", userPrincipalName=f"p{i}@contoso.example",
                                employeeId=f"E{i}", jobTitle="Agent") for i in range(start, start + n)]


@pytest.fixture
def tenant_factory() -> Iterator[Any]:
    started: list[Tenant] = []

    def make(**options: Any) -> Tenant:
        forget_tokens()
        clock = SimClock()
        options.setdefault("clients", {CLIENT_ID: CLIENT_SECRET})
        base_url, server = start_standin(clock=clock, **options)
        started.append(Tenant(base_url, server, clock))
        return started[-1]

    yield make
    for t in started:
        t.server.stop()
    forget_tokens()


@pytest.fixture
def tenant(tenant_factory: Any) -> Tenant:
    return tenant_factory(delta_page=40, member_slice=100)  # type: ignore[no-any-return]
