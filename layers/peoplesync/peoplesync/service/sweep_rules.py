"""The full sweep's chunks as reconcile messages, and its vanished rule and change guard, chunk by chunk, never
the whole system at once (`sweep.py`).

- Each chunk's accounts are pre-screened against the digest index (`poll._screen`): a changed one goes on as its
  observation, an unchanged one as a `reevaluate` of its record (a full run decides everyone again: what a
  record owed may have become writable), as a sync's full read does (`chunk_messages`).
- Who is listed: the snapshot keeps, beside its chunks, the sorted 8-byte digests of the keys its read listed
  (`runs/<run>/listed/<i>-<system>`; `seen.py`'s digests: a shared digest makes a gone account look listed, the
  safe way round).
- The guard and who vanished (`Swept`, the local run's: it needs the run's count of changes from chunk to
  chunk, which the Distributed Map's parallel children do not share): each chunk judged by the poll's guard
  step as a paged poll's page is, then, when the read was complete, the system's links in batches of 500,
  those not listed judged and sent on as removed (`poll.sweep_gone`), and approved holds let go.
"""

from __future__ import annotations

import json
import uuid
import zlib
from array import array
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

from ..model import Observation, observation_from_dict
from ..ports import Connector
from . import guard, messages, seen
from .messages import Queue
from .poll import PollReport, _Judge, _judge_and_send, _links, _records, _Run, _screen, sweep_gone
from .reconcile import Reconciler
from .runtime import Runtime


def listed_part(run_prefix: str, prefix: str, part: int) -> str:
    """runs/<run>/listed/<i>-<system>/[again-<h>/]<part>: beside the system's chunk prefix, not under it (the Map
    lists only chunks); one part per snapshot invocation, numbered, so a retried invocation writes the same."""
    return f"{run_prefix}listed/{prefix[len(run_prefix):]}{part:04d}"


class Listed:
    """The digests of the keys a snapshot read, page by page (8 bytes an account)."""

    def __init__(self) -> None:
        self.digests = array("Q")

    def add(self, keys: Iterable[str]) -> None:
        self.digests.extend(seen.digest(k) for k in keys)

    def packed(self) -> bytes:
        return zlib.compress(array("Q", sorted(self.digests)).tobytes(), 1)


def put_listed(blobs: Any, run_prefix: str, shot: Any, keys: Listed) -> None:
    """This invocation's listed keys as the snapshot's next part (`shot.parts` counts them)."""
    blobs.put(listed_part(run_prefix, shot.prefix, shot.parts), keys.packed())
    shot.parts += 1


def load_listed(blobs: Any, run_prefix: str, shot: dict[str, Any]) -> seen.Seen:
    """Who a snapshot listed, from all its parts (a snapshot answer: `prefix`, `parts`)."""
    digests = array("Q")
    for part in range(int(shot.get("parts") or 0)):
        digests.frombytes(zlib.decompress(blobs.get(listed_part(run_prefix, str(shot["prefix"]), part))))
    return seen.Seen(digests=array("Q", sorted(digests)))


def chunk_messages(rt: Runtime, data: bytes, judge: Judge | None = None) -> tuple[list[str], int]:
    """One chunk as reconcile messages, and the accounts it holds. Without `judge`: an account that reads as we
    hold it becomes a `reevaluate` of its record, any other its observation as read. `judge(observations,
    queue)` (`Swept.chunk`) decides instead, with the guard. A line that does not parse is passed on as it is:
    the reconcile step parks it with its reason."""
    bodies: list[str] = []
    read: list[tuple[Observation, str]] = []
    for line in data.decode().splitlines():
        if not line.strip():
            continue
        try:
            read.append((observation_from_dict(json.loads(line)), line))
        except Exception:  # a malformed account: parked by the reconcile step, the rest goes on
            bodies.append(f'{{"type":"observation","observation":{line}}}')
    accounts = len(read) + len(bodies)
    if judge is not None:
        sink = _Collect()
        judge([o for o, _ in read], sink)
        bodies += [json.dumps(m) for m in sink.messages]
    elif read:
        system, observations = read[0][0].system, [o for o, _ in read]
        links = _links(rt.store, rt.plan, system, observations, complete=False)
        news = {o.key for o in _screen(rt.reconciler, system, observations, links)}
        bodies += [f'{{"type":"observation","observation":{line}}}' for o, line in read if o.key in news]
        bodies += [json.dumps(m) for m in messages.reevaluate({link.record for (_, key), link in links.items()
                                                               if key not in news})]
    return bodies, accounts


