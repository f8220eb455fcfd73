"""An in-memory LDAP directory for the demo: the real `ldap` connector over ldap3's mock server.

For the demo only (`connector: ldap_memory`): it needs nothing installed, keeps its entries in the process,
and writes them back to its seed file when a run closes it, so the next command finds the directory as it was
left. The connector code that reads and writes is the real one; what the mock cannot do is left out, and the
tests run the connector against real slapd and Samba AD instead:
- no root DSE, no syncprov, no operational attributes that move: the flavour is `generic`, every poll is a full
  read (`full_read_every: 0s`), and each entry's `entryUUID` and `modifyTimestamp` come from the seed file;
- no TLS and no password check beyond the mock's own.
Seed file (JSON): {"base_dn": "...", "entries": [{"dn": "...", "attributes": {...}}, ...]}.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from peoplesync.connectors.ldap import LdapConnector
from peoplesync.connectors.ldap import Settings as LdapSettings

ADMIN = "cn=admin,dc=example,dc=org"
SECRET = "in-memory"  # noqa: S105 - the mock's own bind password: nothing real is behind it
_directories: dict[str, Any] = {}  # seed path -> the mock connection holding its entries (one per process)
_lock = threading.Lock()


class Settings(LdapSettings):
    model_config = ConfigDict(extra="forbid")
    url: str = Field("ldaps://in-memory", description="Unused: the directory lives in this process")
    seed: str = Field(description="JSON file with the directory's entries (relative to the configuration)")
    flavor: Any = "generic"
    full_read_every: str = "0s"


class MemoryLdapConnector(LdapConnector):
    Settings = Settings  # the seed file besides the ldap keys
    def _open(self) -> Any:
        seed = self.s.seed  # type: ignore[attr-defined]
        with _lock:
            conn = _directories.get(seed)
            if conn is None:
                conn = _directories[seed] = _load(seed)
            if conn.closed:  # the connector closes its connection after each poll, as with a real server
                conn.open()
                conn.bind()
        self.stats["binds"] += 1
        return conn

    def close(self) -> None:
        """Also keep the directory in its seed file, so the next command (another process) finds it as this
        one left it, as a real directory would be."""
        super().close()
        seed = self.s.seed  # type: ignore[attr-defined]
        if seed in _directories:
            data = json.loads(Path(seed).read_text())
            data["entries"] = [{"dn": dn, "attributes": {k: (v[0] if len(v) == 1 else v) for k, v in attrs.items()}}
                               for dn, attrs in entries(seed).items() if dn.lower() != ADMIN]
            Path(seed).write_text(json.dumps(data, indent=1) + "\n")


def _load(seed: str) -> Any:
    from ldap3 import MOCK_SYNC, Connection, Server

    data = json.loads(Path(seed).read_text())
    conn = Connection(Server("in-memory"), user=ADMIN, password=SECRET, client_strategy=MOCK_SYNC)
    conn.strategy.add_entry(ADMIN, {"userPassword": SECRET, "sn": "admin"})
    for entry in data["entries"]:
        conn.strategy.add_entry(entry["dn"], entry["attributes"])
    conn.bind()
    return conn


def entries(seed: str) -> dict[str, dict[str, Any]]:
    """The directory as it is now (for the demo's narration and tests): DN -> attributes."""
    conn = _directories[seed]
    return {dn: {k: [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in e.items()}
            for dn, e in conn.strategy.entries.items()}


def edit(seed: str, dn: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
    """An administrator's change to a group's members (the demo's narration): `member` values added and removed,
    and the entry's modifyTimestamp moved on, as a real server would."""
    import time

    from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

    with _lock:
        conn = _directories.get(seed) or _directories.setdefault(seed, _load(seed))
        if conn.closed:
            conn.open()
            conn.bind()
        changes: dict[str, Any] = {"modifyTimestamp": [(MODIFY_REPLACE, [time.strftime("%Y%m%d%H%M%SZ",
                                                                                     time.gmtime())])]}
        changes["member"] = [(op, list(values)) for op, values in ((MODIFY_ADD, add), (MODIFY_DELETE, remove))
                             if values]
        if not conn.modify(dn, changes):
            raise RuntimeError(f"in-memory directory: {conn.result}")


def forget(seed: str) -> None:
    _directories.pop(seed, None)


def build(name: str, system_config: Any, attributes: list[str], secrets: Any = None) -> MemoryLdapConnector:
    settings = Settings.model_validate(system_config.settings)
    writable = system_config.writable if system_config.writable is not None else True
    return MemoryLdapConnector(name, settings, attributes, writable=writable, credentials=None)
