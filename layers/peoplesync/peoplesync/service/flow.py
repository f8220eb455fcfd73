"""The deployed flow, step by step, over ports: poll -> reconcile queue -> reconcile -> delivery queue per
target -> deliver. The Lambda handlers in `functions/` are thin wrappers around these three functions; the
tests drive them with moto's DynamoDB and SQS, or with in-memory fakes.

Messages (JSON):
- reconcile queue: {"type": "observation", "observation": {...}} | {"type": "reevaluate", "record_id": ...}
- delivery queue of system S: {"type": "deliver", "record_id": ..., "system": S, "attempt": n}
A message that can never be processed (malformed, unknown type, rejected write) is sent to the dead-letter queue
with a `reason` attribute and removed from its queue; one that may succeed later is retried: by SQS (the
handler reports it failed) or, when the target said when (Retry-After), re-sent with that delay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import Plan
from ..engine import decode, observation_digest
from ..model import PERSON, Observation, RecordState, Shadow, observation_from_dict, observation_to_dict
from ..ports import (
    Connector,
    PeoplesyncError,
    PermanentError,
    StateStore,
    TransientError,
    VersionConflict,
)
from .guard import change_limit
from .reconcile import Reconciler

log = logging.getLogger("peoplesync")

MAX_DELAY = 900  # SQS's longest delay
MAX_DELIVERY_ATTEMPTS = 5


class Queue(Protocol):
    def send(self, messages: list[dict[str, Any]], *, delay_seconds: int = 0,
             attributes: dict[str, str] | None = None) -> Any: ...


class Poison(PeoplesyncError):
    """A message that can never be processed: it goes to the dead-letter queue with this reason."""


# --- poll ------------------------------------------------------------------------------------------------
@dataclass
class PollReport:
    system: str
    read: int = 0
    queued: int = 0
    vanished: int = 0
    failed: str | None = None
    held: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def poll(system: str, plan: Plan, store: StateStore, connector: Connector, reconcile: Queue, *,
         full: bool = False, approve: bool = False, clock: Callable[[], float] = time.time) -> PollReport:
    """Read one system and queue what it shows for reconcile. The cursor moves only after everything read
    is queued. A failed or empty read concludes nothing (SPEC 20); a read that would change more people than
    `max_changes_per_run` allows is held, cursor unmoved, until approved (SPEC 16)."""
    report = PollReport(system)
    remapped = (store.get_meta("fingerprint") or {}).get("value") != plan.fingerprint
    cursor = None if (full or remapped) else store.get_cursor(system)
    try:
        result = connector.read(cursor, full=cursor is None)
    except (PeoplesyncError, OSError) as exc:
        report.failed = f"{type(exc).__name__}: {exc}"
        log.warning("poll of %s failed; nothing concluded: %s", system, exc)
        return report
    observations = list(result.observations)
    report.read = len(observations)
    if result.complete and not observations:
        report.failed = "the read returned no accounts; nobody is deactivated because of it"
        return report
    # what we hold of this system's accounts, read in batches: for a complete read every linked account
    # (to find those that are gone), else only the accounts read
    if result.complete:
        known = _shadows(store, system, _load_all(store, [rid for kind in plan.fields for rid in store.all_ids(kind)]))
        seen = {o.key for o in observations}
        gone = [Observation(system, key, {}, active=False, removed=True, kind=kind)
                for key, (kind, shadow) in known.items() if key not in seen and not shadow.removed]
        report.vanished = len(gone)
        observations += gone
    else:
        linked = [store.by_link(o.kind, system, o.key) for o in observations]
        known = _shadows(store, system, _load_all(store, [rid for rid in linked if rid]))
    changed = [o for o in observations if _is_news(known.get(o.key), decode(plan, o))]
    population = sum(1 for _ in store.all_ids(PERSON))
    limit = change_limit(plan.config.policies.max_changes_per_run, population)
    if limit is not None and len(changed) > limit and not approve:
        report.held = (f"{len(changed)} changed accounts in {system}, above max_changes_per_run="
                       f"{plan.config.policies.max_changes_per_run} ({limit}); nothing queued, cursor kept. "
                       f'Approve by invoking the poll with {{"system": "{system}", "approve": true}}.')
        store.add_review(f"run|{system}", {"kind": "run", "system": system, "reason": report.held,
                                           "at": clock()})
        log.warning(report.held)
        return report
    reconcile.send([{"type": "observation", "observation": observation_to_dict(o)} for o in changed])
    report.queued = len(changed)
    store.put_cursor(system, result.cursor)
    return report


def _is_news(known: tuple[str, Shadow] | None, obs: Observation) -> bool:
    """Cheap pre-screen: an account read exactly as last time needs no reconcile message at all."""
    if known is None:
        return True
    shadow = known[1]
    return shadow.digest != observation_digest(obs) or bool(shadow.pending)


def _load_all(store: StateStore, ids: list[str]) -> list[RecordState]:
    """Records by id, in batches where the store can (DynamoDB: BatchGetItem of 100)."""
    load_many = getattr(store, "load_many", None)
    if load_many is None:
        return [s for s in map(store.load, ids) if s is not None]
    out: list[RecordState] = []
    for i in range(0, len(ids), 100):
        out += list(load_many(ids[i:i + 100]).values())
    return out


def _shadows(store: StateStore, system: str, states: list[RecordState]) -> dict[str, tuple[str, Shadow]]:
    """account key in `system` -> (record kind, its shadow)."""
    return {s.shadows[system].key: (s.kind, s.shadows[system]) for s in states if system in s.shadows}


def vanished(plan: Plan, store: StateStore, system: str, seen: set[str]) -> list[Observation]:
    """Accounts linked in `system` that a complete read no longer lists: they are gone."""
    known = _shadows(store, system, _load_all(store, [rid for kind in plan.fields for rid in store.all_ids(kind)]))
    return [Observation(system, key, {}, active=False, removed=True, kind=kind)
            for key, (kind, shadow) in known.items() if key not in seen and not shadow.removed]


# --- reconcile -------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    writes: dict[str, int] = field(default_factory=dict)
    status: str = ""


def reconcile_message(message: dict[str, Any], reconciler: Reconciler, reconcile: Queue,
                      delivery: Callable[[str], Queue],
                      connector_for: Callable[[str], Connector] | None = None) -> Outcome:
    """Handle one reconcile-queue message. Raises Poison for a message that can never be processed;
    anything else raised is transient (SQS redelivers it)."""
    kind = message.get("type")
    if kind == "genesys.audit":
        return _audit(message, reconciler, reconcile, delivery, connector_for)
    if kind == "observation":
        try:
            obs = observation_from_dict(message["observation"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Poison(f"malformed observation: {exc!r}") from None
        if obs.system not in reconciler.plan.systems:
            raise Poison(f"observation from unknown system {obs.system!r}")
        result = reconciler.observation(obs)
    elif kind == "reevaluate":
        rid = message.get("record_id")
        if not isinstance(rid, str):
            raise Poison("reevaluate needs a record_id")
        result = reconciler.reevaluate(rid)
    else:
        raise Poison(f"unknown message type {kind!r}")
    return _follow_up(result, reconcile, delivery)


def _follow_up(result: Any, reconcile: Queue, delivery: Callable[[str], Queue]) -> Outcome:
    for system in sorted(result.writes):
        delivery(system).send([{"type": "deliver", "record_id": result.record_id, "system": system,
                                "attempt": 1}])
    if result.wake:
        reconcile.send([{"type": "reevaluate", "record_id": rid} for rid in sorted(result.wake)])
    return Outcome({s: 1 for s in result.writes}, result.status)


def _audit(message: dict[str, Any], reconciler: Reconciler, reconcile: Queue, delivery: Callable[[str], Queue],
           connector_for: Callable[[str], Connector] | None) -> Outcome:
    """A Genesys Cloud audit event (EventBridge partner bus): re-read the user it names, reconcile that.
    The bridge's own writes (its OAuth client) are recognised and not echoed back."""
    from ..connectors.genesys_events import reread_requests

    system = message.get("system")
    if not isinstance(system, str) or system not in reconciler.plan.systems or connector_for is None:
        raise Poison(f"an audit event for unknown system {system!r}")
    connector = connector_for(system)
    own = {str(getattr(connector, "client_id", ""))} - {""}
    requests = reread_requests(message.get("event") or {}, system=system, own_client_ids=own)
    if not requests:
        return Outcome(status="ignored")
    fresh = connector.read_keys([r.key for r in requests])
    writes: dict[str, int] = {}
    for obs in fresh.observations if fresh else []:
        done = _follow_up(reconciler.observation(obs), reconcile, delivery)
        for s, n in done.writes.items():
            writes[s] = writes.get(s, 0) + n
    return Outcome(writes, "re-read")


