"""One system's linked accounts on DynamoDB (`DynamoStore.linked_accounts`): who a complete read must list.

A complete read concludes gone the linked accounts it did not list (the vanished rule), and a complete read in one
go screens what it read against every link's digests. Listing them by loading every record of the kind costs the
records themselves (several KB each: 5 GB at a million people, on every complete poll of a system that has no
delta read, such as Genesys Cloud; and a poll of a system of 500 accounts would load a million records).
Instead, a link item carries `gpk` = `links#<kind>#<system>` and `gsk` = its record id (`<id>#removed` while its
account is held as removed; `dynamodb_index.py`), so the sparse `byKind` index lists one system's links in
record id order: a Query of small key-only items, the account key read back from the item's `pk`. The vanished
rule then loads only the records of the accounts the read did not list, and checks each against the record
itself, so an index entry a moment stale (the index is eventually consistent) costs a load, never a wrong
conclusion; the pre-screen reads the listed link items' digests (BatchGetItem, 100 a call), no record.

Records saved before the listing existed (`legacy_gpk`) are listed from the records themselves, loaded 100 a
call, as before; each listing also migrates up to `MIGRATE_PER_LISTING` of them (their link items rewritten
with digests and listing, the record's `gpk` moved, one transaction each, conditioned on the record's version
and leaving it unchanged), so a deployment converges without a migration step of its own. A record a function
of the previous version saves meanwhile goes back to the legacy partition, and is listed from the record again:
the listing is right during a roll-out too.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from ..model import RecordState
from ..ports import LinkDigest, TransientError, VersionConflict, digests_of
from .dynamodb_index import REMOVED, _link_key, _rec_key, _s, index_ops, legacy_gpk, links_gpk, record_gpk
from .memory import index_entries

log = logging.getLogger(__name__)

MIGRATE_PER_LISTING = 2000  # legacy records one `linked_accounts` tries to move to the listing (a write each)
_HASHED = "sha256:"  # a key part too long for a DynamoDB key is stored hashed (`dynamodb_index._part`)


def linked_accounts(store: Any, kind: str, system: str, after: str | None) -> Iterator[tuple[str, str | None]]:
    """(record id, account key) of the accounts linked in `system` and not held as removed, of the records after
    `after`, in record id order: the listing's, merged with the legacy records'. Key None: stored hashed (too
    long for a key): load the record."""
    return ((rid, key) for rid, key, removed in links(store, kind, system, after) if not removed)


def links(store: Any, kind: str, system: str, after: str | None = None) -> Iterator[tuple[str, str | None, bool]]:
    """(record id, account key, held as removed) of every link in `system`, in record id order (see above)."""
    merged = heapq.merge(_listed(store, kind, system, after), _legacy(store, kind, system, after), key=itemgetter(0))
    last = None
    for link in merged:
        if link != last:  # a record migrated while listed may be in both partitions for a moment
            yield link
        last = link


def link_digests(store: Any, kind: str, system: str) -> dict[str, LinkDigest]:
    """Every link's digests (a complete read's pre-screen): the listed link items read 100 a call, the records
    only of those listed hashed or saved before the listing."""
    keys: list[str] = []
    out: dict[str, LinkDigest] = {}
    unknown: list[str] = []
    for rid, key, _ in links(store, kind, system):
        if key is None:
            unknown.append(rid)
        else:
            keys.append(key)
    for start in range(0, len(unknown), 100):
        for state in store.load_many(unknown[start:start + 100]).values():
            shadow = state.shadows.get(system)
            if shadow is not None and state.kind == kind:
                out[shadow.key] = digests_of(state)[(kind, system, shadow.key)]
    out.update(store.link_digests(kind, system, keys))
    return out


def _listed(store: Any, kind: str, system: str, after: str | None) -> Iterator[tuple[str, str | None, bool]]:
    prefix = _link_key(kind, system, "")["pk"]["S"]
    for item in store.index_items(links_gpk(kind, system), after):
        part, gsk = item["pk"]["S"][len(prefix):], item["gsk"]["S"]
        removed = gsk.endswith(REMOVED)
        yield gsk[:-len(REMOVED)] if removed else gsk, None if part.startswith(_HASHED) else part, removed


def _legacy(store: Any, kind: str, system: str, after: str | None) -> Iterator[tuple[str, str | None, bool]]:
    ids = list(store.index_keys(legacy_gpk(kind), after))  # once migrated: one Query that finds nothing
    tries = MIGRATE_PER_LISTING
    for start in range(0, len(ids), 100):
        batch = ids[start:start + 100]
        states = store.load_many(batch)
        for record_id in batch:
            state = states.get(record_id)
            if state is None:
                continue
            if tries > 0:
                tries -= 1
                migrate(store, state)
            shadow = state.shadows.get(system)
            if shadow is not None:
                yield record_id, shadow.key, shadow.removed


def migrate(store: Any, state: RecordState) -> bool:
    """Write every link item of a record saved before the listing as this version would (digests, listing),
    and move the record to `record_gpk`: one transaction, conditioned on the version it was loaded at, the
    record's data and version untouched. False when it did not happen (a save or another migration won the
    race: the record is then listed, or tried again by the next listing)."""
    links, digests = index_entries(state)[0], digests_of(state)
    ops = index_ops(store.table, state.id, (links, set(), set()), (links, set(), set()), (digests, digests, False))
    head = {"Update": {"TableName": store.table, "Key": _rec_key(state.id), "UpdateExpression": "SET gpk = :g",
                       "ConditionExpression": "version = :v",
                       "ExpressionAttributeValues": {":g": _s(record_gpk(state.kind)),
                                                     ":v": {"N": str(state.version)}}}}
    try:
        store._transact(state, [head], ops)
    except (VersionConflict, TransientError) as exc:
        log.info("record %s not moved to the link listing this time: %s", state.id, exc)
        return False
    store._remember(state.id, state.version, (index_entries(state), digests, True))
    return True