class _Collect:
    """A queue that keeps what is sent (the messages a judged chunk makes)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, messages: list[dict[str, Any]], **_: Any) -> None:
        self.messages += messages


Judge = Callable[[list[Observation], Queue], None]


def chunk_observations(data: bytes) -> list[Observation]:
    return [observation_from_dict(json.loads(line)) for line in data.decode().splitlines() if line.strip()]


class Swept:
    """A full sweep's run of one system, judged as a paged poll's pages are (`sweep.LocalSweep`): the guard's
    count and the approval carried from chunk to chunk."""

    def __init__(self, reconciler: Reconciler, system: str, *, approve: guard.Approval, population: int | None,
                 connectors: Callable[[str], Connector] | None) -> None:
        self.reconciler, self.system, self.report = reconciler, system, PollReport(system, full=True)
        self.judge = _Judge(approve, population, connectors, asked_full=True)
        self.run = _Run(uuid.uuid4().hex, None, reconciler.plan.fingerprint, True, population,
                        approve=approve if isinstance(approve, bool) else sorted(approve))

    def chunk(self, observations: list[Observation], send: Queue) -> None:
        """One chunk's accounts pre-screened and judged; what flows is sent (unchanged: re-evaluated)."""
        store, system = self.reconciler.store, self.system
        links = _links(store, self.reconciler.plan, system, observations, complete=False)
        changed = _screen(self.reconciler, system, observations, links)
        news = {o.key for o in changed}
        _judge_and_send(self.reconciler, system, changed, _records(store, system, changed, links), send, self.report,
                        self.judge, self.run, read={o.key for o in observations},
                        unchanged={link.record for (_, key), link in links.items() if key not in news})

    def gone(self, listed: Container[str], send: Queue, *, after: list[str] | None = None,
             stop: Callable[[], bool] | None = None, recheck: seen.Recheck | None = None) -> list[str] | None:
        """After a complete read: the links not listed, judged and sent on as removed; approved holds let go.
        In pieces (the AWS step's invocations): once `stop()` is true the piece ends after its batch and answers
        where the next goes on ([kind, record id]: stores list linked ids in order); `after`, that answer."""
        position = _Position(list(after) if after else None, stop)
        accounts = position.accounts(self.reconciler.store, sorted(self.reconciler.plan.fields), self.system)
        sweep_gone(self.reconciler, self.system, listed, send, self.report, self.judge, self.run, accounts=accounts,
                   recheck=recheck)
        if position.cut:
            return position.last
        self.report.released += guard.release(self.reconciler.store, self.system, self.judge.approve)
        return None


class _Position:
    """Where a piece of the vanished step is in the system's linked accounts (record id order), kind by kind."""

    def __init__(self, after: list[str] | None, stop: Callable[[], bool] | None) -> None:
        self.after, self.stop, self.last, self.cut = after, stop, after, False

    def accounts(self, store: Any, kinds: list[str], system: str) -> Iterator[tuple[str, str | None]]:
        """The accounts of records after `after`; ends once `stop()` says so (asked before each record but the
        piece's first: a record's accounts are never split between two pieces)."""
        after = self.after
        for kind in kinds:
            if after and kind < after[0]:
                continue
            for rid, key in store.linked_accounts(kind, system, after[1] if after and kind == after[0] else None):
                if self.last != [kind, rid] and self.stop is not None and self.last != after and self.stop():
                    self.cut = True
                    return
                self.last = [kind, rid]
                yield rid, key