# --- deliver ---------------------------------------------------------------------------------------------
def deliver_message(message: dict[str, Any], reconciler: Reconciler, connector_for: Callable[[str], Connector],
                    delivery: Callable[[str], Queue], reconcile: Queue, dead_letter: Callable[[str], Queue]
                    ) -> Outcome:
    """Apply what one record owes one target. A target that is busy (429 / Retry-After) gets the message
    back with the delay it asked for; after the last attempt, or a permanent refusal, the message goes to the
    dead-letter queue with the reason, from where `peoplesync dlq replay` brings it back."""
    if message.get("type") != "deliver" or not isinstance(message.get("record_id"), str) \
            or not isinstance(message.get("system"), str):
        raise Poison("a delivery needs type=deliver, a record_id and a system")
    rid, system = message["record_id"], message["system"]
    attempt = int(message.get("attempt", 1))
    if system not in reconciler.plan.systems:
        raise Poison(f"delivery to unknown system {system!r}")
    try:
        writes, wake = reconciler.deliver(rid, system, connector_for(system))
    except PermanentError as exc:
        dead_letter(system).send([message], attributes={"reason": f"PermanentError: {exc}"[:1000]})
        return Outcome(status="dead-lettered")
    except VersionConflict as exc:
        # the account changed under us: read it again and decide again, never overwrite blindly
        state = reconciler.store.load(rid)
        shadow = state.shadows.get(system) if state else None
        fresh = connector_for(system).read_keys([shadow.key]) if shadow else None
        if fresh is not None and fresh.observations:
            reconcile.send([{"type": "observation", "observation": observation_to_dict(o)}
                            for o in fresh.observations])
            # and the delivery again, after the re-decision: it then sends whatever is still owed, or nothing
            return _retry_or_park(message, attempt, f"VersionConflict: {exc}", 2, delivery, dead_letter, system)
        return _retry_or_park(message, attempt, f"VersionConflict: {exc}", None, delivery, dead_letter, system)
    except TransientError as exc:
        return _retry_or_park(message, attempt, f"TransientError: {exc}", exc.retry_after, delivery, dead_letter,
                              system)
    if wake:
        reconcile.send([{"type": "reevaluate", "record_id": r} for r in sorted(wake)])
    return Outcome({system: len(writes)}, "delivered")


