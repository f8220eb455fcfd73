"""Who exists: deactivation, reactivation and deletion following the lifecycle source, and accounts to create.

`lifecycle.source` (default: the source of the first match rule) says which systems decide that a person
exists. Disabled or removed there, the person is deactivated (or deleted, by policy) in the other systems, and
comes back when re-enabled. An account re-enabled behind the bridge's back while the person is inactive is
disabled again; one disabled locally while the person is active is left alone (a local decision).

Only what a system can take is planned (`SystemPlan.deactivate` / `.delete`, from its connector's
capabilities): a system that cannot record an account's state (a SQL table without `active_column`) gets no
deactivation, which it could only dead-letter at every sync (`validate` warns); one that cannot delete is
deactivated instead, where it can.
"""

from __future__ import annotations

from ..config import Plan
from ..model import ACTIVATE, DEACTIVATE, DELETE, GROUP, Observation, RecordState, Rule, Shadow, decision
from .outcome import Outcome


class Lifecycle:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # systems where accounts of each kind are created (groups: only those `groups.provision` names):
        # worked out on first use, when the connectors are asked what they can take
        self._provisioned: dict[str, list[str]] | None = None
        self._policy = plan.config.policies.removed  # (the configuration is frozen)

    def observe(self, state: RecordState, shadow: Shadow, obs: Observation, first: bool, out: Outcome) -> None:
        if shadow.active != obs.active or shadow.removed != obs.removed:
            shadow.active, shadow.removed = obs.active, obs.removed
            out.changed = True
            if shadow.pending_state is not None and (
                    (shadow.pending_state == DEACTIVATE and not obs.active)
                    or (shadow.pending_state == ACTIVATE and obs.active)
                    or (shadow.pending_state == DELETE and obs.removed)):
                shadow.pending_state = None  # our state change landed
        policy = self._policy
        sources = self.plan.lifecycle.get(state.kind, ())
        if obs.system in sources and policy != "ignore":
            active, removed = True, False
            for s in sources:  # every linked source active and none removed: active; any removed: removed
                linked = state.shadows.get(s)
                if linked is not None:
                    active = active and bool(linked.active) and not linked.removed
                    removed = removed or linked.removed
            if active != state.active or removed != state.removed:
                state.active, state.removed = active, removed
                out.changed = True
                verb = "reactivated" if active else ("removed" if removed else "deactivated")
                # said where `explain` shows it: the systems that cannot record it keep their account as it is
                unable = [s for s in state.shadows if s not in sources and state.kind != GROUP
                          and self.plan.systems[s].writable and not self.plan.systems[s].deactivate
                          and not (removed and policy == "delete" and self.plan.systems[s].delete)]
                kept = f"; {', '.join(unable)} cannot record it: left as it is there" if unable else ""
                out.decisions.append(decision(
                    record_id=state.id, field="(state)", old=None, new="active" if active else verb,
                    rule=Rule.LIFECYCLE, system=obs.system, detail=f"{verb} in {obs.system}{kept}"))
                for system in state.shadows:
                    if system not in sources:
                        self.enforce_state(state, system, out)
        elif obs.system not in sources:
            # a target's own state: re-disable an account re-enabled behind our back; a target disabled
            # while the person is active is left alone (a local decision, e.g. a suspension)
            if not state.active and (obs.active or first):
                self.enforce_state(state, obs.system, out)

    def enforce_state(self, state: RecordState, system: str, out: Outcome) -> None:
        shadow = state.shadows[system]
        sp = self.plan.systems[system]
        if not sp.writable or shadow.removed or state.kind == GROUP:
            return  # a group gone from its source is recorded, never deleted or disabled elsewhere
        policy = self.plan.config.policies.removed
        if state.active:
            want = ACTIVATE if shadow.active is False or shadow.pending_state else None
        elif state.removed and policy == "delete" and sp.delete:
            want = DELETE
        else:
            want = DEACTIVATE if shadow.active is not False else None
        if want in (ACTIVATE, DEACTIVATE) and not sp.deactivate:
            return  # nowhere to record a state there: a write it could only refuse
        if want == ACTIVATE and shadow.pending_state in (DEACTIVATE, DELETE) and shadow.active is not False:
            shadow.pending_state, want = None, None  # a deactivation still in flight is cancelled
            out.changed = True
        if want is not None and shadow.pending_state != want:
            shadow.pending_state = want
            out.writes.add(system)
            out.changed = True

    def provision(self, state: RecordState, out: Outcome) -> None:
        if not state.active or state.removed:
            return
        if self._provisioned is None:
            self._provisioned = self._provisioning()
        if state.kind == GROUP and not self._group_sourced(state):
            return
        for name in self._provisioned.get(state.kind, ()):
            if name not in state.shadows and name not in state.create_pending:
                state.create_pending.append(name)
                out.writes.add(name)
                out.changed = True
                out.decisions.append(decision(
                    record_id=state.id, field="(account)", old=None, new=name, rule=Rule.CREATE, system=None,
                    detail=f"no {name} account: one will be created"))

    def _provisioning(self) -> dict[str, list[str]]:
        plan, groups = self.plan, self.plan.config.groups
        provisioned = {kind: [n for n, sp in plan.systems.items()
                              if ((n in groups.provision and sp.can.create) if kind == GROUP and groups
                                  else sp.asks_provision and sp.provision)
                              and sp.writable and any(n in f.map for f in fields.values())]
                       for kind, fields in plan.fields.items()}
        return provisioned

    def _group_sourced(self, state: RecordState) -> bool:
        """Is this group linked in one of its sources? Only such a group is created elsewhere (a target's group
        that no source has is never copied back into the others). A target where it may not be created is
        reported by `plan` (report.groups_missing)."""
        return any(s in state.shadows for s in self.plan.lifecycle.get(GROUP, ()))
