"""Reconcile: SQS batches of observations, re-evaluations and re-reads (`peoplesync.service.flow`); a message
that fails is reported alone (partial batch failure), a poison one is parked with its reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from peoplesync import bootstrap

bootstrap.handlers.preload("reconcile")  # what its invocations run, loaded with the module

logger = Logger(service="peoplesync-reconcile")
bootstrap.install_log_redaction(logger.name)  # known secrets masked in its extra fields too
tracer = bootstrap.tracer("peoplesync-reconcile")  # powertools Tracer if TraceAwsCalls
metrics = Metrics(namespace="peoplesync", service="peoplesync-reconcile")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any, rt: bootstrap.Runtime | None = None) -> dict[str, Any]:
    settle = bootstrap.handlers.reconcile_records(rt or bootstrap.aws(), metrics)
    return bootstrap.partial_response(event, settle)  # powertools' BatchProcessor, in the lines we use
