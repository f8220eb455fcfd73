"""A small world of in-memory systems around the engine, for the SPEC scenarios at engine level."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync_dev.memory import MemoryConnector

BASE: dict[str, Any] = {
    "systems": {
        "ad": {"connector": "memory"},
        "hr": {"connector": "memory", "writable": False},
        "cloud": {"connector": "memory"},
    },
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                 "cloud": "employerInfo.employeeId"}},
        "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                       "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
        "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
        "email.personal": {"source": "cloud", "map": {"cloud": "addresses[mediaType=EMAIL,type=HOME]",
                                                      "ad": "otherMailbox"}},
        "phone.work": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                       "map": {"ad": "telephoneNumber", "cloud": "addresses[mediaType=PHONE,type=WORK]"}},
        "manager": {"source": "ad", "reference": "person", "map": {"ad": "manager", "cloud": "manager"}},
    },
    "match": ["employee_id", "email.work"],
    "lifecycle": {"source": "hr"},
    "policies": {"max_changes_per_run": None},
}


class World:
    """Systems as dicts (MemoryConnector), the bridge in between; `sync()` is one scheduled run."""

    def __init__(self, config: dict[str, Any], store: MemoryStore | None = None) -> None:
        self.config = config
        self.plan = compile_config(load_config(config))
        self.store = store or MemoryStore()
        self.systems = {
            name: MemoryConnector(name, system_attributes(self.plan, name),
                                  writable=self.plan.systems[name].writable)
            for name, sp in self.plan.systems.items() if not sp.push
        }
        self.bridge = self._bridge()

    def _bridge(self) -> bootstrap.LocalBridge:
        return bootstrap.local(self.plan, store=self.store, connectors=self.systems, sleep=lambda s: None)

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.config = config
        self.plan = compile_config(load_config(config))
        for name, c in self.systems.items():
            c.attributes = system_attributes(self.plan, name)
        self.bridge = self._bridge()

    def sync(self, **kw: Any):
        return self.bridge.sync(**kw)

    def __getitem__(self, system: str) -> MemoryConnector:
        return self.systems[system]

    def record_of(self, system: str, key: str):
        rid = self.store.by_link("person", system, key)
        return self.store.load(rid) if rid else None


def config(**changes: Any) -> dict[str, Any]:
    """BASE with top-level sections replaced/merged: config(fields={...}) merges field by field."""
    c = copy.deepcopy(BASE)
    for section, value in changes.items():
        if isinstance(value, dict) and isinstance(c.get(section), dict):
            c[section].update(value)
        else:
            c[section] = value
    return c


@pytest.fixture
def world() -> World:
    return World(config())


def hire(w: World, n: int = 1, **extra: Any) -> None:
    """Given: worker n exists in HR, AD (with a DN) and the cloud, already in agreement."""
    w["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
    ad = {"employeeID": f"E{n}", "mail": f"p{n}@corp.example", "title": f"Title {n}",
          "telephoneNumber": "+13175550100", **extra.get("ad", {})}
    w["ad"].put(f"guid-{n}", ref=f"CN=Person {n},OU=Staff,DC=corp", **ad)
    w["cloud"].put(f"u{n}", **{"employerInfo.employeeId": f"E{n}", "email": f"p{n}@corp.example",
                               "title": f"Title {n}", "addresses[mediaType=PHONE,type=WORK]": "+13175550100",
                               **extra.get("cloud", {})})
