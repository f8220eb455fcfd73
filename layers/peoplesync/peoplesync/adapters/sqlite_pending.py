"""The SQLite store's write-behind: inside a batch (one chunk of messages, one transaction holding SQLite's write
lock) a save is checked at once (its version, the links it takes) but written at the batch's end, with the
chunk's other saves: one `executemany` per table instead of five statements per save, a record saved three
times in a chunk written once, and a record SQLite already holds updated in place (its row and its links'
rows), not deleted and inserted again. Nothing is lost by waiting: the batch's transaction was already all or
nothing (an exception leaving it rolls everything back), and the flush runs inside that same transaction,
before its COMMIT. Point reads inside the batch see its saves (read-your-writes): `load`, `by_link`, `by_ref`,
`by_value`, `ref_of`, `value_of` consult what is held here first; a scan (`link_digests`, `owing`,
`linked_ids`, `count`, ...) flushes first and then asks SQLite.

While the batch holds the write lock nobody else changes the file, so what it read stays true until it ends:
each record read or saved inside it is kept as its stored text (`Held`), read from SQLite once per batch, and
a link read once is not asked again (the save's check of a link correlation just looked up). A record decoded
for a look-up (`ref_of`, `value_of`: correlation asks whether a candidate has an account here) is handed to
the next `load` of it, which then owns it; a later load decodes the text again (callers change what they load).

A record the caller is done with (`keep`: the reconciler, after saving it) is kept decoded after the batch
commits, up to `KEPT` records, and handed to the next `load` of it, in a later batch, instead of its text being
read and decoded again (a first sync reads each person once per system and once per delivery: decoding was
about 10% of it). What is kept is dropped when a batch rolls back, and when another connection has committed
to the file since (`PRAGMA data_version`, read as each batch begins: a record kept may be stale then).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..model import RecordState
from ..ports import VersionConflict, digests_of, owed_systems
from .memory import index_entries, value_key
from .sqlite_digests import owes_column

Entry = tuple[str, str, str]
Entries = tuple[set[Entry], set[Entry], set[Entry]]
KEPT = 25_000  # records kept decoded between batches (about 8 KB each: 200 MB at most); beyond, none added


class Held:
    """A record as stored, or as saved inside the batch: its version and stored text, and the record decoded
    from it until a caller is handed that object (`take`)."""

    __slots__ = ("state", "text", "version")

    def __init__(self, version: int, text: str | None, state: RecordState | None) -> None:
        # text None: a record kept from an earlier batch (`keep`), its text read again only if needed
        self.version, self.text, self.state = version, text, state


class Dirty(NamedTuple):
    """A record saved inside the batch, to be written: whether SQLite has its row and which of its links SQLite
    holds (as at its first save in the batch: those are updated in place), its row and its links' rows."""

    exists: bool
    stored_links: frozenset[Entry]
    row: tuple[Any, ...]  # (data, owes, version, id, kind)
    links: list[tuple[Any, ...]]  # (read, settled, removed, kind, system, key, rid)


