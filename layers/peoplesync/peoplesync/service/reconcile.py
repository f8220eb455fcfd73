"""The reconcile and deliver services: the engine wired to a state store. No AWS here.

The reconcile Lambda, the local run and the tests all go through these two classes, so each behaves the same
everywhere. Saves are conditional on the record's version; a lost race reloads the record and decides again
(the engine is deterministic, so deciding twice is safe).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Plan
from ..engine import Engine, Outcome, decode
from ..engine.correlation import AMBIGUOUS, DUPLICATE, UNMATCHED, Match, correlate, new_record_id
from ..model import CREATE, Decision, Observation, RecordState, Write
from ..ports import Connector, StateStore, VersionConflict, WriteResult, owed_systems

MAX_RACES = 8

CREATED, LINKED, MATCHED, UPDATED, UNCHANGED, STALE, HELD, IGNORED = (
    "created", "linked", "matched", "updated", "unchanged", "stale", "held", "ignored")


@dataclass(slots=True)
class Result:
    status: str
    record_id: str | None = None
    writes: set[str] = field(default_factory=set)
    decisions: list[Decision] = field(default_factory=list)
    wake: set[str] = field(default_factory=set)
    reason: str = ""
    owed: set[str] = field(default_factory=set)  # every target the record still owes a write, new or not

    @property
    def conflicts(self) -> int:
        return sum(1 for d in self.decisions if d.conflict)


owed_targets = owed_systems  # the targets a record still owes a write (`ports.owed_systems`)


def detached_key(kind: str, system: str, key: str) -> str:
    """Meta item of an account an administrator detached (`peoplesync unlink`): not matched by itself again."""
    return f"detached|{kind}|{system}|{key}"


def parked_key(record_id: str, system: str) -> str:
    return f"parked|{record_id}|{system}"


def owed_digest(state: RecordState, system: str) -> str:
    """What a record owes one target, in short: a parked delivery is re-sent only once this changes."""
    shadow = state.shadows.get(system)
    owed = (sorted((k, repr(v)) for k, v in shadow.pending.items()), shadow.pending_state) if shadow else "create"
    return hashlib.blake2b(repr(owed).encode(), digest_size=8).hexdigest()


class Reconciler:
    def __init__(self, plan: Plan, store: StateStore, *, clock: Callable[[], float] = time.time,
                 engine: Engine | None = None) -> None:
        self.plan = plan
        self.engine = engine or Engine(plan)
        self.store = store
        self.clock = clock

    # --- observations -------------------------------------------------------------------------------------
    def observation(self, obs: Observation) -> Result:
        for _ in range(MAX_RACES):
            try:
                return self._observation(obs)
            except VersionConflict:
                continue
        raise VersionConflict(f"record for {obs.system}:{obs.key} kept changing under us")

    def preview(self, obs: Observation, state: RecordState | None = None, *, in_place: bool = False) -> str | None:
        """The record that reconciling `obs` would give writes to, or None; saves nothing (the guard's count).
        `state`: the account's record when the caller has it already loaded; `in_place`: it is the caller's own
        copy, to be changed as reconciling would (the guard then reads what the record would owe)."""
        copy = state if in_place or state is None else RecordState.from_dict(state.to_dict())
        result = self._observation(obs, save=False, loaded=copy)
        return result.record_id if result.writes else None

    def _observation(self, obs: Observation, *, save: bool = True, loaded: RecordState | None = None) -> Result:
        obs = decode(self.plan, obs)
        match = correlate(self.plan, obs, self.store)
        if match.outcome != "linked" and self.store.get_meta(detached_key(obs.kind, obs.system, obs.key)):
            return Result(HELD, None, reason=f"{obs.system}:{obs.key} was detached by an administrator; "
                                             f"it waits to be linked by hand (peoplesync link)")
        if match.outcome == AMBIGUOUS:
            if self.plan.config.policies.ambiguous == "review":
                self._review(save, obs, match.reason, list(match.candidates), match.rule)
            return Result(HELD, None, reason=match.reason)
        if match.outcome == DUPLICATE:
            return self._duplicate(obs, match, save)
        if match.outcome == UNMATCHED:
            refused = self._refuse_unmatched(obs, save)
            if refused is not None:
                return refused
            rid = new_record_id(obs.kind, obs.system, obs.key)
            state = self.store.load(rid) or RecordState(id=rid, kind=obs.kind, fingerprint=self.plan.fingerprint)
            status = CREATED
        else:
            rid = match.record_id  # type: ignore[assignment]
            if loaded is None or loaded.id != rid:
                loaded = self.store.load(rid)
            # None: the index pointed at a record that is gone; start it again
            state = loaded or RecordState(id=rid, kind=obs.kind)
            status = MATCHED if match.outcome == "matched" else UPDATED if match.outcome == "linked" else LINKED
        out = self.engine.observe(state, obs, self.store)
        if out.stale:
            return Result(STALE, rid, owed=self._unparked(state, set()))
        if save:
            self._save(out)
        if not out.changed and status == UPDATED:
            status = UNCHANGED
        return Result(status, rid, out.writes, out.decisions, out.wake, owed=self._unparked(state, out.writes))

    def owed_after(self, state: RecordState, new: set[str]) -> set[str]:
        """Every target `state` owes a write after a decision that added `new` (parked ones left out)."""
        return self._unparked(state, new)

    def _unparked(self, state: RecordState, new: set[str]) -> set[str]:
        """Every target the record owes, new writes first; an old write that was dead-lettered (parked) is not
        sent again until what is owed changes (a new decision) or the dead letter is replayed."""
        owed = owed_targets(state)
        for system in owed - new:
            parked = self.store.get_meta(parked_key(state.id, system))
            if parked is not None and parked.get("owed") == owed_digest(state, system):
                owed.discard(system)
        return owed | new

    def match_values(self, state: RecordState, system: str) -> list[dict[str, Any]]:
        """The record's match keys as `system` names them, one look-up per match rule with a value there, in
        rule order: for finding an account that may already exist (a create cut off before all its values
        were set is still found by the ones it has)."""
        fields = self.plan.fields.get(state.kind, {})
        found = []
        for rule in self.plan.match.get(state.kind, []):
            f = fields.get(rule)
            value = state.golden.get(rule)
            if f is not None and system in f.map and value not in (None, "", ()):
                found.append({f.map[system]: value})
        return found

    def park(self, record_id: str, system: str, reason: str) -> None:
        """Remember that what this record owes `system` went to the dead-letter queue (with `reason`)."""
        state = self.store.load(record_id)
        if state is not None:
            self.store.put_meta(parked_key(record_id, system), {"owed": owed_digest(state, system),
                                                                  "reason": reason, "at": self.clock()})

    def _refuse_unmatched(self, obs: Observation, save: bool) -> Result | None:
        """Why an account no match rule links makes no person (None: it makes one, `unmatched: create`)."""
        lifecycle = obs.system in self.plan.lifecycle.get(obs.kind, ())
        if obs.removed or (not obs.active and not lifecycle):
            return Result(IGNORED, reason="an unlinked account that is disabled or gone creates nobody")
        # a disabled account in the system that says who exists still makes an (inactive) person, so
        # that the same person's accounts elsewhere are linked to it and deactivated
        policy = self.plan.config.policies.unmatched
        if policy == "create":
            return None
        if policy == "report":
            self._review(save, obs, "unmatched", [], None)
            return Result(HELD, None, reason="unmatched (policy: report)")
        return Result(IGNORED, reason="unmatched (policy: ignore)")

    def _duplicate(self, obs: Observation, match: Match, save: bool) -> Result:
        """An account whose match keys name a person already linked to another account of its system: held
        for review with both accounts named (never linked, never a new person). A disabled or removed one
        threatens nothing and is left alone, as an unlinked disabled account is."""
        if obs.removed or not obs.active:
            return Result(IGNORED, reason=f"a disabled duplicate: {match.reason}")
        others = [f"{obs.system}:{state.shadows[obs.system].key}" for state in
                  (self.store.load(rid) for rid in match.candidates) if state and obs.system in state.shadows]
        reason = (f"duplicate: {obs.system}:{obs.key} has {match.reason.split(' is already')[0]}, the person "
                  f"already linked to {', '.join(others)}; link or unlink it by hand (peoplesync link/unlink)")
        if save:
            self._review(save, obs, reason, list(match.candidates), match.rule, duplicate_of=others)
        return Result(HELD, None, reason=reason)

    def _review(self, save: bool, obs: Observation, reason: str, candidates: list[str], rule: str | None,
                **more: Any) -> None:
        if save:  # a preview holds nobody for review
            self.store.add_review(f"{obs.kind}|{obs.system}|{obs.key}", {
                "kind": obs.kind, "system": obs.system, "key": obs.key, "reason": reason,
                "candidates": candidates, "rule": rule, "at": self.clock(), **more})

    def reevaluate(self, record_id: str) -> Result:
        for _ in range(MAX_RACES):
            state = self.store.load(record_id)
            if state is None:
                return Result(IGNORED, record_id, reason="no such record")
            out = self.engine.reevaluate(state, self.store)
            try:
                self._save(out)
            except VersionConflict:
                continue
            return Result(UPDATED if out.changed else UNCHANGED, record_id, out.writes, out.decisions, out.wake,
                          owed=self._unparked(state, out.writes))
        raise VersionConflict(f"record {record_id} kept changing under us")

    def _save(self, out: Outcome) -> None:
        if out.changed:
            self.store.save(out.state)
            # every caller returns once the record is saved, reading it at most (what it still owes): the store
            # may hand it to the next load of it instead of decoding it again
            self.store.keep(out.state)
        if out.decisions:
            self.store.record_decisions(out.state.id, [d.to_dict() for d in out.decisions], self.clock())

    # --- delivery -------------------------------------------------------------------------------------------
    def reassert(self, record_id: str, source: str, target: str) -> Result:
        """Re-assert push source `source`'s fields on `target` (whose account was just read again): what the
        record now owes `target` for them (`Engine.reassert`), saved."""
        for _ in range(MAX_RACES):
            state = self.store.load(record_id)
            if state is None:
                return Result(IGNORED, record_id, reason="no such record")
            out = self.engine.reassert(state, source, target, self.store)
            try:
                self._save(out)
            except VersionConflict:
                continue
            return Result(UPDATED if out.changed else UNCHANGED, record_id, out.writes, out.decisions)
        raise VersionConflict(f"record {record_id} kept changing under us")

    def pending(self, record_id: str, system: str) -> list[Write]:
        state = self.store.load(record_id)
        if state is None:
            return []
        # `writes_for` may note on the record what a create waits for (a manager without an account there:
        # `References.wait`/`unwait`, which replace a field's list, never change one in place); the confirm after
        # the write must not find that note, so it loads the record again. When nothing was noted, the record is
        # as loaded and is handed back: the confirm's load takes this object instead of decoding the text again
        waiting = dict(state.waiting)
        writes = self.engine.writes_for(state, system, self.store)
        if state.waiting == waiting:
            self.store.keep(state)
        return writes

    def deliver(self, record_id: str, system: str, connector: Connector) -> tuple[list[Write], set[str]]:
        """Send what is owed to `system` for one record, and record each success. Errors propagate (the
        caller retries or dead-letters); what was written before the error stays recorded.
        Returns the writes made and the records to wake (they waited for an account created here)."""
        done: list[Write] = []
        wake: set[str] = set()
        for write in self.pending(record_id, system):
            result = connector.write(write)
            wake |= self.confirm(record_id, write, result)
            done.append(write)
        return done, wake

    def deliver_batch(self, record_ids: list[str], system: str, connector: Connector
                      ) -> tuple[dict[str, int], list[str], set[str]]:
        """What these records owe `system`, in one `write_batch` (one transaction, one file rewrite), each
        success recorded. Returns (writes made per record, records whose writes failed, records to wake).
        A record whose write the target refused is for the caller to retry alone, which classifies its error.
        An error that concerns the whole batch (the target down, a timeout, recording failing) is raised: part
        of the batch may have landed, so the caller must not simply write it again."""
        owing = self.store.owing(system, record_ids)  # a record owing nothing there is not even loaded
        record_ids = [rid for rid in dict.fromkeys(record_ids) if rid in owing]  # delivered twice: written once
        # each record loaded again for its confirm, which is handed the object `pending` worked on unless that
        # noted something on it (`pending` says why)
        items = [(rid, w) for rid in record_ids for w in self.pending(rid, system)]
        if not items:
            return {}, [], set()
        answers = connector.write_batch([w for _, w in items])
        # the accounts just created: each confirm links one (its save checks that nobody holds it), so their
        # links are read in one go (a hint; inside a store batch only)
        created = [(w.kind, system, a.key) for (_, w), a in zip(items, answers, strict=False)
                   if w.op == CREATE and isinstance(a, WriteResult) and a.key is not None]
        if created:
            self.store.expect_links(created)
        written: dict[str, int] = {}
        failed: list[str] = []
        wake: set[str] = set()
        for (rid, write), answer in zip(items, answers, strict=True):
            if rid in failed:
                continue
            if isinstance(answer, Exception):
                failed.append(rid)
                continue
            wake |= self.confirm(rid, write, answer)
            written[rid] = written.get(rid, 0) + 1
        return written, failed, wake

    def confirm(self, record_id: str, write: Write, result: WriteResult | None) -> set[str]:
        for _ in range(MAX_RACES):
            state = self.store.load(record_id)
            if state is None:
                return set()
            out = self.engine.confirm(state, write, result, self.store)
            try:
                self._save(out)
            except VersionConflict:
                continue
            return out.wake
        raise VersionConflict(f"record {record_id} kept changing under us")

    def explain(self, record_id: str, field_name: str | None = None) -> dict[str, Any]:
        state = self.store.load(record_id)
        if state is None:
            raise KeyError(record_id)
        return {"state": state, "decisions": self.store.decisions(record_id, field_name)}
