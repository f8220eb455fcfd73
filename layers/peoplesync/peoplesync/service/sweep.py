"""A full reconciliation in pieces: the steps of the Step Functions state machine `FullSweep` (template.yaml),
run the same way in-process by the tests and `bench/scale.py`.

    snapshot(system i)  one system read fully, written as JSON Lines chunks under runs/<run>/<i>-<system>/
    Distributed Map     lists those chunk objects (s3:listObjectsV2); each child gets a batch of chunk keys
    process(batch)      every account of the chunks through the reconcile step (`handlers.reconcile_body`,
                        what the reconcile Lambda does per message), so decisions, guards against loops,
                        dead letters and the deliveries queued (one queue per target) are the same
    then system i+1, lifecycle sources first (`Runtime.polled_systems`), until none is left.

A child is idempotent: reconciling an account again decides nothing new, and a delivery queued twice is
answered "duplicate" or finds nothing owed. So a failed child, a redriven Map run or a whole sweep run again
writes nothing twice. In AWS the deliveries are consumed while the sweep runs; on a first load into targets
that already hold accounts, pause the targets' delivery (docs/deploy.md): `run_local` delivers only once every
system is reconciled, as `sync` does.

`peoplesync sync --full` (and `plan --full`) run these steps in-process (`sync_system`, one system at a time,
the batches through `process` with the local run's reconcile step), adding what a sync's full read always did:
the change guard over the snapshot before its chunks are processed (held accounts are skipped by `process`),
who vanished after them when the read was complete, and the system's cursor saved (`sweep_rules.py`). The state
machine in AWS does not run the guard and vanished steps yet: a sweep there is started by an operator, like
`sync --approve`, and who vanished is found by the polls' complete reads.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..model import Observation, observation_to_dict
from ..ports import Connector
from ..redact import scrub
from . import messages
from . import sweep_rules as rules
from .poll import PollReport
from .runtime import Runtime

if TYPE_CHECKING:
    from .local import LocalBridge, RunReport

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
    system: str
    prefix: str
    accounts: int = 0
    chunks: int = 0
    next: int = 0  # the index of the next system to snapshot
    more: bool = False  # another system follows
    failed: str | None = None
    complete: bool = False  # the read listed every account: who it did not list is gone
    cursor: str | None = field(default=None, repr=False)  # the read's delta cursor (kept locally, not sent on)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "cursor"}


def snapshot(rt: Runtime, blobs: Blobs, run: str, index: int, *, chunk: int | None = None,
             listed: bool = False) -> Snapshot:
    """Read system number `index` (lifecycle sources first) fully and write its accounts as chunks (with
    `listed`, also the digests of the keys it listed, for the vanished rule: `sweep_rules.listed_key`). A read
    that fails or returns nothing writes no chunk and is reported failed (SPEC 20: nothing is concluded from
    it); the sweep goes on."""
    systems = rt.polled_systems()
    if not 0 <= index < len(systems):
        raise ValueError(f"no polled system number {index}; there are {len(systems)}")
    system = systems[index]
    shot = Snapshot(system, system_prefix(run, index, system), next=index + 1, more=index + 1 < len(systems))
    try:
        result = rt.connector(system).read(None, full=True)
    except Exception as exc:  # a target down must not stop the other systems' sweep
        shot.failed = scrub(f"{type(exc).__name__}: {exc}")
        log.warning("sweep snapshot of %s failed: %s", system, shot.failed)
        return shot
    for part in _chunks(result.observations, chunk or CHUNK):
        blobs.put(f"{shot.prefix}{shot.chunks:06d}.jsonl", encode(part))
        shot.chunks += 1
        shot.accounts += len(part)
    if not shot.accounts:
        shot.failed = "the read returned no accounts; nobody is deactivated because of it"
        return shot
    if listed:
        digests = rules.pack_listed(o.key for o in result.observations)
        blobs.put(rules.listed_key(run_prefix(run), index, system), digests)
    shot.complete, shot.cursor = result.complete, result.cursor
    return shot


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


def process(keys: list[str], blobs: Blobs, rt: Runtime, meter: Any = None, *,
            handle: Callable[[str], Any] | None = None, judge: rules.Judge | None = None) -> Processed:
    """The item processor: every account of the chunks through the reconcile step, one store batch per chunk.
    A message the step cannot handle is parked or sent back to the reconcile queue by `reconcile_body`, as the
    reconcile Lambda's are, so one bad account never fails the child; what escapes (the chunk unreadable, the
    queue unreachable) fails the child, which Step Functions retries and the Map's tolerance counts.
    An account read as we hold it is decided again (`reevaluate`), as a sync's full read does. `handle`: the
    reconcile step (default: the reconcile function's); `judge`: the change guard (`sweep_rules.Swept.chunk`)."""
    from .handlers import reconcile_body

    step = handle or (lambda body: reconcile_body(body, rt, meter))
    done = Processed(keys=list(keys))
    for key in keys:
        data = blobs.get(key)
        with rt.store.batch():
            bodies, accounts = rules.chunk_messages(rt, data, judge)
            for body in bodies:
                step(body)
        done.accounts += accounts
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
        shots.append(shot)
        keys = sorted(blobs.keys(shot.prefix))
        for i in range(0, len(keys), batch):
            process(keys[i:i + batch], blobs, rt)
        index, more = shot.next, shot.more
    if then is not None:
        then(rt)
    return shots


class LocalSweep:
    """`sync --full` as the sweep: each system snapshotted to chunk files in a scratch folder, judged by the
    guard, its chunks processed in batches with the local run's reconcile step (tallied in its report), then who
    vanished, the approved holds let go and the cursor saved. One system per `system(index)` call, which answers
    as a poll does, so the local run reports it the same way."""

    def __init__(self, bridge: LocalBridge, report: RunReport, *, approve: Any = False,
                 population: int | None = None, progress: Any = None, batch: int = 5) -> None:
        import tempfile
        import uuid

        from ..adapters.blobs import FolderBlobs

        self.bridge, self.report, self.approve, self.population = bridge, report, approve, population
        self.progress, self.batch, self.run = progress, batch, f"local-{uuid.uuid4().hex[:12]}"
        self._scratch = tempfile.TemporaryDirectory(prefix="peoplesync-sweep-")  # removed when collected
        self.blobs = FolderBlobs(self._scratch.name)

    def system(self, index: int) -> PollReport:
        rt = self.bridge.runtime
        shot = snapshot(rt, self.blobs, self.run, index, listed=True)
        if shot.failed:
            return PollReport(shot.system, read=shot.accounts, full=True, failed=shot.failed)
        swept = rules.Swept(rt.reconciler, shot.system, approve=self.approve, population=self.population,
                            connectors=rt.connector)
        keys = sorted(self.blobs.keys(shot.prefix))
        for i in range(0, len(keys), self.batch):
            process(keys[i:i + self.batch], self.blobs, rt, handle=self._step, judge=swept.chunk)
            self.bridge._reconcile(self.report, self.progress)  # records woken, re-reads: as the queue would
        if shot.complete:
            listed = rules.unpack_listed(self.blobs.get(rules.listed_key(run_prefix(self.run), index, shot.system)))
            swept.gone(listed, self)
        swept.report.read = shot.accounts
        rt.store.put_cursor(shot.system, shot.cursor)
        if shot.complete:  # everything was read under this mapping: later polls may be deltas again
            rt.store.put_meta(f"fingerprint|{shot.system}", {"value": rt.plan.fingerprint})
        shutil.rmtree(Path(self._scratch.name) / run_prefix(self.run), ignore_errors=True)  # one system at a time
        return swept.report

    def send(self, messages: list[dict[str, Any]], **_: Any) -> None:
        """The reconcile queue the vanished accounts are sent to: each handled at once."""
        for message in messages:
            self.bridge._reconcile_one(message, self.report)

    def _step(self, body: str) -> None:
        self.bridge._reconcile_one(messages.parse(body), self.report)