class Pending:
    """Mixed into `SqliteStore`, whose connection, lock and batch state it uses."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _in_batch: bool
    _entries: dict[str, tuple[int, Entries]]

    if TYPE_CHECKING:  # SqliteStore's own, and sqlite_values'
        def _decode(self, text: str, version: int) -> RecordState: ...

        def _values_saved(self, rid: str, added: set[Entry], released: set[Entry]) -> None: ...

        def _remember(self, rid: str, version: int, entries: Entries) -> None: ...

    def _init_pending(self) -> None:
        self._known: dict[str, Held] = {}  # records read or saved inside the batch
        # of those, saved inside the batch and not written yet: the record's row and its links' rows, with
        # what SQLite holds of it (its row exists; its links there): rewritten in place, not deleted and added
        self._dirty: dict[str, Dirty] = {}
        self._links_held: dict[Entry, str | None] = {}  # link -> its record after the batch's saves (None: free)
        self._refs_held: dict[Entry, str | None] = {}
        self._vals_held: dict[Entry, dict[str, bool]] = {}  # (kind, field, value) -> record -> indexed or not
        self._links_seen: dict[Entry, str | None] = {}  # links read from SQLite inside the batch (unchanged since)
        self._refs_seen: dict[Entry, str | None] = {}  # refs likewise
        self._absent: set[str] = set()  # records SQLite was found not to hold inside the batch (before its saves)
        self._keeping: set[str] = set()  # records handed back inside the batch (`keep`)
        self._kept: dict[str, tuple[int, RecordState]] = {}  # between batches: id -> (version, the record kept)
        self._data_version: int | None = None  # PRAGMA data_version when the last batch began

    def _begin_kept(self) -> bool:
        """A batch begins: the records kept are dropped if another connection committed since the last one
        (True then: whatever else was kept from earlier batches may be stale too)."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return False
        self._kept.clear()
        self._data_version = version
        return True

    def _commit_kept(self, committed: bool) -> None:
        """The batch ended: the records handed back inside it are kept if it committed (what it wrote is what
        they are); if it rolled back, nothing kept may describe the file any more."""
        if not committed:
            self._kept.clear()
            return
        for rid in self._keeping:
            held = self._known.get(rid)
            if held is not None and held.state is not None and len(self._kept) < KEPT:
                self._kept[rid] = (held.version, held.state)

    def keep(self, state: RecordState) -> None:
        """The caller saved `state` inside this batch (or loaded it and left it as loaded) and is done with it: it
        is handed to the next load of the record (in this batch or, once it commits, a later one) instead of its
        text being decoded again."""
        with self._lock:
            held = self._known.get(state.id) if self._in_batch else None
            if held is not None and held.version == state.version and held.state is None:
                held.state = state
                self._keeping.add(state.id)

    def _forget_pending(self) -> None:
        """The batch ended (committed or rolled back): what was held describes nothing any more."""
        self._known.clear()
        self._dirty.clear()
        self._links_held.clear()
        self._refs_held.clear()
        self._vals_held.clear()
        self._links_seen.clear()
        self._refs_seen.clear()
        self._absent.clear()
        self._keeping.clear()

    # --- reads inside a batch -----------------------------------------------------------------------------
    def _held_record(self, record_id: str) -> Held | None:
        """The record as stored or saved inside the batch (read once per batch), None if there is none."""
        held = self._known.get(record_id)
        if held is None:
            kept = self._kept.pop(record_id, None)
            if kept is not None:  # handed back by an earlier batch, nobody else having written since
                held = self._known[record_id] = Held(kept[0], None, kept[1])
                return held
            if record_id in self._absent:
                return None
            row = self._db.execute("SELECT data, version FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                self._absent.add(record_id)
                return None
            held = self._known[record_id] = Held(row[1], row[0], self._decode(row[0], row[1]))
        return held

    def _decoded(self, record_id: str, held: Held) -> RecordState:
        """The record decoded again from its text (read again if it was kept as an object only)."""
        if held.text is None:
            held.text = self._db.execute("SELECT data FROM records WHERE id = ?", (record_id,)).fetchone()[0]
        return self._decode(held.text, held.version)

    def _take(self, record_id: str) -> RecordState | None:
        """A record for a caller, who may change it: the one decoded for a look-up if nobody has it yet (a
        candidate correlation asked about, then loaded to be reconciled: decoded once), or the one handed back
        (`keep`), else decoded anew."""
        held = self._held_record(record_id)
        if held is None:
            return None
        state, held.state = held.state, None
        return state if state is not None else self._decoded(record_id, held)

    def _peek(self, record_id: str) -> RecordState | None:
        """A record to read a value off (`ref_of`, `value_of`), never handed to a caller."""
        held = self._held_record(record_id)
        if held is None:
            return None
        if held.state is None:
            held.state = self._decoded(record_id, held)
        return held.state

    def expect_links(self, links: Iterable[Entry]) -> None:
        """Inside a batch, the links about to be looked up read in one query per system and 500 keys, those
        SQLite holds and those it does not (a chunk of 2,000 new accounts asked one by one cost 2,000 queries)."""
        with self._lock:
            if not self._in_batch:
                return
            wanted: dict[tuple[str, str], list[str]] = {}
            for entry in dict.fromkeys(links):
                if entry not in self._links_held and entry not in self._links_seen:
                    wanted.setdefault(entry[:2], []).append(entry[2])
            for (kind, system), keys in wanted.items():
                for start in range(0, len(keys), 500):
                    part = keys[start:start + 500]
                    found = dict(self._db.execute(
                        f"SELECT key, rid FROM links WHERE kind = ? AND system = ? AND key IN "  # noqa: S608
                        f"({','.join('?' * len(part))})", (kind, system, *part)).fetchall())
                    self._links_seen.update(((kind, system, key), found.get(key)) for key in part)

    def expect_records(self, record_ids: Iterable[str]) -> None:
        """Inside a batch, the records about to be loaded read in one query per 500 ids: their text kept (decoded
        when loaded), those SQLite lacks noted absent (a chunk of new accounts asked one by one for the records
        they would make cost a query each, nearly all finding nothing). Records kept decoded are not read."""
        with self._lock:
            if not self._in_batch:
                return
            ids = [rid for rid in dict.fromkeys(record_ids)
                   if rid not in self._known and rid not in self._absent and rid not in self._kept]
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                rows = self._db.execute(f"SELECT id, data, version FROM records WHERE id IN "  # noqa: S608
                                        f"({','.join('?' * len(part))})", part).fetchall()
                for rid, text, version in rows:
                    self._known[rid] = Held(version, text, None)
                self._absent.update(set(part) - {row[0] for row in rows})

    def _link_holder(self, entry: Entry) -> str | None:
        return self._holder(entry, self._links_held, self._links_seen,
                            "SELECT rid FROM links WHERE kind = ? AND system = ? AND key = ?")

    def _ref_holder(self, entry: Entry) -> str | None:
        return self._holder(entry, self._refs_held, self._refs_seen,
                            "SELECT rid FROM refs WHERE kind = ? AND system = ? AND ref = ?")

    def _holder(self, entry: Entry, held: dict[Entry, str | None], seen: dict[Entry, str | None],
                sql: str) -> str | None:
        """The record holding an index entry: as the batch's unwritten saves leave it, else as SQLite has it
        (asked once per batch)."""
        if entry in held:
            return held[entry]
        if entry not in seen:
            row = self._db.execute(sql, entry).fetchone()
            seen[entry] = row[0] if row else None
        return seen[entry]

    def _vals_adjusted(self, kind: str, field: str, value: Any, stored: set[str]) -> set[str]:
        """`stored` (the records SQLite indexes under the value) with the batch's unwritten saves applied."""
        for rid, present in self._vals_held.get((kind, field, value_key(value)), {}).items():
            if present:
                stored.add(rid)
            else:
                stored.discard(rid)
        return stored

    # --- saves inside a batch -----------------------------------------------------------------------------
    def _save_held(self, state: RecordState, dumps: Any) -> None:
        """Check `state` can be saved (its version, the links it takes) and hold it for the flush; raises
        VersionConflict, changing nothing, when it cannot."""
        rid = state.id
        known = self._known.get(rid)
        if known is not None:
            stored = known.version
        elif rid in self._absent:  # looked for inside this batch (a new record's load): not there
            stored = 0
        else:  # not read inside this batch (a save on its own): its version, and its entries if not cached
            row = self._db.execute("SELECT version FROM records WHERE id = ?", (rid,)).fetchone()
            stored = row[0] if row else 0
        if stored != state.version:
            raise VersionConflict(f"record {rid} is at version {stored}, not {state.version}")
        cached = self._entries.get(rid)
        old: Entries = (set(), set(), set())
        if stored:
            old = cached[1] if cached is not None and cached[0] == stored else \
                index_entries(self._peek(rid))  # type: ignore[arg-type]
        new = index_entries(state)
        for entry in new[0] - old[0]:
            holder = self._link_holder(entry)
            if holder is not None and holder != rid:
                raise VersionConflict(f"account {entry[1]}:{entry[2]} is already linked to {holder}")
        # every check passed: from here on nothing is refused, so a save never leaves half of itself
        data = state.to_dict(to_write=True)  # dumped at once (tuples written as arrays: the same text)
        del data["version"]
        text, owed = dumps(data), owed_systems(state)
        self._index_held(rid, old, new)
        self._known[rid] = Held(stored + 1, text, None)
        self._kept.pop(rid, None)  # a record kept from an earlier batch, loaded by `load_many` and saved: stale
        before = self._dirty.get(rid)  # saved earlier in the batch: SQLite holds what it held then
        exists, stored_links = (before.exists, before.stored_links) if before else (stored > 0, frozenset(old[0]))
        self._dirty[rid] = Dirty(exists, stored_links, (text, owes_column(owed), stored + 1, rid, state.kind),
                                 [(d.read, d.settled, int(d.removed), *link, rid)
                                  for link, d in digests_of(state, owed).items()])
        self._remember(rid, stored + 1, new)
        state.version = stored + 1

    def _index_held(self, rid: str, old: Entries, new: Entries) -> None:
        """A save's index entries, released and taken, as the flush will write them."""
        for entry in old[0] - new[0]:  # released, unless another record has taken it since
            if self._link_holder(entry) == rid:
                self._links_held[entry] = None
        for entry in new[0]:
            self._links_held[entry] = rid
        for entry in old[1] - new[1]:
            if self._ref_holder(entry) == rid:
                self._refs_held[entry] = None
        for entry in new[1]:  # all of them: a ref another record took since is the saved record's again
            self._refs_held[entry] = rid
        added, released = new[2] - old[2], old[2] - new[2]
        for entry in released:
            self._vals_held.setdefault(entry, {})[rid] = False
        for entry in added:
            self._vals_held.setdefault(entry, {})[rid] = True
        self._values_saved(rid, added, released)

    def _flush_saves(self) -> None:
        """Write what the batch's saves hold, in its transaction: the records (each once, as last saved), the
        index entries released and taken, each saved record's links with their digests."""
        db = self._db
        freed = [entry for entry, rid in self._links_held.items() if rid is None]
        if freed:
            db.executemany("DELETE FROM links WHERE kind = ? AND system = ? AND key = ?", freed)
        if self._dirty:
            dirty = self._dirty.values()
            db.executemany("UPDATE records SET data = ?, owes = ?, version = ? WHERE id = ?",
                           [d.row[:4] for d in dirty if d.exists])
            db.executemany("INSERT OR REPLACE INTO records (data, owes, version, id, kind) VALUES (?, ?, ?, ?, ?)",
                           [d.row for d in dirty if not d.exists])
            links = [(link, link[3:6] in d.stored_links) for d in dirty for link in d.links]
            db.executemany("UPDATE links SET read = ?, settled = ?, removed = ? WHERE kind = ? AND system = ? "
                           "AND key = ? AND rid = ?", [link for link, stored in links if stored])
            db.executemany("INSERT OR REPLACE INTO links (read, settled, removed, kind, system, key, rid) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", [link for link, stored in links if not stored])
        if self._refs_held:
            refs = self._refs_held.items()
            db.executemany("DELETE FROM refs WHERE kind = ? AND system = ? AND ref = ?",
                           [entry for entry, rid in refs if rid is None])
            # written where another record holds it (or nobody): one held already is left as it is
            db.executemany("INSERT INTO refs VALUES (?, ?, ?, ?) ON CONFLICT (kind, system, ref) DO UPDATE "
                           "SET rid = excluded.rid WHERE rid != excluded.rid",
                           [(*entry, rid) for entry, rid in refs if rid is not None])
        if self._vals_held:
            rows = [(*entry, rid, present) for entry, held in self._vals_held.items() for rid, present in held.items()]
            db.executemany("DELETE FROM vals WHERE kind = ? AND field = ? AND value = ? AND rid = ?",
                           [row[:4] for row in rows if not row[4]])
            db.executemany("INSERT OR IGNORE INTO vals VALUES (?, ?, ?, ?)", [row[:4] for row in rows if row[4]])
        self._links_seen.update(self._links_held)
        self._refs_seen.update(self._refs_held)
        self._dirty.clear()
        self._links_held.clear()
        self._refs_held.clear()
        self._vals_held.clear()
