"""Deliver: writes owed to one target system (one queue per target, so a slow target holds no other back).

The SQS batch is handed to the target at once (one SQL transaction, one file rewrite); a write the target
refuses is retried on its own, re-read after a version conflict, or dead-lettered with its reason
(`peoplesync.service.flow`). Only an unexpected failure returns messages to the queue, each on its own
(partial batch failure, `service/sqs_batch.py`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from peoplesync import bootstrap

bootstrap.handlers.preload("deliver")  # what its invocations run, loaded with the module

logger = Logger(service="peoplesync-deliver")
bootstrap.install_log_redaction(logger.name)  # known secrets masked in its extra fields too
tracer = bootstrap.tracer("peoplesync-deliver")  # powertools Tracer if TraceAwsCalls
metrics = Metrics(namespace="peoplesync", service="peoplesync-deliver")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any, rt: bootstrap.Runtime | None = None) -> dict[str, Any]:
    settle = bootstrap.handlers.deliver_records(event.get("Records", []), rt or bootstrap.aws(), metrics)
    return bootstrap.partial_response(event, settle)  # powertools' BatchProcessor, in the lines we use
