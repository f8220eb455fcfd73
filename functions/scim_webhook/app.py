"""SCIM 2.0 webhook (API Gateway HTTP API, payload 2.0): the identity provider's pushes, queued for reconcile.

The response comes from the SCIM system's stored view (DynamoDB), so a GET right after a POST shows it; each
accepted write is sent to the reconcile queue as an observation. Nothing is ever sent back to the IdP.
Bearer tokens come from Secrets Manager (several at once, for rotation) and are re-read every
TOKEN_REFRESH_SECONDS, so a rotated token is accepted without a redeploy.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from peoplesync import bootstrap

logger = Logger(service="peoplesync-scim")
bootstrap.install_log_redaction(logger.name)  # known secrets masked in its extra fields too
tracer = bootstrap.tracer("peoplesync-scim")  # powertools Tracer if TraceAwsCalls
metrics = Metrics(namespace="peoplesync", service="peoplesync-scim")
TOKEN_REFRESH_SECONDS = 300
_cache: dict[str, Any] = {}


@logger.inject_lambda_context(log_event=False)  # never the event: it holds the token and personal data
@tracer.capture_lambda_handler(capture_response=False)  # nor the response: it holds personal data
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any, rt: bootstrap.Runtime | None = None,
            repository: Any = None) -> dict[str, Any]:
    rt = rt or bootstrap.aws()
    cached = _cache.get("handler")
    if cached is None or cached[0] is not rt.plan or time.monotonic() - cached[1] > TOKEN_REFRESH_SECONDS:
        cached = _cache["handler"] = (rt.plan, time.monotonic(), bootstrap.scim_webhook(rt, repository))
    return dict(cached[2](event, context))
