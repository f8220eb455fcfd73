"""A full reconciliation in pieces: the steps of the Step Functions state machine `FullSweep` (template.yaml),
run the same way in-process by the tests and `bench/scale.py`.

    snapshot(system i)  one system read in pages, each written as a JSON Lines chunk under
                        runs/<run>/<i>-<system>/; a read longer than one invocation goes on in the next (`more_pages`)
    Distributed Map     lists those chunk objects (s3:listObjectsV2); each child gets a batch of chunk keys
    process(batch)      every account of the chunks through the reconcile step (`handlers.reconcile_body`,
                        what the reconcile Lambda does per message), so decisions, guards against loops,
                        dead letters and the deliveries queued (one queue per target) are the same
    then system i+1, lifecycle sources first (`Runtime.polled_systems`), until none is left.

A child is idempotent: reconciling an account again decides nothing new, and a delivery queued twice is
answered "duplicate" or finds nothing owed. So a failed child, a redriven Map run or a whole sweep run again
writes nothing twice. What the sweep does not do: conclude who vanished (a complete read's vanished rule needs
every linked record; the paged poll, issue 14 item 2, owns that) and apply the poll's change guard
(`max_changes_per_run`): a sweep is started by an operator, like `sync --approve`. In AWS the deliveries are
consumed while the sweep runs: a create then looks for the account first (`sweep_window.py`), so a first load
into targets that already hold accounts links them; `run_local` delivers only once every system is
reconciled, as `sync` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import Observation, observation_to_dict
from ..ports import Connector
from .poll import pages_of
from .runtime import Runtime

log = logging.getLogger("peoplesync")

CHUNK = 1000  # accounts per chunk object: about 0.5 MB of JSON Lines, one child reads a batch of them
PREFIX = "runs"


class Blobs(Protocol):
    """Where snapshots are kept: S3 in AWS (`adapters/blobs.S3Blobs`), a folder or memory locally."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> list[str]: ...


def run_prefix(run: str) -> str:
    return f"{PREFIX}/{run}/"


def system_prefix(run: str, index: int, system: str) -> str:
    """runs/<run>/<index>-<system>/: one prefix per system, listed by its own Map run."""
    return f"{run_prefix(run)}{index:02d}-{system}/"


@dataclass
class Snapshot:
    """One invocation of the snapshot step. A read longer than one invocation's budget stops after a page with
    `more_pages` and its `position`; the state machine invokes the step again with this answer (`resume`), and
    the chunks go on being numbered from `chunks`, so a retried invocation writes the same objects again."""

    system: str
    prefix: str
    index: int = 0
    accounts: int = 0
    chunks: int = 0
    next: int = 0  # the index of the next system to snapshot
    more: bool = False  # another system follows
    failed: str | None = None
    more_pages: bool = False  # this system's read is not over: the step runs again from `position`
    position: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def snapshot(rt: Runtime, blobs: Blobs, run: str, index: int, *, chunk: int | None = None,
             resume: dict[str, Any] | None = None, budget: float | None = None,
             clock: Callable[[], float] = time.monotonic) -> Snapshot:
    """Read system number `index` (lifecycle sources first) in pages of `chunk` accounts and write each page as
    a chunk object. `budget` (seconds; None: no limit): once spent, stop after the page and answer
    `more_pages` with the position to go on from; `resume`: that answer, to go on. A read that fails concludes
    nothing (SPEC 20): the chunks of the pages read before it are reconciled, which concludes nothing about
    the accounts not read; the sweep goes on with the next system."""
    systems = rt.polled_systems()
    if not 0 <= index < len(systems):
        raise ValueError(f"no polled system number {index}; there are {len(systems)}")
    system, size = systems[index], chunk or CHUNK
    shot = Snapshot(system, system_prefix(run, index, system), index=index, next=index + 1,
                    more=index + 1 < len(systems))
    if resume:
        shot.prefix, shot.chunks, shot.accounts = str(resume["prefix"]), int(resume["chunks"]), int(resume["accounts"])
    start = resume.get("position") if resume else None
    stop_at = None if budget is None else clock() + budget
    pages: Iterator[Any] | None = None
    while True:
        try:  # only the read's failures are the system's: a bucket that fails fails the step (retried)
            pages = pages or pages_of(rt.connector(system), None, full=True, page_size=size, start=start)
            page = next(pages, None)
        except Exception as exc:  # a target down must not stop the other systems' sweep
            shot.failed = f"{type(exc).__name__}: {exc}"
            log.warning("sweep snapshot of %s failed: %s", system, shot.failed)
            page = None
        if page is None:
            return shot
        if page.restarted:  # the source changed under the position: its earlier chunks are left behind
            shot.prefix = f"{system_prefix(run, index, system)}again-{_short(start)}/"
            shot.chunks = shot.accounts = 0
        _write(blobs, shot, page.observations, size)
        if not page.last and stop_at is not None and clock() >= stop_at:
            shot.more_pages, shot.position = True, page.position
            return shot


