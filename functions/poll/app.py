"""Scheduled poll of one system (EventBridge Scheduler input: {"system": "<name>"})."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from peoplesync.service import flow, runtime

logger = Logger(service="peoplesync-poll")


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any, rt: runtime.Runtime | None = None) -> dict[str, Any]:
    rt = rt or runtime.current()
    system = event.get("system") if isinstance(event, dict) else None
    if system not in rt.plan.systems:
        raise ValueError(f"the schedule's input must name a configured system, got {system!r}")
    report = flow.poll(system, rt.plan, rt.store, rt.connector(system), rt.queue("reconcile"),
                       full=bool(event.get("full", False)), approve=bool(event.get("approve", False)))
    logger.info("poll finished", extra=report.to_dict())
    return report.to_dict()
