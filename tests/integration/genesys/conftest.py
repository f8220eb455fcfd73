"""The Genesys Cloud stand-in on 127.0.0.1 (a free port, one per test: it starts in milliseconds), a simulated
clock shared by the stand-in and the connector, and a factory for connectors pointed at it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from peoplesync.connectors.genesys import GenesysConnector, Settings
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.connectors.ratelimit import MemoryBucketStore
from peoplesync_dev.standins.genesys import GenesysStandin, StandinServer, start_standin

CLIENT_ID, CLIENT_SECRET = "peoplesync-bridge", "bridge-secret"
ATTRS = ["name", "email", "title", "department", "manager", "addresses[mediaType=PHONE,type=WORK]",
         "addresses[mediaType=EMAIL,type=HOME]", "employerInfo.employeeId", "employerInfo.dateHire", "locations"]


class SimClock:
    """Simulated time: `sleep` returns at once and moves the clock on. Shared by client and stand-in."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept += seconds

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


class Cloud:
    def __init__(self, base_url: str, server: StandinServer, clock: SimClock) -> None:
        self.base_url, self.server, self.clock = base_url, server, clock
        self.store = MemoryBucketStore()

    @property
    def standin(self) -> GenesysStandin:
        return self.server.standin

    def connector(self, attrs: list[str] | None = None, *, name: str = "cloud", real_clock: bool = False,
                  store: MemoryBucketStore | None = None, **settings: Any) -> GenesysConnector:
        timing = {} if real_clock else {"clock": self.clock, "sleep": self.clock.sleep}
        return GenesysConnector(name, Settings(base_url=self.base_url, **settings), attrs or ATTRS,
                                credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                                buckets=store or self.store, **timing)

    def hire(self, n: int, **fields: Any) -> str:
        """A user as the cloud would hold them: e-mail, employee id, title, work phone."""
        base = {"title": f"Title {n}", "employerInfo": {"employeeId": f"E{n}"},
                "addresses": [{"address": "+13175550100", "mediaType": "PHONE", "type": "WORK"}]}
        return self.standin.add_user(f"Person {n}", f"p{n}@corp.example", **{**base, **fields})


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


def start(clock: SimClock | None, **options: Any) -> Cloud:
    reset_caches()
    options.setdefault("clients", {CLIENT_ID: CLIENT_SECRET})
    if clock is not None:
        options["clock"] = clock
    base_url, server = start_standin(**options)
    return Cloud(base_url, server, clock or SimClock())


@pytest.fixture
def cloud(clock: SimClock) -> Iterator[Cloud]:
    c = start(clock)
    yield c
    c.server.stop()
    reset_caches()


@pytest.fixture
def cloud_factory(clock: SimClock) -> Iterator[Any]:
    """Start a stand-in with options (budget, window, token_ttl ...); all are stopped after the test."""
    started: list[Cloud] = []

    def make(real_clock: bool = False, **options: Any) -> Cloud:
        c = start(None if real_clock else clock, **options)
        started.append(c)
        return c

    yield make
    for c in started:
        c.server.stop()
    reset_caches()
