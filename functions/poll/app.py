"""Scheduled poll of one system (EventBridge Scheduler input: {"system": "<name>"}): read it and queue what
changed for reconcile (`peoplesync.service.poll`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from peoplesync import bootstrap

bootstrap.handlers.preload("poll")  # what its invocations run, loaded with the module

logger = Logger(service="peoplesync-poll")
bootstrap.install_log_redaction(logger.name)  # known secrets masked in its extra fields too
tracer = bootstrap.tracer("peoplesync-poll")  # powertools Tracer if TraceAwsCalls
metrics = Metrics(namespace="peoplesync", service="peoplesync-poll")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any, rt: bootstrap.Runtime | None = None) -> dict[str, Any]:
    return bootstrap.handlers.poll_event(event, rt or bootstrap.aws(), metrics,
                                         remaining_ms=context.get_remaining_time_in_millis(),
                                         hand_over=lambda e: bootstrap.hand_over(context.invoked_function_arn, e))
