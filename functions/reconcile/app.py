"""Reconcile: SQS batches of observations / re-evaluations; partial batch failures reported to SQS."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from peoplesync.service import flow, runtime

logger = Logger(service="peoplesync-reconcile")
processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord, rt: runtime.Runtime) -> None:
    try:
        message = runtime.parse(record.body)
        outcome = flow.reconcile_message(message, rt.reconciler, rt.queue("reconcile"), rt.delivery, rt.connector)
        logger.debug("reconciled", extra={"status": outcome.status, "writes": outcome.writes})
    except flow.Poison as exc:  # never retried: parked in the dead-letter queue with its reason
        rt.dlq("reconcile").send([runtime.parked(record.body)], attributes={"reason": str(exc)[:1000]})
        logger.warning("poison message dead-lettered", extra={"reason": str(exc), "message_id": record.message_id})


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any, rt: runtime.Runtime | None = None) -> dict[str, Any]:
    rt = rt or runtime.current()
    return process_partial_response(event=event, record_handler=lambda record: _record(record, rt), processor=processor,
                                    context=context)
