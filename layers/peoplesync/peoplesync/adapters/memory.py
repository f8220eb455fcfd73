"""In-process state store: the reference implementation of `StateStore`, and the engine's fake in tests.

The SQLite and DynamoDB stores must behave exactly like this one; `tests/contract` holds them to it.
Records are kept as dicts (what `RecordState.to_dict` gives), so a loaded record never aliases a stored one.

Index semantics, derived from each saved record and nothing else:
- link: (kind, system, key) -> record, from `shadows[system].key`;
- ref: (kind, system, ref.lower()) -> record, from `shadows[system].ref` (or the key when ref is None);
- value: (kind, field, value) -> records, from `keys[field]` (values the engine says identify the record).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..model import RecordState
from ..ports import LinkDigest, VersionConflict, digests_of, owed_systems


def index_entries(state: RecordState) -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]],
                                                set[tuple[str, str, str]]]:
    """The (links, refs, values) index entries a record contributes. Shared by every store."""
    links = {(state.kind, system, s.key) for system, s in state.shadows.items()}
    refs = {(state.kind, system, (s.ref or s.key).lower()) for system, s in state.shadows.items()}
    values = {(state.kind, f, value_key(v)) for f, vs in state.keys.items() for v in vs}
    return links, refs, values


class LoadedLookups:
    """`ref_of` and `value_of` for a store that can load a record: both are read off the record itself, so
    nothing is stored twice. Shared by the SQLite and DynamoDB stores."""

    def load(self, record_id: str) -> RecordState | None:
        raise NotImplementedError

    def ref_of(self, record_id: str, system: str) -> str | None:
        state = self.load(record_id)
        shadow = state.shadows.get(system) if state else None
        return (shadow.ref or shadow.key) if shadow else None

    def value_of(self, record_id: str, field: str) -> Any:
        state = self.load(record_id)
        return state.golden.get(field) if state else None

    def linked_ids(self, kind: str, system: str) -> Iterator[str]:
        raise NotImplementedError

    def linked_accounts(self, kind: str, system: str, after: str | None = None) -> Iterator[tuple[str, str | None]]:
        """Every record `linked_ids` names, its key left for the caller to read off the record."""
        return ((rid, None) for rid in self.linked_ids(kind, system) if after is None or rid > after)

    def by_link(self, kind: str, system: str, key: str) -> str | None:
        raise NotImplementedError

    def load_many(self, record_ids: Iterable[str]) -> dict[str, RecordState]:
        raise NotImplementedError

    def owing(self, system: str, record_ids: Iterable[str]) -> set[str]:
        """Every one of them: telling which owe `system` a write would mean loading them (the delivery does)."""
        return set(record_ids)

    def link_digests(self, kind: str, system: str, keys: Iterable[str] | None = None) -> dict[str, LinkDigest]:
        """The port's digests read off the records themselves (DynamoDB: no digest on its link items yet): the
        same answer as an index would give, at the cost of loading the records."""
        if keys is None:
            ids = list(self.linked_ids(kind, system))
        else:
            ids = [rid for rid in (self.by_link(kind, system, key) for key in dict.fromkeys(keys)) if rid]
        out: dict[str, LinkDigest] = {}
        for start in range(0, len(ids), 500):
            for state in self.load_many(ids[start:start + 500]).values():
                shadow = state.shadows.get(system)
                if shadow is not None and state.kind == kind:
                    out[shadow.key] = digests_of(state)[(kind, system, shadow.key)]
        return out


def value_key(value: Any) -> str:
    """The string a value is indexed under: values are scalars, compared by their text."""
    return str(value)


class MemoryStore:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._links: dict[tuple[str, str, str], str] = {}
        self._refs: dict[tuple[str, str, str], str] = {}
        self._values: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._digests: dict[tuple[str, str, str], LinkDigest] = {}  # link -> its digests (the poll's pre-screen)
        self._cursors: dict[str, str | None] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._reviews: dict[str, dict[str, Any]] = {}
        self._decisions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()

    # --- records ----------------------------------------------------------------------------------------
    def load(self, record_id: str) -> RecordState | None:
        d = self._records.get(record_id)
        return RecordState.from_dict(copy.deepcopy(d)) if d is not None else None

    def load_many(self, record_ids: Iterable[str]) -> dict[str, RecordState]:
        return {rid: s for rid in dict.fromkeys(record_ids) if (s := self.load(rid)) is not None}

    def expect_links(self, links: Iterable[tuple[str, str, str]]) -> None:
        """Every look-up is a dict's: nothing to read ahead (`ports.StateStore.expect_links`)."""

    def expect_records(self, record_ids: Iterable[str]) -> None:
        """Every load is a dict's: nothing to read ahead (`ports.StateStore.expect_records`)."""

    def keep(self, state: RecordState) -> None:
        """Nothing kept: a load copies the stored dict (`ports.StateStore.keep`)."""

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Each save is applied at once: a batch groups nothing here (see `ports.StateStore.batch`)."""
        return contextlib.nullcontext()

    def save(self, state: RecordState) -> None:
        with self._lock:
            old = self._records.get(state.id)
            stored_version = old["version"] if old is not None else 0
            if stored_version != state.version:
                raise VersionConflict(f"record {state.id} is at version {stored_version}, not {state.version}")
            if old is not None:
                self._unindex(RecordState.from_dict(old))
            new = state.to_dict()
            new["version"] = state.version + 1
            for entry in index_entries(state)[0]:
                holder = self._links.get(entry)
                if holder is not None and holder != state.id:
                    if old is not None:
                        self._index(RecordState.from_dict(old))
                    raise VersionConflict(f"account {entry[1]}:{entry[2]} is already linked to {holder}")
            self._records[state.id] = copy.deepcopy(new)
            self._index(state)
            state.version += 1

    def _index(self, state: RecordState) -> None:
        links, refs, values = index_entries(state)
        for e in links:
            self._links[e] = state.id
        self._digests.update(digests_of(state))
        for e in refs:
            self._refs[e] = state.id
        for e in values:
            self._values[e].add(state.id)

    def _unindex(self, state: RecordState) -> None:
        links, refs, values = index_entries(state)
        for e in links:
            if self._links.get(e) == state.id:
                del self._links[e]
                self._digests.pop(e, None)
        for e in refs:
            if self._refs.get(e) == state.id:
                del self._refs[e]
        for e in values:
            self._values[e].discard(state.id)

    def all_ids(self, kind: str) -> Iterator[str]:
        return iter(sorted(rid for rid, d in self._records.items() if d.get("kind") == kind))

    def count(self, kind: str) -> int:
        return sum(1 for d in self._records.values() if d.get("kind") == kind)

    def linked_ids(self, kind: str, system: str) -> Iterator[str]:
        with self._lock:
            return iter(sorted({rid for (k, s, _), rid in self._links.items() if k == kind and s == system}))

    def linked_accounts(self, kind: str, system: str, after: str | None = None) -> Iterator[tuple[str, str | None]]:
        with self._lock:
            return iter(sorted((rid, k) for (kd, s, k), rid in self._links.items() if kd == kind and s == system
                               and (after is None or rid > after) and not self._removed((kd, s, k))))

    def _removed(self, link: tuple[str, str, str]) -> bool:
        digest = self._digests.get(link)
        return digest is not None and digest.removed

    def link_digests(self, kind: str, system: str, keys: Iterable[str] | None = None) -> dict[str, LinkDigest]:
        with self._lock:
            if keys is None:
                return {k: d for (kd, s, k), d in self._digests.items() if kd == kind and s == system}
            return {k: d for k in keys if (d := self._digests.get((kind, system, k))) is not None}

    def owing(self, system: str, record_ids: Iterable[str]) -> set[str]:
        with self._lock:
            return {rid for rid in record_ids
                    if (d := self._records.get(rid)) is not None and system in owed_systems(RecordState.from_dict(d))}

    # --- RecordIndex --------------------------------------------------------------------------------------
    def by_link(self, kind: str, system: str, key: str) -> str | None:
        return self._links.get((kind, system, key))

    def by_ref(self, kind: str, system: str, ref: str) -> str | None:
        return self._refs.get((kind, system, ref.lower()))

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        return set(self._values.get((kind, field, value_key(value)), ()))

    def ref_of(self, record_id: str, system: str) -> str | None:
        d = self._records.get(record_id)
        shadow = d["shadows"].get(system) if d else None
        return (shadow.get("ref") or shadow["key"]) if shadow else None

    def value_of(self, record_id: str, field: str) -> Any:
        d = self._records.get(record_id)
        value = d["golden"].get(field) if d else None
        return tuple(value) if isinstance(value, list) else value

    # --- cursors, meta, reviews, decisions ----------------------------------------------------------------
    def get_cursor(self, system: str) -> str | None:
        return self._cursors.get(system)

    def put_cursor(self, system: str, cursor: str | None) -> None:
        self._cursors[system] = cursor

    def get_meta(self, name: str) -> dict[str, Any] | None:
        value = self._meta.get(name)
        return copy.deepcopy(value) if value is not None else None

    def put_meta(self, name: str, value: Mapping[str, Any]) -> None:
        self._meta[name] = copy.deepcopy(dict(value))

    def add_review(self, item_id: str, item: Mapping[str, Any]) -> None:
        self._reviews[item_id] = copy.deepcopy(dict(item))

    def reviews(self) -> list[dict[str, Any]]:
        return [dict(v, id=k) for k, v in sorted(self._reviews.items())]

    def remove_review(self, item_id: str) -> None:
        self._reviews.pop(item_id, None)

    def record_decisions(self, record_id: str, decisions: list[dict[str, Any]], at: float) -> None:
        self._decisions[record_id].extend(copy.deepcopy(dict(d, at=at)) for d in decisions)

    def decisions(self, record_id: str, field: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self._decisions.get(record_id, []) if field is None or d["field"] == field]
