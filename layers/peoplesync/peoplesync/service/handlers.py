"""The Lambda functions' one call each: an AWS event in, the flow's step, business metrics out. No boto3 here;
the handlers in `functions/*/app.py` are powertools decorators around these (through `peoplesync.bootstrap`).

Metrics (CloudWatch EMF through powertools, namespace `peoplesync`): `Writes`, `Conflicts`, `HeldForReview`,
`HeldRuns`, `DeadLettered`, `ReadFailures`, `AccountsQueued`, `SweepAccounts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import messages
from .messages import RECONCILE, Poison
from .runtime import Runtime

if TYPE_CHECKING:  # another name, so that a handler using `sweep` without importing it is an undefined name
    from . import sweep as sweep_types

# The flow, the poll and the sweep are imported by the handler that runs them, so a function loads only its own
# (the SCIM webhook none of them). Each function's module preloads its own (`preload`), so a cold start
# counts them (docs/performance.md) and the first invocation does not pay them.
RUNS = {"poll": ("poll", "reconcile"), "reconcile": ("flow",), "deliver": ("flow",), "sweep": ("flow", "sweep"),
        "sweep_snapshot": ("sweep", "sweep_window"), "scim_webhook": ()}


def preload(function: str) -> None:
    """Import what the function's invocations run (its module calls this when Lambda loads it)."""
    import importlib

    for name in RUNS[function]:
        importlib.import_module(f"{__package__}.{name}")

log = logging.getLogger("peoplesync")


class Meter(Protocol):
    """powertools' `Metrics` (or anything with its `add_metric`)."""

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


def count(meter: Meter | None, name: str, value: float) -> None:
    if meter is not None and value:
        meter.add_metric(name=name, unit="Count", value=value)


#: accounts per page of a poll in Lambda, and the seconds kept back from the invocation's remaining time
POLL_PAGE_SIZE, POLL_MARGIN = 5000, 60.0


def poll_event(event: Any, rt: Runtime, meter: Meter | None = None, *, remaining_ms: int | None = None,
               hand_over: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """A scheduled poll of one system: `{"system": ..., "full": false, "approve": false}` (`approve`: true, a
    hold id, or a list of them: see `guard.py`). Read in pages of `page_size` (event, default POLL_PAGE_SIZE);
    when `remaining_ms` minus POLL_MARGIN is spent the poll stops after its page and `hand_over` gets the
    event naming the run to resume (`{"system", "resume": <run>}`), and the answer says `"continue": true`.
    The hand-over carries no `approve`: the run's checkpoint keeps the approval and every page is judged with it
    (an approved hold is let go after the last page), so a duplicate or late hand-over approves nothing new."""
    system = event.get("system") if isinstance(event, dict) else None
    if system not in rt.plan.systems or rt.plan.systems[system].push:
        raise ValueError(f"the schedule's input must name a configured system that is polled, got {system!r}")
    from .poll import poll

    budget = None if remaining_ms is None else max(0.0, remaining_ms / 1000 - POLL_MARGIN)
    report = poll(system, rt.reconciler, rt.connector(system), rt.queue(RECONCILE),
                  full=bool(event.get("full", False)), approve=_approval(event.get("approve", False)),
                  connectors=rt.connector, page_size=int(event.get("page_size") or POLL_PAGE_SIZE), budget=budget,
                  resume=event.get("resume"))
    if report.more and hand_over is not None:
        hand_over({k: v for k, v in event.items() if k != "approve"} | {"resume": report.run})
    if report.held:
        report.held += (f'. Approve one by invoking the poll with {{"system": "{system}", "approve": "<hold id>"}} '
                        f'(or "approve": true for all of {system})')
    count(meter, "AccountsQueued", report.queued)
    count(meter, "HeldRuns", 1 if report.held else 0)
    count(meter, "ReadFailures", 1 if report.failed else 0)
    return report.to_dict()


def _approval(value: Any) -> bool | list[str]:
    """The poll event's `approve`: true (every hold of the system), a hold id, or a list of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return bool(value)


def reconcile_body(body: str, rt: Runtime, meter: Meter | None = None) -> None:
    """One reconcile-queue message. A poison message is parked with its reason; one that fails otherwise is
    sent back with a delay and its attempt counted, then parked with the reason. Only when even that cannot be
    sent does this raise (SQS then delivers the message again)."""
    from . import flow
    from .reconcile import HELD

    try:
        message = messages.parse(body)
        outcomes = flow.reconcile_message(message, rt.reconciler, rt.ports)
    except Poison as exc:
        rt.dlq(RECONCILE).send([messages.parked(body)], attributes=messages.reason(str(exc)))
        log.warning("poison message dead-lettered: %s", exc)
        count(meter, "DeadLettered", 1)
        return
    except Exception as exc:  # a store or a connector failed: again later, then dead-lettered with the reason
        log.warning("reconcile failed, retried later: %s: %s", type(exc).__name__, exc)
        outcome = flow.retry_later(message, rt.queue(RECONCILE), rt.dlq(RECONCILE), exc)
        count(meter, "DeadLettered", 1 if outcome.dead_letter else 0)
        return
    for outcome in outcomes:
        result = outcome.result
        count(meter, "Conflicts", result.conflicts if result else 0)
        count(meter, "HeldForReview", 1 if result and result.status == HELD else 0)


def reconcile_records(rt: Runtime, meter: Meter | None = None) -> Callable[[Any], None]:
    """The record handler for the reconcile queue's batches (`sqs_batch.partial_response`)."""

    def handle(record: Any) -> None:
        receives = _receives(record.raw_event if hasattr(record, "raw_event") else record)
        if _worn_out(rt, receives):
            _park_worn_out(rt.dlq(RECONCILE), record.body, receives, meter)
            return
        reconcile_body(record.body, rt, meter)

    return handle


def _receives(record: dict[str, Any]) -> int:
    return int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))


