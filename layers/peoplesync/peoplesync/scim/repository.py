"""Where the webhook keeps the identity provider's view: the `ScimRepository` port and its in-memory form.

A stored resource is the JSON document the IdP last left (no password: it is dropped before storing) plus
two counters the repository owns:
- `version`: bumped whenever the document changes; it is the ETag (`W/"<version>"`) and what `If-Match`
  and the optimistic lock compare;
- `seq`: bumped at every accepted write, including one that changes nothing. It is the peoplesync
  `marker`: each IdP sync of a user is a fresh observation (SPEC 8: the IdP's next sync re-asserts its
  mapped values) and a late, out-of-order one is recognisably older.

Lookups by value (`find`) cover the attributes the IdPs search by (`userName`, `externalId`,
`displayName`); values arrive already normalised by the caller (lower-cased where SCIM compares
case-insensitively). `UNIQUE` attributes are refused when another resource holds the same value.
"""

from __future__ import annotations

import builtins
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..ports import PeoplesyncError, VersionConflict

USER, GROUP = "User", "Group"
INDEXED: dict[str, tuple[str, ...]] = {USER: ("userName", "externalId"), GROUP: ("displayName", "externalId")}
UNIQUE: dict[str, tuple[str, ...]] = {USER: ("userName",), GROUP: ()}


class ResourceNotFound(PeoplesyncError):
    pass


class UniquenessConflict(PeoplesyncError):
    def __init__(self, attr: str) -> None:
        super().__init__(f"another resource already has this {attr}")
        self.attr = attr


@dataclass(slots=True, frozen=True)
class Stored:
    type: str
    id: str
    raw: str  # the JSON document, as stored
    version: int
    seq: int

    @property
    def doc(self) -> dict[str, Any]:
        """A fresh copy of the document (callers may change it freely)."""
        return json.loads(self.raw)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def key_moves(old: Mapping[str, str], new: Mapping[str, str]) -> Iterator[tuple[str, str | None, str | None]]:
    """(attribute, value before, value after) of each looked-up key whose value a write moves, in a stable
    order: what a store's lookup entries and unique claims must follow (None: no value on that side)."""
    for attr in sorted(set(old) | set(new)):
        before, after = old.get(attr), new.get(attr)
        if before != after:
            yield attr, before, after


class ScimRepository(ABC):
    """Resources by type and id, with versions, value lookups and uniqueness.

    `keys` maps each of `INDEXED[type]` the resource carries to its normalised value.
    `expected_version` (None: unconditional) is compared with the stored version; a mismatch raises
    `VersionConflict`. A missing resource raises `ResourceNotFound`; a taken unique value
    `UniquenessConflict`. A failed call changes nothing.
    """

    @abstractmethod
    def create(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str]) -> Stored: ...

    @abstractmethod
    def get(self, type_: str, id_: str) -> Stored | None: ...

    @abstractmethod
    def replace(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str],
                expected_version: int | None = None) -> Stored: ...

    @abstractmethod
    def touch(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        """Record an accepted write that changed nothing: `seq` moves on, `version` stays."""

    @abstractmethod
    def delete(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        """Remove a resource; return what it was, with `seq` moved on (the marker of its removal)."""

    @abstractmethod
    def list(self, type_: str) -> Iterator[Stored]:
        """Every resource of a type, ordered by id (a stable order for paging)."""

    @abstractmethod
    def find(self, type_: str, attr: str, value: str) -> builtins.list[Stored]:
        """Resources whose indexed `attr` has the (normalised) `value`, ordered by id."""

    def count(self, type_: str) -> int:
        return sum(1 for _ in self.list(type_))


class MemoryScimRepository(ScimRepository):
    """The reference implementation, for tests and a local run on a memory store (`peoplesync serve` on the
    default SQLite store keeps the view in its file: `adapters/scim_sqlite.py`). Thread-safe."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Stored]] = {USER: {}, GROUP: {}}
        self._keys: dict[tuple[str, str], dict[str, str]] = {}
        self._index: dict[tuple[str, str, str], set[str]] = {}
        self._sorted: dict[str, list[str] | None] = {}
        self._lock = threading.RLock()

    def create(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str]) -> Stored:
        with self._lock:
            items = self._items.setdefault(type_, {})
            if id_ in items:
                raise UniquenessConflict("id")
            self._check_unique(type_, id_, keys)
            stored = Stored(type_, id_, dumps(doc), 1, 1)
            items[id_] = stored
            self._reindex(type_, id_, keys)
            self._sorted[type_] = None
            return stored

    def get(self, type_: str, id_: str) -> Stored | None:
        return self._items.get(type_, {}).get(id_)

    def replace(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str],
                expected_version: int | None = None) -> Stored:
        with self._lock:
            old = self._current(type_, id_, expected_version)
            self._check_unique(type_, id_, keys)
            stored = Stored(type_, id_, dumps(doc), old.version + 1, old.seq + 1)
            self._items[type_][id_] = stored
            self._reindex(type_, id_, keys)
            return stored

    def touch(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        with self._lock:
            old = self._current(type_, id_, expected_version)
            stored = Stored(type_, id_, old.raw, old.version, old.seq + 1)
            self._items[type_][id_] = stored
            return stored

    def delete(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        with self._lock:
            old = self._current(type_, id_, expected_version)
            del self._items[type_][id_]
            self._reindex(type_, id_, {})
            self._sorted[type_] = None
            return Stored(type_, id_, old.raw, old.version, old.seq + 1)

    def list(self, type_: str) -> Iterator[Stored]:
        with self._lock:
            items = self._items.get(type_, {})
            order = self._sorted.get(type_)
            if order is None:
                order = self._sorted[type_] = sorted(items)
            snapshot = [items[i] for i in order]
        return iter(snapshot)

    def find(self, type_: str, attr: str, value: str) -> builtins.list[Stored]:
        with self._lock:
            items = self._items.get(type_, {})
            return [items[i] for i in sorted(self._index.get((type_, attr, value), ()))]

    def count(self, type_: str) -> int:
        return len(self._items.get(type_, {}))

    # --- internals --------------------------------------------------------------------------------------
    def _current(self, type_: str, id_: str, expected_version: int | None) -> Stored:
        old = self._items.get(type_, {}).get(id_)
        if old is None:
            raise ResourceNotFound(f"{type_} {id_} not found")
        if expected_version is not None and old.version != expected_version:
            raise VersionConflict(f"{type_} {id_} is at version {old.version}, not {expected_version}")
        return old

    def _check_unique(self, type_: str, id_: str, keys: Mapping[str, str]) -> None:
        for attr in UNIQUE.get(type_, ()):
            value = keys.get(attr)
            if value is not None and self._index.get((type_, attr, value), set()) - {id_}:
                raise UniquenessConflict(attr)

    def _reindex(self, type_: str, id_: str, keys: Mapping[str, str]) -> None:
        for attr, value in self._keys.pop((type_, id_), {}).items():
            self._index.get((type_, attr, value), set()).discard(id_)
        kept = {a: v for a, v in keys.items() if a in INDEXED.get(type_, ()) and v is not None}
        if kept:
            self._keys[(type_, id_)] = kept
        for attr, value in kept.items():
            self._index.setdefault((type_, attr, value), set()).add(id_)
