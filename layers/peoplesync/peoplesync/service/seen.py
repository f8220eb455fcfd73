"""Who a paged read has listed so far, kept in the store between pages and invocations (the poll's checkpoint).

A read that fits in one page keeps its keys in memory. A read of many pages stores, after each page, the
8-byte digests of the keys it listed in store meta (`poll|<system>|seen|<n>`, chunks of at most `CHUNK` keys,
tagged with the run's id: a chunk of another run is not this run's, so nothing has to be deleted). When the read
is known complete, the digests are loaded into one sorted array (8 bytes per account, not a record) and the
sweep of the system's links asks it who was listed. Two keys sharing a digest (about 1 in 10^7 at a million
accounts) make an account that is gone look listed: the safe way round (nobody is wrongly deactivated; the next
complete read has another chance to see it)."""

from __future__ import annotations

import base64
import bisect
import hashlib
import heapq
import logging
import zlib
from array import array
from collections.abc import Callable, Container, Iterable

from ..model import Observation
from ..ports import Connector, StateStore
from ..redact import scrub

log = logging.getLogger("peoplesync")

CHUNK = 20_000  # keys per meta item: 160 KB before compression (DynamoDB items stop at 400 KB)


def digest(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def chunk_key(system: str, n: int) -> str:
    return f"poll|{system}|seen|{n}"


def remember(store: StateStore, system: str, run: str, first: int, keys: Iterable[str]) -> int:
    """Store the digests of `keys` in chunks numbered from `first`; the next free number."""
    values = sorted(digest(k) for k in keys)
    n = first
    for i in range(0, len(values), CHUNK):
        packed = zlib.compress(array("Q", values[i:i + CHUNK]).tobytes(), 1)
        store.put_meta(chunk_key(system, n), {"run": run, "z": base64.b64encode(packed).decode()})
        n += 1
    return n


class Incomplete(Exception):
    """A chunk of the run is missing or another run's: who was listed is not known, nobody is concluded gone."""


class Seen(Container[str]):
    """The keys a run listed: a set when it was one page, else the sorted digests of its stored chunks."""

    def __init__(self, keys: set[str] | None = None, digests: array | None = None) -> None:
        self.keys, self.digests = keys, digests

    @classmethod
    def load(cls, store: StateStore, system: str, run: str, chunks: int) -> Seen:
        parts: list[array] = []
        for n in range(chunks):
            item = store.get_meta(chunk_key(system, n)) or {}
            if item.get("run") != run:
                raise Incomplete(f"seen chunk {n} of {system} is not run {run}'s")
            part = array("Q")
            part.frombytes(zlib.decompress(base64.b64decode(item["z"])))
            parts.append(part)
        return cls(digests=array("Q", heapq.merge(*parts)))  # each chunk is sorted: merged, no list of ints

    def __contains__(self, key: object) -> bool:
        if self.keys is not None:
            return key in self.keys
        assert self.digests is not None and isinstance(key, str)
        d = digest(key)
        i = bisect.bisect_left(self.digests, d)
        return i < len(self.digests) and self.digests[i] == d


class Recheck:
    """The accounts a read that may have shifted did not list (`ReadPage.confirm`), re-read by id before anyone
    is concluded gone: what the system answers for each (removed, or the account as it is now: a shifted page
    skipped it) goes on instead. A connector that cannot re-read, or a re-read that fails in any way (the
    system, its secret, the connector itself), concludes nothing: keeping someone is always the safe side."""

    def __init__(self, connector: Callable[[], Connector | None], system: str) -> None:
        self.connector, self.system = connector, system  # made when first needed: most reads miss nobody

    def confirm(self, gone: list[Observation]) -> list[Observation]:
        try:
            connector = self.connector()
            result = connector.read_keys([o.key for o in gone]) if connector is not None else None
        except Exception as exc:
            log.warning("the accounts a read of %s did not list could not be read again (%s); nobody is "
                        "concluded gone", self.system, scrub(f"{type(exc).__name__}: {exc}"))
            return []
        if result is None:
            return []
        asked = {o.key: o.kind for o in gone}  # only the accounts asked about, each as the kind linked
        return [o for o in result.observations if o.key in asked and o.kind == asked[o.key]]


def recheck_in(connectors: Callable[[str], Connector | None] | None, system: str) -> Recheck:
    """A `Recheck` of `system` by the connector `connectors(system)` gives (made only if someone is missing)."""
    return Recheck(lambda: connectors(system) if connectors is not None else None, system)
