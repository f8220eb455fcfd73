"""An in-process system: accounts in a dict. The writable two-way system of the tests and the demo.

Every account carries a version that rises at each change, reported as the observation's marker, as a real
directory's change counter would be. `fail_reads` / `fail_writes` make it behave like a system that is down.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from peoplesync.model import CREATE, DELETE, GROUP, PERSON, Observation, Write
from peoplesync.ports import Connector, PermanentError, ReadFailed, ReadResult, TransientError, WriteResult


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Initial accounts: key -> attrs")


class MemoryConnector(Connector):
    def __init__(self, name: str, attributes: list[str] | None = None, *, writable: bool = True,
                 accounts: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__(name, None, attributes or [], writable=writable)
        self.accounts: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self.fail_reads: Exception | None = None
        self.fail_writes: Exception | None = None
        self.fail_member_reads: str | None = None  # a group's member list cannot be read: the read fails
        self.writes: list[Write] = []  # every write applied, in order
        for key, attrs in (accounts or {}).items():
            self.put(key, **attrs)

    # --- what a person at that system's console would do ---------------------------------------------------
    def put(self, key: str, *, active: bool = True, ref: str | None = None, kind: str = PERSON, **attrs: Any
            ) -> None:
        self.accounts[key] = {"attrs": dict(attrs), "active": active, "ref": ref, "version": next(self._seq),
                              "kind": kind}

    def members(self, key: str, attr: str) -> set[Any]:
        """A group's members as a set (a console's view)."""
        value = self.accounts[key]["attrs"].get(attr)
        return set() if value is None else {value} if isinstance(value, str) else set(value)

    def set(self, key: str, **attrs: Any) -> None:
        account = self.accounts[key]
        account["attrs"].update(attrs)
        account["version"] = next(self._seq)

    def disable(self, key: str, active: bool = False) -> None:
        self.accounts[key]["active"] = active
        self.accounts[key]["version"] = next(self._seq)

    def remove(self, key: str) -> None:
        del self.accounts[key]

    def get(self, key: str, attr: str) -> Any:
        return self.accounts[key]["attrs"].get(attr)

    # --- the connector ------------------------------------------------------------------------------------
    def observation(self, key: str) -> Observation:
        a = self.accounts[key]
        attrs = {attr: a["attrs"].get(attr) for attr in self.attributes}
        if self.fail_member_reads is not None and a.get("kind", PERSON) == GROUP:
            raise ReadFailed(f"{self.name}: members of {key}: {self.fail_member_reads}")
        return Observation(self.name, key, attrs, active=a["active"], marker=a["version"], ref=a["ref"],
                           kind=a.get("kind", PERSON))

    def _read_full(self) -> ReadResult:
        if self.fail_reads is not None:
            raise ReadFailed(f"{self.name}: {self.fail_reads}")
        # people before groups, as the directory connectors read them: a group's members are linked by then
        keys = sorted(self.accounts, key=lambda k: (self.accounts[k].get("kind") == GROUP, k))
        return ReadResult([self.observation(k) for k in keys], complete=True)

    def read_keys(self, keys: list[str]) -> ReadResult | None:
        """These accounts as they are now (the ones that still exist)."""
        if self.fail_reads is not None:
            raise ReadFailed(f"{self.name}: {self.fail_reads}")
        return ReadResult([self.observation(k) for k in keys if k in self.accounts])

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        found = [k for k, a in self.accounts.items() if all(a["attrs"].get(n) == v for n, v in match.items())]
        return self.observation(found[0]) if len(found) == 1 else None

    def _apply(self, change: Write) -> WriteResult:
        if self.fail_writes is not None:
            raise self.fail_writes
        self.writes.append(change)
        if change.op == CREATE:
            key = f"{self.name}-{next(self._ids)}"
            self.put(key, kind=change.kind, **change.attrs)
            return WriteResult(key=key, marker=self.accounts[key]["version"])
        if change.key not in self.accounts:
            raise PermanentError(f"{self.name}: no account {change.key}")
        if change.op == DELETE:
            self.remove(change.key)
            return WriteResult(key=change.key)  # gone: no marker left to give
        if change.op in ("deactivate", "activate"):
            self.disable(change.key, change.op == "activate")
        else:
            self.set(change.key, **change.attrs, **self._applied(change))
        return WriteResult(key=change.key, marker=self.accounts[change.key]["version"])


    def _applied(self, change: Write) -> dict[str, Any]:
        """A member delta applied to the sets as they are: adding a present member or removing an absent one
        is no error (a delivery made twice changes nothing the second time)."""
        out = {}
        for attr, d in change.delta.items():
            have = self.members(change.key or "", attr)
            out[attr] = tuple(sorted((have | set(d.get("add", []))) - set(d.get("remove", []))))
        return out


def build(name: str, system: Any, attributes: list[str], secrets: Any = None) -> MemoryConnector:
    settings = Settings.model_validate(system.settings)
    writable = system.writable if system.writable is not None else True
    return MemoryConnector(name, attributes, writable=writable, accounts=settings.accounts)


__all__ = ["MemoryConnector", "Settings", "TransientError", "build"]
