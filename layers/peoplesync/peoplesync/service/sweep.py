"""A full reconciliation in pieces: the steps of the Step Functions state machine `FullSweep` (template.yaml),
run the same way in-process by the tests and `bench/scale.py`.

    snapshot(system i)  one system read in pages, each written as a JSON Lines chunk under
                        runs/<run>/<i>-<system>/; a read longer than one invocation goes on in the next (`more_pages`)
    Distributed Map     lists those chunk objects (s3:listObjectsV2); each child gets a batch of chunk keys
    process(batch)      every account of the chunks through the reconcile step (`handlers.reconcile_body`,
                        what the reconcile Lambda does per message), so decisions, guards against loops,
                        dead letters and the deliveries queued (one queue per target) are the same
    vanished(system i)  when the read was complete: the system's links it did not list, judged by the change
                        guard and sent to the reconcile queue as removed, in pieces that fit an invocation
    then system i+1, lifecycle sources first (`Runtime.polled_systems`), until none is left.

A child is idempotent: reconciling an account again decides nothing new, and a delivery queued twice is
answered "duplicate" or finds nothing owed. So a failed child, a redriven Map run or a whole sweep run again
writes nothing twice. In AWS the deliveries are consumed while the sweep runs: a create then looks for the
account first (`sweep_window.py`), so a first load into targets that already hold accounts links them;
`run_local` delivers only once every system is reconciled, as `sync` does. An account that reads as we hold it
is decided again (a `reevaluate` of its record), as a sync's full read does (`sweep_rules.chunk_messages`).

`peoplesync sync --full` (and `plan --full`) run these steps in-process (`LocalSweep`: one system at a time,
the batches through `process` with the local run's reconcile step), adding what a sync's full read always did:
each chunk judged by the change guard as a paged poll's page is, and the system's cursor saved
(`sweep_rules.py`). The state machine's children run in parallel and share no count of changes, so in AWS the
guard judges only who vanished (its own count, carried from invocation to invocation); a sweep there is started
by an operator, like `sync --approve`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..model import Observation, observation_to_dict
from ..ports import Connector
from ..redact import scrub
from . import guard, messages, seen
from . import sweep_rules as rules
from .poll import PollReport, pages_of
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
    complete: bool = False  # the read listed every account: who it did not list is gone
    parts: int = 0  # objects of listed keys written so far (one per invocation: `sweep_rules.listed_part`)
    confirm: bool = False  # the read ended but may have shifted: who it did not list is re-read first
    cursor: str | None = field(default=None, repr=False)  # the read's delta cursor (kept locally, not sent on)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "cursor"}


def snapshot(rt: Runtime, blobs: Blobs, run: str, index: int, *, chunk: int | None = None,
             resume: dict[str, Any] | None = None, budget: float | None = None,
             clock: Callable[[], float] = time.monotonic, local: bool = False) -> Snapshot:
    """Read system number `index` (lifecycle sources first) in pages of `chunk` accounts and write each page as
    a chunk object. `budget` (seconds; None: no limit): once spent, stop after the page and answer
    `more_pages` with the position to go on from; `resume`: that answer, to go on. A read that fails concludes
    nothing (SPEC 20): the chunks of the pages read before it are reconciled, which concludes nothing about
    the accounts not read; the sweep goes on with the next system; a read that lists nobody is reported failed.
    Each invocation also writes the digests of the keys its pages listed, for the vanished step
    (`sweep_rules.put_listed`). `local` (`sync --full`): the system is read as `sync` reads it (whole, then cut
    into chunks) and the read's cursor kept."""
    systems = rt.polled_systems()
    if not 0 <= index < len(systems):
        raise ValueError(f"no polled system number {index}; there are {len(systems)}")
    system, size = systems[index], chunk or CHUNK
    shot = Snapshot(system, system_prefix(run, index, system), index=index, next=index + 1,
                    more=index + 1 < len(systems))
    if resume:
        shot.prefix, shot.chunks, shot.accounts = str(resume["prefix"]), int(resume["chunks"]), int(resume["accounts"])
        shot.parts = int(resume.get("parts") or 0)
    start = resume.get("position") if resume else None
    stop_at = None if budget is None else clock() + budget
    pages: Iterator[Any] | None = None
    keys = rules.Listed()  # who this invocation's pages listed, for the vanished step
    while True:
        try:  # only the read's failures are the system's: a bucket that fails fails the step (retried)
            pages = pages or pages_of(rt.connector(system), None, full=True, page_size=None if local else size,
                                      start=start)
            page = next(pages, None)
        except Exception as exc:  # a target down must not stop the other systems' sweep
            shot.failed = scrub(f"{type(exc).__name__}: {exc}")
            log.warning("sweep snapshot of %s failed: %s", system, shot.failed)
            shot.complete, page = False, None
        if page is None:
            if not shot.accounts and not shot.failed:
                shot.failed = "the read returned no accounts; nobody is deactivated because of it"
            if not shot.failed:
                rules.put_listed(blobs, run_prefix(run), shot, keys)
            return shot
        if page.restarted:  # the source changed under the position: its earlier chunks are left behind
            shot.prefix = f"{system_prefix(run, index, system)}again-{_short(start)}/"
            shot.chunks = shot.accounts = shot.parts = 0
            keys = rules.Listed()
        _write(blobs, shot, page.observations, size)
        keys.add(o.key for o in page.observations)
        if page.last:
            shot.complete, shot.cursor, shot.confirm = page.complete, page.cursor, page.confirm
        if not page.last and stop_at is not None and clock() >= stop_at:
            shot.more_pages, shot.position = True, page.position
            rules.put_listed(blobs, run_prefix(run), shot, keys)
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


