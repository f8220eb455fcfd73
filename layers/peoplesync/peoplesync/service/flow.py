"""Reconcile and deliver: the steps of the one flow after `poll`, over ports. The Lambda handlers and the local
run (`local.py`, which drives the same steps over in-process queues) both call these, so there is one pipeline.

    poll(system) --observations--> reconcile queue --reconcile_message--> delivery queue per target
        --deliver_messages--> the target (and, for what can never succeed, its dead-letter queue)

A message that can never be processed raises `Poison` (the caller parks it in the dead-letter queue with the
reason); anything else raised is transient (SQS, or the local run, delivers it again). A delivery the target
refuses for now is re-sent with a delay by `DELIVERY_RETRIES`, the one retry policy of the flow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.correlation import new_record_id
from ..model import PERSON, observation_from_dict
from ..ports import AlreadyExists, Connector, PeoplesyncError, PermanentError, TransientError, VersionConflict
from ..retry import RetryPolicy
from . import messages, push, sweep_window
from .messages import Poison, Queue
from .reconcile import Reconciler, Result

# How often and how long a delivery is retried before it is dead-lettered: 5 attempts in all, waiting what the
# target asked (Retry-After) or 2-4, 4-8, 8-16, 16-32 s (equal jitter), never longer than SQS's longest delay.
DELIVERY_RETRIES = RetryPolicy(attempts=5, base=4.0, cap=900.0, max_retry_after=900.0)


@dataclass
class Outcome:
    """What handling one message did: writes made per target, a status, and the reconcile result (tallies)."""

    writes: dict[str, int] = field(default_factory=dict)
    status: str = ""
    result: Result | None = None
    dead_letter: str | None = None  # the reason, when the message was dead-lettered


@dataclass
class Ports:
    """What reconcile and deliver send to: the reconcile queue, and per target its queue and dead letters."""

    reconcile: Queue
    delivery: Callable[[str], Queue]
    dead_letter: Callable[[str], Queue]
    connector: Callable[[str], Connector]


# --- reconcile -------------------------------------------------------------------------------------------
def reconcile_message(message: dict[str, Any], reconciler: Reconciler, ports: Ports) -> list[Outcome]:
    """Handle one reconcile-queue message; one outcome per record it touched."""
    kind = message.get("type")
    if kind == "observation":
        try:
            obs = observation_from_dict(message["observation"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Poison(f"malformed observation: {exc!r}") from None
        if obs.system not in reconciler.plan.systems:
            raise Poison(f"observation from unknown system {obs.system!r}")
        result = reconciler.observation(obs)
        return [follow_up(result, ports, reassert=(obs.system, push.targets_to_reassert(obs, result, reconciler)))]
    if kind == "reevaluate":
        rid = message.get("record_id")
        if not isinstance(rid, str):
            raise Poison("reevaluate needs a record_id")
        return [follow_up(reconciler.reevaluate(rid), ports)]
    if kind in ("reread", "event", "genesys.audit"):
        return _reread(message, reconciler, ports)
    raise Poison(f"unknown message type {kind!r}")


def expect(batch: list[dict[str, Any]], reconciler: Reconciler) -> None:
    """Before a batch of reconcile messages, inside the store batch that holds it: the store told which
    accounts the batch's observations are (correlation looks each up by its link first), and which records
    they would make if none holds them (`new_record_id`: loaded to be created, or found there already), so
    that it may read both in one go. Malformed messages are left for `reconcile_message` to refuse."""
    links = []
    for message in batch:
        obs = message.get("observation") if message.get("type") == "observation" else None
        if isinstance(obs, dict) and isinstance(obs.get("system"), str) and isinstance(obs.get("key"), str):
            links.append((str(obs.get("kind", PERSON)), obs["system"], obs["key"]))
    if links:
        reconciler.store.expect_links(links)
        reconciler.store.expect_records(new_record_id(*link) for link in links)


def follow_up(result: Result, ports: Ports, *, reassert: tuple[str, list[str]] = ("", [])) -> Outcome:
    """Queue what a reconcile result owes: one delivery per target, and the records it woke. Every target the
    record still owes is queued, not only those this decision added: a crash between saving a record and
    queueing its deliveries strands nothing, since the redelivered message (or the next poll) sends them.
    `reassert`: (push system, targets) whose delivery re-reads the account and re-asserts that system's
    fields (`service.push`), owed or not."""
    source, again = reassert
    for system in sorted(result.writes | result.owed | set(again)):
        ports.delivery(system).send([messages.deliver(result.record_id or "", system,
                                                      reassert=source if system in again else None)])
    if result.wake:
        ports.reconcile.send(messages.reevaluate(result.wake))
    return Outcome({s: 1 for s in result.writes}, result.status, result)


def _reread(message: dict[str, Any], reconciler: Reconciler, ports: Ports) -> list[Outcome]:
    """Read the named accounts again and reconcile what they show now. The keys are given (`reread`) or
    taken from a vendor's event by that system's connector (`event`): the flow knows no vendor."""
    system = message.get("system")
    if not isinstance(system, str) or system not in reconciler.plan.systems:
        raise Poison(f"a re-read for unknown system {system!r}")
    connector = ports.connector(system)
    if message.get("type") == "reread":
        keys = message.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise Poison("a re-read needs a list of keys")
    else:
        keys = connector.event_keys(message.get("event") or {})
    if not keys:
        return [Outcome(status="ignored")]
    fresh = connector.read_keys(keys)
    return [follow_up(reconciler.observation(o), ports) for o in (fresh.observations if fresh else [])]


# --- deliver ---------------------------------------------------------------------------------------------
def deliver_messages(batch: list[dict[str, Any]], reconciler: Reconciler, ports: Ports,
                     retries: RetryPolicy = DELIVERY_RETRIES) -> list[Outcome | Poison]:
    """Several deliveries (one SQS batch) handed to each target at once: one `write_batch` (one SQL
    transaction, one file rewrite) per target. A write the target refuses is tried again on its own by
    `deliver_message`, which retries, re-reads or dead-letters it with the right reason. Returns one outcome
    (or the Poison) per message, in order.

    A write is made once: a delivery that may already have been written (one that comes back after a failure,
    or that SQS delivers again) first re-reads the account, so a write that landed is recognised, not repeated;
    and when something fails after the target may have accepted the batch (recording it, say), the messages
    are not retried here but sent back to their queue (`retry_later`), to be re-read first."""
    results: list[Outcome | Poison | None] = [None] * len(batch)
    work, by_system = _grouped(batch, reconciler, results)
    sweeping = bool(by_system) and sweep_window.running(reconciler.store) is not None
    for system, indexes in by_system.items():
        rids = [work[i]["record_id"] for i in indexes]
        try:
            _reread_first([work[i] for i in indexes if maybe_written(work[i]) or work[i].get("reassert")], system,
                          reconciler, ports)
            if sweeping:  # an account a later snapshot would link must not be created twice (sweep_window.py)
                _reread_first([work[i] for i in indexes if not maybe_written(work[i])], system, reconciler, ports,
                              creates_only=True)
            push.reassert_all([work[i] for i in indexes if work[i].get("reassert")], system, reconciler)
            written, failed, wake = reconciler.deliver_batch(rids, system, ports.connector(system))
        except Exception as exc:  # the target may have taken part of it: back to the queue, to be re-read first
            for i in indexes:
                results[i] = _after_batch_failure(work[i], exc, system, reconciler, ports, retries)
            continue
        for i, rid in zip(indexes, rids, strict=True):
            results[i] = _alone(work[i], system, reconciler, ports, retries) if rid in failed \
                else Outcome({system: written.get(rid, 0)}, "delivered")
        if wake:
            ports.reconcile.send(messages.reevaluate(wake))
    return [r for r in results if r is not None]


def _grouped(batch: list[dict[str, Any]], reconciler: Reconciler, results: list[Outcome | Poison | None]
             ) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """The batch's messages by target, each (record, target) once: one queued twice (a re-sent delivery) is
    answered "duplicate", its re-assert mark carried over to the one kept. Poison goes into `results`."""
    work = list(batch)
    by_system: dict[str, list[int]] = {}
    kept: dict[tuple[str, str], int] = {}
    for i, message in enumerate(batch):
        try:
            system = _checked(message, reconciler)
        except Poison as exc:
            results[i] = exc
            continue
        j = kept.get((message["record_id"], system))
        if j is not None:
            if message.get("reassert") and not work[j].get("reassert"):
                work[j] = dict(work[j], reassert=message["reassert"])
            results[i] = Outcome(status="duplicate")
            continue
        kept[(message["record_id"], system)] = i
        by_system.setdefault(system, []).append(i)
    return work, by_system


def _retry_after(exc: BaseException) -> float | None:
    """The delay a target asked for, also when a connector wrapped its 429 (a re-read's `ReadFailed`)."""
    for err in (exc, exc.__cause__):
        if isinstance(err, TransientError) and err.retry_after is not None:
            return err.retry_after
    return None


def _after_batch_failure(message: dict[str, Any], exc: Exception, system: str, reconciler: Reconciler,
                         ports: Ports, retries: RetryPolicy) -> Outcome:
    """A batch that failed as a whole: each message back to its queue with the delay the target asked for
    (its next attempt re-reads before writing), or parked with the reason if it can never succeed."""
    attempt = int(message.get("attempt", 1))
    if isinstance(exc, PermanentError):
        return _park(message, ports, system, f"PermanentError: {exc}", reconciler)
    return _retry_or_park(message, attempt, f"{type(exc).__name__}: {exc}", _retry_after(exc), ports, system,
                          retries, reconciler)


def _alone(message: dict[str, Any], system: str, reconciler: Reconciler, ports: Ports,
           retries: RetryPolicy) -> Outcome:
    try:
        return deliver_message(message, reconciler, ports, retries)
    except Exception as exc:  # not the target's answer (the store, a bug): back to the queue, with the reason
        return retry_later(message, ports.delivery(system), ports.dead_letter(system), exc, retries)


def maybe_written(message: dict[str, Any]) -> bool:
    """A delivery tried before (its attempt counted, or SQS delivering it again): its write may have landed."""
    return int(message.get("attempt", 1)) > 1 or bool(message.get("redelivered"))


def _reread_first(batch: list[dict[str, Any]], system: str, reconciler: Reconciler, ports: Ports, *,
                  creates_only: bool = False) -> None:
    """Read these records' accounts in `system` again and reconcile what they show: a write of ours that
    landed is then confirmed by what it left, and nothing is owed for it any more. An account still to be
    created is looked up by the record's match keys first: if it landed, it is linked, not created again.
    What a fresh read owes other targets stays in the record's outbox for their own deliveries (queueing them
    here would overtake a delivery of theirs that waits out a Retry-After or must re-read first).
    `creates_only`: only the accounts still to be created are looked up (a full sweep's window)."""
    connector = ports.connector(system)
    keys: list[str] = []
    found = []
    for message in batch:
        state = reconciler.store.load(message["record_id"])
        shadow = state.shadows.get(system) if state else None
        if shadow is not None:
            if not creates_only:
                keys.append(shadow.key)
        elif state is not None and system in state.create_pending:
            for match in reconciler.match_values(state, system):
                account = connector.find_account(match)
                if account is not None:
                    found.append(account)
                    break
    fresh = connector.read_keys(keys) if keys else None
    for obs in [*found, *(fresh.observations if fresh else [])]:
        reconciler.observation(obs)


def deliver_message(message: dict[str, Any], reconciler: Reconciler, ports: Ports,
                    retries: RetryPolicy = DELIVERY_RETRIES) -> Outcome:
    """Apply what one record owes one target. A target that is busy gets the message back with the delay it
    asked for; after the last attempt, or a permanent refusal, the message goes to the dead-letter queue with
    the reason, from where `peoplesync dlq replay` brings it back."""
    system = _checked(message, reconciler)
    rid, attempt = message["record_id"], int(message.get("attempt", 1))
    connector = ports.connector(system)
    try:
        writes, wake = reconciler.deliver(rid, system, connector)
    except AlreadyExists as exc:
        return _link_existing(message, exc, reconciler, ports, retries)
    except PermanentError as exc:
        return _park(message, ports, system, f"PermanentError: {exc}", reconciler)
    except VersionConflict as exc:
        # the account changed under us: read it again and decide again, never overwrite blindly; the
        # delivery comes back after the re-decision and sends whatever is still owed, or nothing
        state = reconciler.store.load(rid)
        shadow = state.shadows.get(system) if state else None
        fresh = connector.read_keys([shadow.key]) if shadow else None
        if fresh is not None and fresh.observations:
            ports.reconcile.send(messages.observed(list(fresh.observations)))
        return _retry_or_park(message, attempt, f"VersionConflict: {exc}", None, ports, system, retries, reconciler)
    except TransientError as exc:
        return _retry_or_park(message, attempt, f"TransientError: {exc}", exc.retry_after, ports, system, retries,
                              reconciler)
    except (PeoplesyncError, OSError) as exc:
        return _retry_or_park(message, attempt, f"{type(exc).__name__}: {exc}", _retry_after(exc), ports, system,
                              retries, reconciler)
    if wake:
        ports.reconcile.send(messages.reevaluate(wake))
    return Outcome({system: len(writes)}, "delivered")


def _link_existing(message: dict[str, Any], exc: AlreadyExists, reconciler: Reconciler, ports: Ports,
                   retries: RetryPolicy) -> Outcome:
    """A create the target refused because the account exists (an e-mail taken by a user the bridge never
    read): that account is found by the record's match keys, linked, and the delivery made again, now as the
    writes that make it hold the record's values. Dead-lettered only when no single account is found."""
    system, rid = str(message["system"]), str(message["record_id"])
    if message.get("linked"):  # linked once already and refused as a duplicate again: not ours to guess
        return _park(message, ports, system, f"AlreadyExists: {exc}", reconciler)
    try:
        _reread_first([message], system, reconciler, ports)  # find_account by the match keys, then linked
    except (PeoplesyncError, OSError) as err:
        return _retry_or_park(message, int(message.get("attempt", 1)), f"{type(err).__name__}: {err}",
                              _retry_after(err), ports, system, retries, reconciler)
    state = reconciler.store.load(rid)
    if state is None or system not in state.shadows:
        return _park(message, ports, system, f"AlreadyExists: {exc}; no single {system} account holds the "
                                             f"record's match keys, so none was linked", reconciler)
    return deliver_message(dict(message, linked=True), reconciler, ports, retries)


def _checked(message: dict[str, Any], reconciler: Reconciler) -> str:
    """The target system of a well-formed delivery message, or Poison."""
    if message.get("type") != "deliver" or not isinstance(message.get("record_id"), str) \
            or not isinstance(message.get("system"), str):
        raise Poison("a delivery needs type=deliver, a record_id and a system")
    if message["system"] not in reconciler.plan.systems:
        raise Poison(f"delivery to unknown system {message['system']!r}")
    return str(message["system"])


def _retry_or_park(message: dict[str, Any], attempt: int, reason: str, retry_after: float | None, ports: Ports,
                   system: str, retries: RetryPolicy, reconciler: Reconciler | None = None) -> Outcome:
    if attempt >= retries.attempts:
        return _park(message, ports, system, f"{reason} (after {attempt} attempts)", reconciler)
    delay = math.ceil(min(retries.cap, retries.delay(attempt, retry_after)))  # SQS delays are whole seconds
    ports.delivery(system).send([dict(message, attempt=attempt + 1)], delay_seconds=delay)
    return Outcome(status=f"retry in {delay}s")


def _park(message: dict[str, Any], ports: Ports, system: str, reason: str,
          reconciler: Reconciler | None = None) -> Outcome:
    ports.dead_letter(system).send([message], attributes=messages.reason(reason))
    if reconciler is not None and isinstance(message.get("record_id"), str):
        reconciler.park(message["record_id"], system, reason)  # not re-sent by every later poll
    return Outcome(status="dead-lettered", dead_letter=reason)


def retry_later(message: dict[str, Any], queue: Queue, dead_letter: Queue, exc: Exception,
                retries: RetryPolicy = DELIVERY_RETRIES) -> Outcome:
    """A message that failed for an unexpected reason (a store throttled past its own retries, a bug): sent
    back with a delay and its attempt counted, then dead-lettered with the reason, never without one."""
    attempt = int(message.get("attempt", 1))
    reason = f"{type(exc).__name__}: {exc}"
    if attempt >= retries.attempts:
        reason = f"{reason} (after {attempt} attempts)"
        dead_letter.send([message], attributes=messages.reason(reason))
        return Outcome(status="dead-lettered", dead_letter=reason)
    delay = math.ceil(min(retries.cap, retries.delay(attempt, _retry_after(exc))))
    queue.send([dict(message, attempt=attempt + 1)], delay_seconds=delay)
    return Outcome(status=f"retry in {delay}s")


__all__ = ["DELIVERY_RETRIES", "Outcome", "Poison", "Ports", "RetryPolicy", "deliver_message",
           "deliver_messages", "follow_up", "reconcile_message"]