def _worn_out(rt: Runtime, receives: int) -> bool:
    """Received as often as the redrive allows: every earlier try died without an answer (a timeout)."""
    return rt.max_receives is not None and receives >= rt.max_receives


def _park_worn_out(dead_letter: Any, body: str, receives: int, meter: Meter | None) -> None:
    reason = (f"received {receives} times without finishing: the function timed out or died while handling "
              f"it; parked here with this reason rather than moved by the redrive without one")
    dead_letter.send([messages.parked(body)], attributes=messages.reason(reason))
    log.error("message parked: %s", reason)
    count(meter, "DeadLettered", 1)


def deliver_records(records: list[dict[str, Any]], rt: Runtime, meter: Meter | None = None
                    ) -> Callable[[Any], None]:
    """An SQS batch of deliveries, handed to each target at once (`flow.deliver_messages`). Returns the
    record handler for `sqs_batch.partial_response`: it raises for the messages that must come back (the
    batch failed unexpectedly), so one failure never replays its neighbours."""
    from . import flow

    parsed: dict[str, dict[str, Any]] = {}
    for record in records:
        if _worn_out(rt, _receives(record)):
            _park_worn_out(rt.dead_letter(_system_of(record)), record["body"], _receives(record), meter)
            continue
        try:
            parsed[record["messageId"]] = message = messages.parse(record["body"])
            if _receives(record) > 1:
                message["redelivered"] = True  # a crash may have come after the write: re-read first
        except Poison as exc:
            rt.dead_letter(_system_of(record)).send([messages.parked(record["body"])],
                                                    attributes=messages.reason(str(exc)))
            count(meter, "DeadLettered", 1)
    ids = list(parsed)
    try:
        outcomes: list[Any] = flow.deliver_messages([parsed[i] for i in ids], rt.reconciler, rt.ports)
    except Exception as exc:  # unexpected: every message of the batch comes back (and, in the end, its DLQ)
        log.exception("delivery batch failed")
        outcomes = [exc] * len(ids)  # flow.deliver_messages answers per message; this is for the unforeseen
    failed: dict[str, Exception] = {}
    for message_id, outcome in zip(ids, outcomes, strict=True):
        if isinstance(outcome, Poison):
            system = str(parsed[message_id].get("system"))
            rt.dead_letter(system).send([parsed[message_id]], attributes=messages.reason(str(outcome)))
            count(meter, "DeadLettered", 1)
        elif isinstance(outcome, Exception):
            failed[message_id] = outcome
        else:
            count(meter, "Writes", sum(outcome.writes.values()))
            count(meter, "DeadLettered", 1 if outcome.dead_letter else 0)

    def settle(record: Any) -> None:
        message_id = record.message_id if hasattr(record, "message_id") else record["messageId"]
        if message_id in failed:
            raise failed[message_id]

    return settle


