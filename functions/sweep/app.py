"""The full sweep's item processor (the Distributed Map's child in the FullSweep state machine): a batch of
snapshot chunk keys, each account reconciled as the reconcile function would (`peoplesync.service.sweep`); and,
after each system's Map, the vanished step (`{"vanished": <the snapshot's answer>, ...}`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from peoplesync import bootstrap

bootstrap.handlers.preload("sweep")  # what its invocations run, loaded with the module

logger = Logger(service="peoplesync-sweep")
bootstrap.install_log_redaction(logger.name)  # known secrets masked in its extra fields too
tracer = bootstrap.tracer("peoplesync-sweep")  # powertools Tracer if TraceAwsCalls
metrics = Metrics(namespace="peoplesync", service="peoplesync-sweep")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any, rt: bootstrap.Runtime | None = None,
            blobs: Any = None) -> dict[str, Any]:
    if "vanished" in event:  # after the system's Map: who its complete read did not list
        return bootstrap.handlers.sweep_vanished_event(event, rt or bootstrap.aws(), blobs or bootstrap.snapshots(),
                                                       remaining_ms=context.get_remaining_time_in_millis(),
                                                       meter=metrics)
    return bootstrap.handlers.sweep_batch_event(event, rt or bootstrap.aws(), blobs or bootstrap.snapshots(), metrics)