def deliver_messages(messages: list[dict[str, Any]], reconciler: Reconciler,
                     connector_for: Callable[[str], Connector], delivery: Callable[[str], Queue], reconcile: Queue,
                     dead_letter: Callable[[str], Queue]) -> list[Outcome | Poison]:
    """Several deliveries (one SQS batch) handed to each target at once: one `write_batch` (one SQL
    transaction, one file rewrite) per target. A write the target refuses is tried again on its own by
    `deliver_message`, which retries, re-reads or dead-letters it with the right reason; so is every write of
    a target that failed as a whole. Returns one outcome (or the Poison) per message, in order."""
    results: list[Outcome | Poison | None] = [None] * len(messages)
    by_system: dict[str, list[int]] = {}
    for i, message in enumerate(messages):
        if message.get("type") != "deliver" or not isinstance(message.get("record_id"), str) \
                or not isinstance(message.get("system"), str):
            results[i] = Poison("a delivery needs type=deliver, a record_id and a system")
        elif message["system"] not in reconciler.plan.systems:
            results[i] = Poison(f"delivery to unknown system {message['system']!r}")
        else:
            by_system.setdefault(message["system"], []).append(i)

    def alone(i: int) -> Outcome:
        return deliver_message(messages[i], reconciler, connector_for, delivery, reconcile, dead_letter)

    for system, indexes in by_system.items():
        rids = [messages[i]["record_id"] for i in indexes]
        written, failed, wake = reconciler.deliver_batch(rids, system, connector_for(system))
        for i, rid in zip(indexes, rids, strict=True):
            results[i] = alone(i) if rid in failed else Outcome({system: written.get(rid, 0)}, "delivered")
        if wake:
            reconcile.send([{"type": "reevaluate", "record_id": r} for r in sorted(wake)])
    return [r for r in results if r is not None]


def _retry_or_park(message: dict[str, Any], attempt: int, reason: str, retry_after: float | None,
                   delivery: Callable[[str], Queue], dead_letter: Callable[[str], Queue], system: str) -> Outcome:
    if attempt >= MAX_DELIVERY_ATTEMPTS:
        dead_letter(system).send([message], attributes={"reason": f"{reason} (after {attempt} attempts)"[:1000]})
        return Outcome(status="dead-lettered")
    delay = int(min(MAX_DELAY, retry_after if retry_after is not None else 2 ** attempt))
    delivery(system).send([dict(message, attempt=attempt + 1)], delay_seconds=delay)
    return Outcome(status=f"retry in {delay}s")


__all__ = ["Poison", "PollReport", "deliver_message", "deliver_messages", "poll", "reconcile_message", "vanished"]
