"""The full sweep's snapshot step (FullSweep state machine): read system number `index` (lifecycle sources
first) fully and write its accounts to the snapshot bucket as JSON Lines chunks (`peoplesync.service.sweep`); and,
as the machine's last step, the run's report page to the same bucket under `reports/`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from peoplesync import bootstrap

bootstrap.handlers.preload("sweep_snapshot")  # what its invocations run, loaded with the module

logger = Logger(service="peoplesync-sweep-snapshot")
bootstrap.install_log_redaction(logger.name)  # known secrets masked in its extra fields too
tracer = bootstrap.tracer("peoplesync-sweep-snapshot")  # powertools Tracer if TraceAwsCalls


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any, rt: bootstrap.Runtime | None = None,
            blobs: Any = None) -> dict[str, Any]:
    if event.get("report"):  # the state machine's last step: the run's page to the bucket's reports/ prefix
        return bootstrap.handlers.sweep_report_event(event, rt or bootstrap.aws(), blobs or bootstrap.snapshots(),
                                                     logger)
    return bootstrap.handlers.sweep_snapshot_event(event, rt or bootstrap.aws(), blobs or bootstrap.snapshots(),
                                                   remaining_ms=context.get_remaining_time_in_millis())
