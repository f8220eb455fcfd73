"""Deliver: writes owed to one target system (one queue per target, so a slow target holds no other back).

An SQS batch is handed to the target at once (`Connector.write_batch`: one SQL transaction, one file rewrite);
a write the target refuses is retried on its own, re-read after a version conflict, or dead-lettered with its
reason. Only an unexpected failure returns messages to the queue (partial batch failure)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from peoplesync.service import flow, runtime

logger = Logger(service="peoplesync-deliver")


def _system_of(record: dict[str, Any]) -> str:
    # the queue is named <stack>-deliver-<system>: the message's own system may be the broken part
    return str(record.get("eventSourceARN", "")).rsplit("-deliver-", 1)[-1]


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any, rt: runtime.Runtime | None = None) -> dict[str, Any]:
    rt = rt or runtime.current()
    records = event.get("Records", [])
    parsed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in records:
        try:
            parsed.append((record, runtime.parse(record["body"])))
        except flow.Poison as exc:
            rt.dead_letter(_system_of(record)).send([runtime.parked(record["body"])],
                                                    attributes={"reason": str(exc)[:1000]})
            logger.warning("poison delivery dead-lettered", extra={"reason": str(exc)})
    try:
        outcomes = flow.deliver_messages([m for _, m in parsed], rt.reconciler, rt.connector, rt.delivery,
                                         rt.queue("reconcile"), rt.dead_letter)
    except Exception:  # unexpected: the whole batch goes back to the queue (and, after retries, to its DLQ)
        logger.exception("delivery batch failed")
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r, _ in parsed]}
    for (record, message), outcome in zip(parsed, outcomes, strict=True):
        if isinstance(outcome, flow.Poison):
            rt.dead_letter(_system_of(record)).send([message], attributes={"reason": str(outcome)[:1000]})
            logger.warning("poison delivery dead-lettered", extra={"reason": str(outcome)})
        else:
            logger.info("delivery", extra={"status": outcome.status, "writes": outcome.writes,
                                           "record_id": message.get("record_id"), "system": message.get("system")})
    return {"batchItemFailures": []}
