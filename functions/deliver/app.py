"""Deliver: writes owed to one target system (one queue per target, so a slow target holds no other back)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from peoplesync.service import flow, runtime

logger = Logger(service="peoplesync-deliver")
processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord, rt: runtime.Runtime) -> None:
    try:
        message = runtime.parse(record.body)
        outcome = flow.deliver_message(message, rt.reconciler, rt.connector, rt.delivery, rt.queue("reconcile"),
                                       rt.dead_letter)
        logger.info("delivery", extra={"status": outcome.status, "writes": outcome.writes,
                                       "record_id": message.get("record_id"), "system": message.get("system")})
    except flow.Poison as exc:
        system = _system_of(record)
        rt.dead_letter(system).send([runtime.parked(record.body)], attributes={"reason": str(exc)[:1000]})
        logger.warning("poison delivery dead-lettered", extra={"reason": str(exc)})


def _system_of(record: SQSRecord) -> str:
    # the queue is named <stack>-deliver-<system>: the message's own system may be the broken part
    return record.event_source_arn.rsplit("-deliver-", 1)[-1]


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any, rt: runtime.Runtime | None = None) -> dict[str, Any]:
    rt = rt or runtime.current()
    return process_partial_response(event=event, record_handler=lambda record: _record(record, rt), processor=processor,
                                    context=context)