def _write(blobs: Blobs, shot: Snapshot, observations: Iterable[Observation], size: int) -> None:
    for part in _chunks(observations, size):
        blobs.put(f"{shot.prefix}{shot.chunks:06d}.jsonl", encode(part))
        shot.chunks += 1
        shot.accounts += len(part)


def _short(text: str | None) -> str:
    return hashlib.blake2b(str(text).encode(), digest_size=6).hexdigest()


def snapshot_connector(connector: Connector, blobs: Blobs, prefix: str, *, chunk: int = CHUNK) -> int:
    """One connector's full read written under `prefix` (the bench and tests); returns the accounts written."""
    n = 0
    for i, part in enumerate(_chunks(connector.read(None, full=True).observations, chunk)):
        blobs.put(f"{prefix}{i:06d}.jsonl", encode(part))
        n += len(part)
    return n


def _chunks(items: Iterable[Observation], size: int) -> Iterator[list[Observation]]:
    part: list[Observation] = []
    for item in items:
        part.append(item)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def encode(observations: list[Observation]) -> bytes:
    return "".join(json.dumps(observation_to_dict(o), separators=(",", ":")) + "\n"
                   for o in observations).encode()


@dataclass
class Processed:
    """What one child did: the Map's result per batch (kept small: the Map discards it, ResultPath null)."""

    chunks: int = 0
    accounts: int = 0
    keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "accounts": self.accounts}


def item_keys(event: dict[str, Any]) -> list[str]:
    """The chunk keys of a Distributed Map child's event: {"Items": [{"Key": ...}, ...], "BatchInput": ...} from
    the ItemBatcher, or one listed object {"Key": ...} when the Map hands items one by one."""
    if isinstance(event, dict) and "Items" not in event and isinstance(event.get("Key"), str):
        return [event["Key"]]
    items = event.get("Items") if isinstance(event, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("Key"), str) for i in items):
        raise ValueError("a sweep batch needs Items: [{Key: <chunk object key>}, ...] (the Map's ItemBatcher)")
    return [i["Key"] for i in items]


def process(keys: list[str], blobs: Blobs, rt: Runtime, meter: Any = None) -> Processed:
    """The item processor: every account of the chunks through the reconcile step, one store batch per chunk.
    A message the step cannot handle is parked or sent back to the reconcile queue by `reconcile_body`, as the
    reconcile Lambda's are, so one bad account never fails the child; what escapes (the chunk unreadable, the
    queue unreachable) fails the child, which Step Functions retries and the Map's tolerance counts."""
    from .handlers import reconcile_body

    done = Processed(keys=list(keys))
    for key in keys:
        lines = blobs.get(key).decode().splitlines()
        with rt.store.batch():
            for line in lines:
                if line.strip():
                    reconcile_body(f'{{"type":"observation","observation":{line}}}', rt, meter)
                    done.accounts += 1
        done.chunks += 1
    return done


def run_local(rt: Runtime, blobs: Blobs, run: str, *, batch: int = 5, chunk: int | None = None,
              then: Callable[[Runtime], Any] | None = None) -> list[Snapshot]:
    """The state machine's loop in-process: each system snapshotted, then its chunks processed in batches of
    `batch` keys (the ItemBatcher's MaxItemsPerBatch). `then(rt)` runs once every system is reconciled (the
    local run delivers there, as `sync` does: a target's accounts are correlated before anything is created
    in it)."""
    shots, index, more = [], 0, True
    while more:
        shot = snapshot(rt, blobs, run, index, chunk=chunk)
        while shot.more_pages:  # only with a budget; the state machine's MorePages loop
            shot = snapshot(rt, blobs, run, index, chunk=chunk, resume=shot.to_dict())
        shots.append(shot)
        keys = sorted(blobs.keys(shot.prefix))
        for i in range(0, len(keys), batch):
            process(keys[i:i + batch], blobs, rt)
        index, more = shot.next, shot.more
    if then is not None:
        then(rt)
    return shots