def sweep_snapshot_event(event: Any, rt: Runtime, blobs: sweep_types.Blobs, *, remaining_ms: int | None = None
                         ) -> dict[str, Any]:
    """The state machine's snapshot step: `{"run": <execution name>, "index": <system number>, "resume": null}`
    -> where that system's chunks are, how many, and whether another system follows (`service/sweep.py`). When
    `remaining_ms` minus POLL_MARGIN is spent before the read ends, the answer says `more_pages` and the machine
    invokes the step again with the answer as `resume`."""
    if not isinstance(event, dict) or not isinstance(event.get("run"), str) or not event["run"]:
        raise ValueError('the snapshot step needs {"run": <the execution\'s name>, "index": <n>}')
    resume = event.get("resume")
    if resume is not None and not (isinstance(resume, dict) and {"prefix", "chunks", "accounts"} <= resume.keys()):
        raise ValueError("the snapshot step's resume must be the step's own earlier answer (prefix, chunks, ...)")
    from . import sweep, sweep_window

    budget = None if remaining_ms is None else max(0.0, remaining_ms / 1000 - POLL_MARGIN)
    index = int(event.get("index") or 0)
    if index == 0 and resume is None:
        sweep_window.begin(rt.store, event["run"])  # until the report step: creates look first (sweep_window.py)
    return sweep.snapshot(rt, blobs, event["run"], index, resume=resume, budget=budget).to_dict()


def sweep_report_event(event: Any, rt: Runtime, blobs: Any, log: Any = None) -> dict[str, str]:
    """The state machine's last step: the run's report page written to the snapshot bucket under `reports/`
    (`report_page/aws.py`), its address logged. `{"run": <execution name>, "report": true, "since": <start>}`."""
    from ..report_page.aws import sweep_report
    from . import sweep_window

    since = event.get("since") if isinstance(event, dict) else None
    sweep_window.end(rt.store, str(event["run"]))
    written = sweep_report(rt, blobs.client, blobs.bucket, str(event["run"]),
                           since=_epoch(since) if since else None)
    if log is not None:
        log.info("full sweep report written", extra={"report": written})
    return written


def _epoch(when: Any) -> float:
    """Step Functions' `$$.Execution.StartTime` (ISO 8601, e.g. 2026-11-29T06:00:00.123Z) as epoch seconds."""
    from datetime import datetime

    return datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp()


def sweep_batch_event(event: Any, rt: Runtime, blobs: sweep_types.Blobs, meter: Meter | None = None) -> dict[str, Any]:
    """The Distributed Map's item processor: a batch of chunk keys, each account reconciled as the reconcile
    function would (`sweep.process`)."""
    from . import sweep

    done = sweep.process(sweep.item_keys(event), blobs, rt, meter)
    count(meter, "SweepAccounts", done.accounts)
    return done.to_dict()


def sweep_vanished_event(event: Any, rt: Runtime, blobs: sweep_types.Blobs, *, remaining_ms: int | None = None,
                         meter: Meter | None = None) -> dict[str, Any]:
    """The state machine's vanished step: `{"run": <execution name>, "vanished": <the snapshot step's answer>,
    "resume": <this step's earlier answer, or {}>}` -> who the system's complete read did not list, judged and
    sent to the reconcile queue (`sweep.who_vanished`); `more` when the step must be invoked again to go on."""
    from . import sweep

    shot = event.get("vanished") if isinstance(event, dict) else None
    if not isinstance(event.get("run"), str) or not isinstance(shot, dict) or not {"system", "prefix"} <= shot.keys():
        raise ValueError('the vanished step needs {"run": <the execution\'s name>, "vanished": <the snapshot\'s '
                         'answer>}')
    budget = None if remaining_ms is None else max(0.0, remaining_ms / 1000 - POLL_MARGIN)
    answer = sweep.who_vanished(rt, blobs, event["run"], shot, rt.queue(RECONCILE), resume=event.get("resume") or None,
                            budget=budget)
    count(meter, "SweepVanished", answer["vanished"] - int((event.get("resume") or {}).get("vanished") or 0))
    return answer


def _system_of(record: dict[str, Any]) -> str:
    # the queue is named <stack>-deliver-<system>: the message's own system may be the broken part
    return str(record.get("eventSourceARN", "")).rsplit("-deliver-", 1)[-1]
