"""The fault drill: one scenario (a synced population, then changes, the change sync, recovery syncs until
quiet), run clean and under each fault, every run compared with the clean run of the same schedule.

Categories counted per run (`Tally`):
- lost: a (target, person, attribute or active state) that differs from the clean run at the end;
- repeated: writes a target got beyond the clean run's count;
- duplicates: accounts a target has beyond the clean run's;
- reverted: the cloud-side edit of the two-way phone undone (a write putting another value back, or not there
  at the end);
- wrong_deactivations: a deactivation of someone who is not the leaver (a write, or the end state);
- dead_letters_without_reason: a dead letter with no `reason` attribute;
- records_differ: a record whose golden values or active state differ from the clean run's;
- unsettled: recovery syncs did not reach a quiet sync (no write, nothing queued) within the bound.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from peoplesync.model import Write
from peoplesync.ports import TransientError, WriteResult

from .harness import EDITED_PHONE, LEAVER, PHONE, Chaos, Crash, Faults, Throttled, World

TARGETS = ("ad", "cloud")
RECOVERY_SYNCS = 6
CATEGORIES = ("lost", "repeated", "redundant", "duplicates", "reverted", "wrong_deactivations", "dead_letters_without_reason",
              "records_differ", "unsettled", "polls_raised", "retry_after_ignored")
EMPLOYEE_ID = {"ad": "employeeID", "cloud": "employerInfo.employeeId", "hr": "Employee_ID"}


# --- what the end of a run looks like -------------------------------------------------------------------
@dataclass
class End:
    accounts: dict[str, dict[str, list[tuple[bool, tuple[tuple[str, Any], ...]]]]]  # target -> emp -> accounts
    counts: dict[str, int]  # accounts per target
    writes: dict[str, int]
    golden: dict[str, tuple[bool, tuple[tuple[str, Any], ...]]]  # emp -> (active, golden)


def end_of(world: World) -> End:
    accounts: dict[str, dict[str, list[Any]]] = {}
    for target in TARGETS:
        conn = world[target]
        emp_of = {k: a["attrs"].get(EMPLOYEE_ID[target]) for k, a in conn.accounts.items()}
        per: dict[str, list[Any]] = {}
        for key, a in conn.accounts.items():
            attrs = tuple(sorted((n, emp_of.get(v, v) if n == "manager" else v) for n, v in a["attrs"].items()))
            per.setdefault(str(emp_of[key]), []).append((bool(a["active"]), attrs))
        accounts[target] = per
    golden = {}
    for rid in world.memory.all_ids("person"):
        state = world.memory.load(rid)
        assert state is not None
        emp = str(state.golden.get("employee_id"))
        values = tuple(sorted((k, repr(v) if k != "manager" else _manager(world, v)) for k, v in state.golden.items()))
        golden[emp] = (state.active, values)
    return End(accounts, {t: len(world[t].accounts) for t in TARGETS}, world.writes(), golden)


def _manager(world: World, rid: Any) -> str:
    state = world.memory.load(str(rid)) if rid else None
    return str(state.golden.get("employee_id")) if state else repr(rid)


# --- watching the targets -------------------------------------------------------------------------------
@dataclass
class Watch:
    """What happened at the targets: reverts of the phone edit, deactivations, Retry-After kept."""

    reverts: int = 0
    redundant: list[str] = field(default_factory=list)  # writes that changed nothing, or a second create
    revert_writes: list[str] = field(default_factory=list)
    deactivations: list[str] = field(default_factory=list)  # employee ids deactivated
    early_retries: int = 0  # a write tried again before the Retry-After the target asked for
    not_before: dict[tuple[str, str], float] = field(default_factory=dict)


TargetFault = Callable[[str, Write], "tuple[str, BaseException] | None"]  # ("before"|"after", exc) or None


def watch(world: World, target_fault: TargetFault | None = None) -> Watch:
    seen = Watch()
    for target in TARGETS:
        conn = world[target]
        apply = conn._apply

        def wrapped(change: Write, conn: Any = conn, apply: Any = apply, target: str = target) -> WriteResult:
            ident = change.key or str(change.attrs.get(EMPLOYEE_ID[target]))
            due = seen.not_before.get((target, ident))
            if due is not None and world.net.now < due:
                seen.early_retries += 1
            fault = target_fault(target, change) if target_fault else None
            if fault is not None and fault[0] == "before":
                exc = fault[1]
                if isinstance(exc, TransientError) and exc.retry_after:
                    seen.not_before[(target, ident)] = world.net.now + exc.retry_after
                raise exc
            emp = conn.accounts[change.key]["attrs"].get(EMPLOYEE_ID[target]) if change.key in conn.accounts \
                else change.attrs.get(EMPLOYEE_ID[target])
            if change.op == "deactivate":
                seen.deactivations.append(str(emp))
            if emp == "E3" and PHONE_OF[target] in change.attrs and change.attrs[PHONE_OF[target]] != EDITED_PHONE \
                    and world.armed_once:
                seen.reverts += 1
                seen.revert_writes.append(f"{target} {change.op} {change.key} {change.attrs}")
            if world.armed_once and _changes_nothing(conn, change, target):
                seen.redundant.append(f"{target} {change.op} {change.key or emp} {sorted(change.attrs)}")
            result = apply(change)
            if fault is not None:  # "after": the target did it, the answer was lost
                raise fault[1]
            return result

        conn._apply = wrapped  # type: ignore[method-assign]
    return seen


PHONE_OF = {"ad": "telephoneNumber", "cloud": PHONE}


def _changes_nothing(conn: Any, change: Write, target: str) -> bool:
    """A write the target already holds: a second create for the same person, a deactivation of an inactive
    account, an update whose every value is there already."""
    if change.op == "create":
        emp = change.attrs.get(EMPLOYEE_ID[target])
        return any(a["attrs"].get(EMPLOYEE_ID[target]) == emp for a in conn.accounts.values())
    account = conn.accounts.get(change.key)
    if account is None:
        return False
    if change.op in ("deactivate", "activate"):
        return bool(account["active"]) == (change.op == "activate")
    return all(account["attrs"].get(k) == v for k, v in change.attrs.items())


# --- one run --------------------------------------------------------------------------------------------
@dataclass
class Run:
    end: End
    seen: Watch
    dead_letters: list[dict[str, Any]]
    settled: bool
    positions: int
    fired: str | None
    log: list[str]
    written: dict[str, list[str]]
    polls: list[dict[str, Any]]


def run(*, faults: Faults | None = None, chaos: Chaos | None = None, interleave: bool = False,
        target_fault: TargetFault | None = None, stale: bool = False) -> Run:
    world = World(faults, chaos)
    world.armed_once = False  # type: ignore[attr-defined]
    world.initial()
    seen = watch(world, target_fault)
    world.change()
    world.armed_once = True  # type: ignore[attr-defined]
    before = _snapshot(world) if stale else None
    world.faults.armed = True
    world.sync(interleave=interleave)
    world.faults.armed = False
    if before is not None:
        _replay_stale(world, before)
    settled = False
    for _ in range(RECOVERY_SYNCS):
        writes = sum(world.writes().values())
        world.sync()
        if sum(world.writes().values()) == writes and world.net.pending() == 0:
            settled = True
            break
    letters = [{"body": m.body, "attributes": m.attributes} for m in world.net.dead_letters()]
    written = {t: [f"{w.op} {w.key or ''} {sorted(w.attrs)}" for w in world[t].writes] for t in TARGETS}
    return Run(end_of(world), seen, letters, settled, world.faults.calls, world.faults.fired, world.faults.log,
               written, world.poll_reports)


def _snapshot(world: World) -> dict[str, dict[str, Any]]:
    return {t: {k: world[t].observation(k) for k in world[t].accounts} for t in TARGETS}


def _replay_stale(world: World, before: dict[str, dict[str, Any]]) -> None:
    """Reads taken before the change sync's writes, reconciled after them (a slow poll; an eventually
    consistent replica): each account the bridge wrote is observed again as it was before."""
    from peoplesync.service import messages

    for target in TARGETS:
        written = {w.key for w in world[target].writes if w.key}
        stale = [before[target][k] for k in sorted(written) if k in before[target]]
        if stale:
            world.net.queue("reconcile").send(messages.observed(stale))
    world.drain(world.net.now + 300)


@cache
def clean(interleave: bool = False) -> Run:
    return run(interleave=interleave)


def tally(r: Run, ref: Run, why: dict[str, str] | None = None) -> Counter[str]:
    out: Counter[str] = Counter()
    why = why if why is not None else {}
    for target in TARGETS:
        mine, theirs = r.end.accounts[target], ref.end.accounts[target]
        for emp, accounts in theirs.items():
            expected = accounts[0]
            got = mine.get(emp, [])
            if expected not in got:
                have = dict(got[0][1]) if got else {}
                want = dict(expected[1])
                diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
                out["lost"] += len(diff) + (0 if got and got[0][0] == expected[0] else 1)
                why.setdefault("lost", f"{target} {emp}: {diff or 'active'} is {[have.get(k) for k in diff]}, "
                                       f"clean run has {[want.get(k) for k in diff]}")
        out["duplicates"] += max(0, r.end.counts[target] - ref.end.counts[target])
        if r.end.counts[target] > ref.end.counts[target]:
            why.setdefault("duplicates", f"{target}: " + ", ".join(f"{e} has {len(a)} accounts" for e, a in
                                                                   mine.items() if len(a) > 1))
        out["repeated"] += max(0, r.end.writes[target] - ref.end.writes[target])
        if r.end.writes[target] > ref.end.writes[target]:
            why.setdefault("repeated", f"{target}: {r.end.writes[target]} writes, clean run "
                                       f"{ref.end.writes[target]}; writes: {r.written[target]}")
        if emp_active_wrong := [e for e, accts in mine.items() if e != LEAVER and e in theirs
                                and any(not a[0] for a in accts) and all(a[0] for a in theirs[e])]:
            out["wrong_deactivations"] += len(emp_active_wrong)
    out["wrong_deactivations"] += sum(1 for e in r.seen.deactivations if e != LEAVER)
    if r.seen.reverts:
        why.setdefault("reverted", f"phone of E3 written back to an older value: {r.seen.revert_writes}")
    final_phone = [a for t in TARGETS for a in r.end.accounts[t].get("E3", [])]
    out["reverted"] += r.seen.reverts + sum(1 for a in final_phone if dict(a[1]).get(PHONE_OF_ATTRS[0]) not in
                                            (None, EDITED_PHONE) or dict(a[1]).get(PHONE_OF_ATTRS[1]) not in
                                            (None, EDITED_PHONE))
    bare = [d["body"] for d in r.dead_letters if not d["attributes"].get("reason")]
    out["dead_letters_without_reason"] += len(bare)
    if bare:
        why.setdefault("dead_letters_without_reason", f"{bare[0]}")
    out["polls_raised"] += sum(1 for p in r.polls if "raised" in p)
    out["redundant"] += len(r.seen.redundant)
    if r.seen.redundant:
        why.setdefault("redundant", f"{r.seen.redundant}")
    out["retry_after_ignored"] += r.seen.early_retries
    if r.seen.early_retries:
        why.setdefault("retry_after_ignored", f"{r.seen.early_retries} write(s) tried again before the Retry-After")
    out["records_differ"] += sum(1 for emp, g in ref.end.golden.items() if r.end.golden.get(emp) != g)
    out["unsettled"] += 0 if r.settled else 1
    return out


PHONE_OF_ATTRS = ("telephoneNumber", PHONE)


# --- the faults -----------------------------------------------------------------------------------------
@dataclass
class Sweep:
    """The totals of one fault kind, and for each category the smallest case that shows it."""

    name: str
    cases: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    cases_with: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    where: dict[str, list[str]] = field(default_factory=dict)  # category -> the cases that show it
    dead_letters: int = 0
    seconds: float = 0.0

    def add(self, label: str, r: Run, ref: Run) -> None:
        self.cases += 1
        why: dict[str, str] = {}
        got = tally(r, ref, why)
        self.dead_letters += len(r.dead_letters)
        for k, v in got.items():
            if v:
                self.totals[k] += v
                self.cases_with[k] += 1
                self.first.setdefault(k, f"{label}: {v}; {why.get(k, '')}".rstrip("; "))
                self.where.setdefault(k, []).append(label.split(" (")[0])


def crash_sweep(*, make: Callable[[str], BaseException] | None = None, interleave: bool = False,
                positions: Iterable[int] | None = None, name: str = "crash") -> Sweep:
    """A fault at every store and queue call position of the change sync (a fresh world each time)."""
    ref = clean(interleave)
    sweep = Sweep(name)
    for k in positions or range(1, ref.positions + 1):
        r = run(faults=Faults(k, make), interleave=interleave)
        sweep.add(f"position {k} ({r.fired})", r, ref)
    return sweep


def throttle(what: str) -> BaseException:
    return Throttled(f"throttled at {what}")


def crash(what: str) -> BaseException:
    return Crash(f"crash at {what}")


def chaos_sweep(seeds: Iterable[int], **kinds: Any) -> Sweep:
    """Duplicated, delayed, dropped-then-redelivered and reordered messages (seeded)."""
    ref = clean(False)
    sweep = Sweep("messages")
    for seed in seeds:
        rng = random.Random(seed)
        chaos = Chaos(rng, **kinds)
        sweep.add(f"seed {seed}", run(chaos=chaos), ref)
    return sweep


def target_sweep(seeds: Iterable[int], rate: float = 0.35, budget: int = 6) -> Sweep:
    """Targets answering 429 with Retry-After, 5xx, timeouts and resets (before or after applying)."""
    ref = clean(False)
    sweep = Sweep("targets")
    for seed in seeds:
        rng = random.Random(seed)
        left = [budget]

        def fault(target: str, change: Write, rng: random.Random = rng, left: list[int] = left
                  ) -> tuple[str, BaseException] | None:
            if left[0] <= 0 or rng.random() >= rate:
                return None
            left[0] -= 1
            kind = rng.choice(("429", "5xx", "timeout", "reset", "timeout-after", "reset-after"))
            if kind == "429":
                return "before", TransientError(f"{target}: 429 Too Many Requests", retry_after=rng.randint(1, 90))
            if kind == "5xx":
                return "before", TransientError(f"{target}: 503 Service Unavailable")
            exc: BaseException = TimeoutError(f"{target}: read timed out") if kind.startswith("timeout") \
                else ConnectionResetError(104, f"{target}: connection reset by peer")
            return ("after" if kind.endswith("after") else "before"), exc

        sweep.add(f"seed {seed}", run(target_fault=fault), ref)
    return sweep


def stale_sweep() -> Sweep:
    """Reads taken before the bridge's own writes, reconciled after them; and the schedules firing together
    (every system polled before the reconcile queue drains)."""
    sweep = Sweep("stale")
    sweep.add("pre-write reads of every written account replayed after the change sync", run(stale=True), clean())
    sweep.add("every system polled before anything is drained", run(interleave=True), clean())
    for seed in range(20):
        chaos = Chaos(random.Random(seed), reorder=True)
        sweep.add(f"polled together, received in random order, seed {seed}", run(interleave=True, chaos=chaos),
                  clean())
    return sweep


def persistent_sweep() -> Sweep:
    """A target that fails every time for one account: dead-lettered in the end, each letter with its reason.
    A hang that outlives the function (a crash at every receive), 5xx, a timeout, a refusal."""
    ref = clean(False)
    sweep = Sweep("persistent")
    kinds: dict[str, Callable[[], BaseException]] = {
        "the cloud hangs on the new hire's create until the function times out": lambda: Crash("timed out"),
        "the cloud answers 503 to the new hire's create": lambda: TransientError("cloud: 503 Service Unavailable"),
        "the cloud times out on the new hire's create": lambda: TimeoutError("cloud: read timed out"),
        "the cloud answers 429 Retry-After 30 to the new hire's create": lambda: TransientError("429", retry_after=30),
    }
    for label, make in kinds.items():
        def fault(target: str, change: Write, make: Callable[[], BaseException] = make
                  ) -> tuple[str, BaseException] | None:
            return ("before", make()) if target == "cloud" and change.op == "create" else None

        sweep.add(label, run(target_fault=fault), ref)
    return sweep


def timed(make: Callable[[], Sweep]) -> Sweep:
    start = time.perf_counter()
    sweep = make()
    sweep.seconds = time.perf_counter() - start
    return sweep


def all_sweeps(scale: int = 1) -> list[Sweep]:
    """Every fault kind, as the report and the tests run them."""
    return [timed(make) for make in sweep_makers(scale)]


def sweep_makers(scale: int = 1) -> list[Callable[[], Sweep]]:
    return [
        lambda: crash_sweep(name="crash (BaseException: a timeout or kill) at every store/queue call position"),
        lambda: crash_sweep(make=throttle, name="exception (a throttled store or queue) at every position"),
        lambda: crash_sweep(interleave=True, name="crash at every position, schedules firing together"),
        lambda: chaos_sweep(range(300 * scale), duplicate=0.08, delay=0.08, drop=0.08, reorder=True),
        lambda: target_sweep(range(200 * scale)),
        stale_sweep,
        persistent_sweep,
    ]