def who_vanished(rt: Runtime, blobs: Blobs, run: str, shot: dict[str, Any], send: Any, *,
             resume: dict[str, Any] | None = None, budget: float | None = None,
             clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The state machine's vanished step for one system, after its chunks are reconciled: when its snapshot
    (`shot`, the step's answer) read every account, the links it did not list, judged by the change guard and
    sent to `send` (the reconcile queue) as removed, as a poll's complete read does; a read that may have
    shifted (`confirm`) has those re-read first. A read not known complete concludes nothing (SPEC 20).
    `budget` (seconds): once spent, the step stops after a batch of 500 records and answers `more` with where
    to go on (`resume`: that answer, which also carries the guard's count and its base, the people known, counted
    once by the first piece: a count lists every record id, too much to pay per batch at a million people)."""
    resume = resume or {}
    answer: dict[str, Any] = {"more": False, "after": None, "changed": int(resume.get("changed") or 0),
                              "vanished": int(resume.get("vanished") or 0), "held": None,
                              "population": resume.get("population")}
    if not (shot.get("complete") or shot.get("confirm")) or shot.get("failed"):
        return answer
    system = str(shot["system"])
    if answer["population"] is None and rt.plan.config.policies.max_changes_per_run is not None:
        answer["population"] = guard.people_known(rt.store)
    swept = rules.Swept(rt.reconciler, system, approve=False, population=answer["population"],
                        connectors=rt.connector)
    swept.run.changed = answer["changed"]
    stop_at = None if budget is None else clock() + budget
    recheck = None if shot.get("complete") else seen.recheck_in(rt.connector, system)  # `confirm`
    after = swept.gone(rules.load_listed(blobs, run_prefix(run), shot), send, after=resume.get("after"),
                       stop=None if stop_at is None else (lambda: clock() >= stop_at), recheck=recheck)
    answer.update(more=after is not None, after=after, changed=swept.run.changed, held=swept.report.held or None)
    answer["vanished"] += swept.report.vanished
    return answer


def run_local(rt: Runtime, blobs: Blobs, run: str, *, batch: int = 5, chunk: int | None = None,
              then: Callable[[Runtime], Any] | None = None) -> list[Snapshot]:
    """The state machine's loop in-process: each system snapshotted, then its chunks processed in batches of
    `batch` keys (the ItemBatcher's MaxItemsPerBatch), then who vanished (sent straight to the reconcile step).
    `then(rt)` runs once every system is reconciled (the local run delivers there, as `sync` does: a target's
    accounts are correlated before anything is created in it)."""
    shots, index, more = [], 0, True
    while more:
        shot = snapshot(rt, blobs, run, index, chunk=chunk)
        while shot.more_pages:  # only with a budget; the state machine's MorePages loop
            shot = snapshot(rt, blobs, run, index, chunk=chunk, resume=shot.to_dict())
        shots.append(shot)
        keys = sorted(blobs.keys(shot.prefix))
        for i in range(0, len(keys), batch):
            process(keys[i:i + batch], blobs, rt)
        who_vanished(rt, blobs, run, shot.to_dict(), _Reconciled(rt))  # whole: no budget, no pieces
        index, more = shot.next, shot.more
    if then is not None:
        then(rt)
    return shots


class _Reconciled:
    """The reconcile queue of `run_local`: each message through the reconcile step at once, as `process` does."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def send(self, messages: list[dict[str, Any]], **_: Any) -> None:
        from .handlers import reconcile_body

        for message in messages:
            reconcile_body(json.dumps(message), self.rt)


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
        shot = snapshot(rt, self.blobs, self.run, index, local=True)
        if shot.failed:
            return PollReport(shot.system, read=shot.accounts, full=True, failed=shot.failed)
        swept = rules.Swept(rt.reconciler, shot.system, approve=self.approve, population=self.population,
                            connectors=rt.connector)
        keys = sorted(self.blobs.keys(shot.prefix))
        for i in range(0, len(keys), self.batch):
            process(keys[i:i + self.batch], self.blobs, rt, handle=self._step, judge=swept.chunk)
            self.bridge._reconcile(self.report, self.progress)  # records woken, re-reads: as the queue would
        if shot.complete or shot.confirm:  # confirm: a read that may have shifted, who it missed re-read
            swept.gone(rules.load_listed(self.blobs, run_prefix(self.run), shot.to_dict()), self,
                       recheck=None if shot.complete else seen.recheck_in(rt.connector, shot.system))
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
