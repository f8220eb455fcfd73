"""The whole flow in one process: poll every system, reconcile, guard, deliver. No AWS account needed.

This is what `peoplesync sync` runs, and what the scenario tests drive. In AWS the same steps run in separate
Lambdas linked by SQS (see `functions/`); the decisions are the same because both go through `Reconciler`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, Plan, compile_config, load_config
from ..engine import Engine
from ..model import PERSON, Observation
from ..ports import (
    Connector,
    PeoplesyncError,
    PermanentError,
    ReadFailed,
    SecretsPort,
    StateStore,
    TransientError,
    VersionConflict,
)
from .flow import vanished
from .guard import change_limit
from .reconcile import CREATED, HELD, LINKED, MATCHED, STALE, Reconciler, Result

log = logging.getLogger("peoplesync")
BATCH = 500  # writes handed to a connector at once (one transaction, one file rewrite)

Progress = Callable[[str, int, int], None]


@dataclass
class RunReport:
    seen: int = 0
    created: int = 0
    linked: int = 0
    changed_ids: set[str] = field(default_factory=set)  # people with a decision this run
    conflicts: int = 0
    held_for_review: int = 0
    stale: int = 0
    writes: Counter[str] = field(default_factory=Counter)
    read_failures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    dead_letters: int = 0
    held_by_guard: str | None = None
    full: bool = False
    decisions: list[str] = field(default_factory=list)  # one line each, for `plan` and the summary

    @property
    def changed(self) -> int:
        return len(self.changed_ids)

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


def system_attributes(plan: Plan, system: str) -> list[str]:
    """The real attributes a system's connector reads and writes (a transform's virtual name never)."""
    return sorted(plan.systems[system].attributes)


def build_connectors(plan: Plan, secrets: SecretsPort | None, given: dict[str, Connector] | None,
                     base_dir: Path | None = None) -> dict[str, Connector]:
    from .. import connectors as registry

    out = dict(given or {})
    for name, sp in plan.systems.items():
        if name in out or sp.push:
            continue
        system = plan.config.systems[name]
        if base_dir is not None:
            system = _relative_to(system, base_dir)
        out[name] = registry.connector_class(sp.connector).from_system(name, system, system_attributes(plan, name),
                                                                      secrets=secrets)
    return out


def _relative_to(system: Any, base_dir: Path) -> Any:
    """Local paths in a configuration are relative to the configuration file."""
    extra = dict(system.model_extra or {})
    changed = False
    for key in ("path", "write_path", "seed"):
        value = extra.get(key)
        if isinstance(value, str) and "://" not in value and not Path(value).is_absolute():
            extra[key] = str(base_dir / value)
            changed = True
    url = extra.get("url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////") \
            and url != "sqlite:///:memory:":
        extra["url"] = "sqlite:///" + str(base_dir / url[len("sqlite:///"):])
        changed = True
    return system.model_copy(update=extra) if changed else system


class LocalBridge:
    def __init__(self, config: Config | Plan | str | Path | dict[str, Any], *, store: StateStore | None = None,
                 connectors: dict[str, Connector] | None = None, secrets: SecretsPort | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 max_attempts: int = 4, base_delay: float = 0.05, base_dir: Path | None = None) -> None:
        if isinstance(config, Plan):
            plan = config
        else:
            cfg = config if isinstance(config, Config) else load_config(config)
            plan = compile_config(cfg)
        if store is None:
            from ..adapters.memory import MemoryStore

            store = MemoryStore()
        self.plan = plan
        self.store = store
        self.engine = Engine(plan)
        self.reconciler = Reconciler(plan, store, clock=clock, engine=self.engine)
        self.connectors = build_connectors(plan, secrets, connectors, base_dir)
        self.clock, self.sleep = clock, sleep
        self.max_attempts, self.base_delay = max_attempts, base_delay
        self._pending_wake: set[str] = set()
        self._deferred: set[tuple[str, str]] = set()  # deliveries waiting for the next read (version conflict)

    # ------------------------------------------------------------------------------------------------------
    def sync(self, *, full: bool = False, approve: bool = False, deliver: bool = True,
             progress: Progress | None = None) -> RunReport:
        try:
            return self._sync(full, approve, deliver, progress)
        finally:
            for connector in self.connectors.values():
                connector.close()  # one connection per run, as a Lambda invocation would

    def _sync(self, full: bool, approve: bool, deliver: bool, progress: Progress | None) -> RunReport:
        report = RunReport()
        population = self._population()  # the people known before this run: the guard's base
        known = self.store.get_meta("fingerprint") or {}
        remapped = known.get("value") != self.plan.fingerprint
        report.full = full = full or remapped
        owed = self._outbox()
        touched: set[str] = set()
        for system, connector in self._read_order():
            for obs in self._read(system, connector, full, report):
                result = self.reconciler.observation(obs)
                self._tally(result, report, owed, touched)
                if progress:
                    progress("reconcile", report.seen, 0)
        if remapped:  # a mapping change: everyone is re-evaluated, not only those who changed
            for rid in list(self.store.all_ids(PERSON)) + list(self.store.all_ids("group")):
                if rid not in touched:
                    self._tally(self.reconciler.reevaluate(rid), report, owed, touched, observed=False)
        self._wake_all(owed, touched, report)
        self.store.put_meta("outbox", {"items": sorted(owed)})
        if not deliver:
            return report
        limit = change_limit(self.plan.config.policies.max_changes_per_run, population)
        people = {rid for rid, _ in owed}
        if limit is not None and len(people) > limit and not approve:
            report.held_by_guard = (f"{len(people)} people would change, above max_changes_per_run="
                                    f"{self.plan.config.policies.max_changes_per_run} ({limit}); nothing was "
                                    f"written. Review with `peoplesync plan`, then `peoplesync sync --approve`.")
            log.warning(report.held_by_guard)
            return report
        self._deliver(owed, report, progress)
        if remapped and not report.read_failures:
            self.store.put_meta("fingerprint", {"value": self.plan.fingerprint})
        return report

    def _read_order(self) -> list[tuple[str, Connector]]:
        """Lifecycle sources first: people come from the system that says who exists, and the accounts of
        the other systems are then correlated to them rather than creating people of their own."""
        first = [s for kind in self.plan.lifecycle.values() for s in kind]
        return sorted(self.connectors.items(), key=lambda item: (item[0] not in first, first.index(item[0])
                                                                 if item[0] in first else 0))

    def receive(self, obs: Observation) -> Result:
        """An event pushed to us (a webhook, a change notification): reconcile it now; its writes are owed
        and go out with the next delivery (`deliver_owed` or the next `sync`)."""
        result = self.reconciler.observation(obs)
        owed = self._outbox()
        before = set(owed)
        self._tally(result, RunReport(), owed, set())
        self._wake_all(owed, set(), RunReport())
        if owed != before:
            self.store.put_meta("outbox", {"items": sorted(owed)})
        return result

    def deliver_owed(self) -> RunReport:
        report = RunReport()
        self._deliver(self._outbox(), report, None)
        return report

    def _outbox(self) -> set[tuple[str, str]]:
        return {(str(x[0]), str(x[1])) for x in (self.store.get_meta("outbox") or {}).get("items", [])}

    def _read(self, system: str, connector: Connector, full: bool, report: RunReport) -> Iterable[Observation]:
        cursor = None if full else self.store.get_cursor(system)
        try:
            result = connector.read(cursor, full=full)
        except (ReadFailed, TransientError, PeoplesyncError, OSError) as exc:
            report.read_failures[system] = str(exc)
            log.warning("read of %s failed; nothing concluded from it: %s", system, exc)
            return
        observations = list(result.observations)
        if result.complete:
            if not observations:
                report.read_failures[system] = "the read returned no accounts; nobody is deactivated because of it"
                return
            observations += vanished(self.plan, self.store, system, {o.key for o in observations})
        yield from observations
        # the cursor moves only once everything read has been reconciled (queued, in AWS)
        self.store.put_cursor(system, result.cursor)

    def _tally(self, result: Result, report: RunReport, owed: set[tuple[str, str]], touched: set[str],
               observed: bool = True) -> None:
        if observed:
            report.seen += 1
        report.created += result.status == CREATED
        report.linked += result.status in (LINKED, MATCHED)
        report.held_for_review += result.status == HELD
        report.stale += result.status == STALE
        report.conflicts += result.conflicts
        if result.record_id:
            touched.add(result.record_id)
            if any(d.rule != "deferred" for d in result.decisions):
                report.changed_ids.add(result.record_id)
            owed.update((result.record_id, s) for s in result.writes)
        report.decisions += [f"{result.record_id}: {d}" for d in result.decisions]
        self._pending_wake |= result.wake

    def _wake_all(self, owed: set[tuple[str, str]], touched: set[str], report: RunReport) -> None:
        rounds = 0
        while self._pending_wake and rounds < 10:
            wake, self._pending_wake = self._pending_wake, set()
            for rid in sorted(wake):
                self._tally(self.reconciler.reevaluate(rid), report, owed, touched, observed=False)
            rounds += 1

    def _population(self) -> int:
        return sum(1 for _ in self.store.all_ids(PERSON))

    # ------------------------------------------------------------------------------------------------------
    def _deliver(self, owed: set[tuple[str, str]], report: RunReport, progress: Progress | None) -> None:
        rounds = 0
        while owed and rounds < 5:
            rounds += 1
            done = 0
            for system in sorted({s for _, s in owed}):
                connector = self.connectors.get(system)
                rids = sorted(rid for rid, s in owed if s == system)
                owed.difference_update((rid, system) for rid in rids)
                if connector is None:
                    continue
                for start in range(0, len(rids), BATCH):
                    chunk = rids[start:start + BATCH]
                    for rid in self._deliver_batch(chunk, system, connector, report):
                        self._deliver_one(rid, system, connector, report)  # one by one, with retries
                    done += len(chunk)
                    if progress:
                        progress("deliver", done, 0)
            self._wake_all(owed, set(), report)
        owed |= self._deferred
        self._deferred = set()
        self.store.put_meta("outbox", {"items": sorted(owed)})

    def _deliver_batch(self, rids: list[str], system: str, connector: Connector, report: RunReport) -> list[str]:
        """One `write_batch` for these records; returns those whose writes failed, for `_deliver_one`."""
        written, failed, wake = self.reconciler.deliver_batch(rids, system, connector)
        report.writes[system] += sum(written.values())
        self._pending_wake |= wake
        return failed

    def _deliver_one(self, rid: str, system: str, connector: Connector, report: RunReport) -> None:
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                writes, wake = self.reconciler.deliver(rid, system, connector)
            except TransientError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if attempt < self.max_attempts:
                    self.sleep(exc.retry_after if exc.retry_after is not None
                               else self.base_delay * 2 ** (attempt - 1))
                continue
            except VersionConflict as exc:  # the account changed under us: read it again, decide again
                reason = f"VersionConflict: {exc}"
                state = self.store.load(rid)
                shadow = state.shadows.get(system) if state else None
                fresh = connector.read_keys([shadow.key]) if shadow else None
                if fresh is None:
                    self._deferred.add((rid, system))  # the next run's read will show the change
                    return
                for obs in fresh.observations:
                    self.reconciler.observation(obs)
                continue
            except PermanentError as exc:
                reason = f"PermanentError: {exc}"
                break
            report.writes[system] += len(writes)
            self._pending_wake |= wake
            return
        self.dead_letter(rid, system, reason)
        report.dead_letters += 1
        report.errors.append(f"{system} {rid}: {reason}")

    # --- the dead-letter side (the local twin of the delivery queue's DLQ) -----------------------------------
    def dead_letter(self, rid: str, system: str, reason: str) -> None:
        letters = (self.store.get_meta("dead_letters") or {}).get("items", [])
        letters.append({"record_id": rid, "system": system, "reason": reason, "at": self.clock()})
        self.store.put_meta("dead_letters", {"items": letters})
        log.error("delivery to %s for %s dead-lettered: %s", system, rid, reason)

    def dead_letters(self) -> list[dict[str, Any]]:
        return list((self.store.get_meta("dead_letters") or {}).get("items", []))

    def replay(self) -> RunReport:
        """Try every dead-lettered delivery again; those that fail again go back to the dead letters."""
        letters = self.dead_letters()
        self.store.put_meta("dead_letters", {"items": []})
        report = RunReport()
        self._deliver({(x["record_id"], x["system"]) for x in letters}, report, None)
        return report
