"""SCIM 2.0 webhook (API Gateway HTTP API, payload 2.0): the identity provider's pushes, queued for reconcile.

The response comes from the SCIM system's stored view (DynamoDB), so a GET right after a POST shows it; each
accepted write is sent to the reconcile queue as an observation. Nothing is ever sent back to the IdP.
Bearer tokens come from Secrets Manager (several at once, for rotation) and are re-read after the secrets
cache expires, so a rotated token is accepted without a redeploy.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from peoplesync.service import runtime

logger = Logger(service="peoplesync-scim")
_cache: dict[str, Any] = {}
TOKEN_REFRESH_SECONDS = 300


def build(rt: runtime.Runtime, repository: Any = None) -> Any:
    """The API Gateway handler for the configured SCIM system (heavy SCIM imports happen here, once)."""
    from peoplesync.connectors.scim_inbound import Settings
    from peoplesync.model import observation_to_dict
    from peoplesync.scim.apigw import lambda_handler
    from peoplesync.scim.app import build_app
    from peoplesync.scim.guard import token_list
    from peoplesync.service.local import system_attributes

    system = next((n for n, s in rt.plan.systems.items() if s.connector == "scim"), None)
    if system is None:
        raise ValueError("the configuration has no system with connector: scim")
    config = rt.plan.config.systems[system]
    settings = Settings.model_validate(config.settings)
    secret = settings.tokens or config.credentials
    if not secret or rt.secrets is None:
        raise ValueError(f"systems.{system}: name the secret holding the bearer tokens (tokens: secret:<name>)")
    if repository is None:
        from peoplesync.adapters import aws
        from peoplesync.adapters.scim_dynamodb import DynamoScimRepository

        repository = DynamoScimRepository(aws.settings().table, aws.client("dynamodb"))
    reconcile = rt.queue("reconcile")

    def on_change(observation: Any) -> None:
        reconcile.send([{"type": "observation", "observation": observation_to_dict(observation)}])

    app = build_app(repository, token_list(rt.secrets.get(secret)), system=system,
                    attributes=system_attributes(rt.plan, system), on_change=on_change,
                    max_body_bytes=settings.max_body_bytes)
    return lambda_handler(app.handle, settings.base_path)


@logger.inject_lambda_context(log_event=False)  # never the event: it holds the token and personal data
def handler(event: dict[str, Any], context: Any, rt: runtime.Runtime | None = None,
            repository: Any = None) -> dict[str, Any]:
    rt = rt or runtime.current()
    now = time.monotonic()
    cached = _cache.get("handler")
    if cached is None or cached[0] is not rt.plan or now - cached[1] > TOKEN_REFRESH_SECONDS:
        cached = _cache["handler"] = (rt.plan, now, build(rt, repository))
    return dict(cached[2](event, context))
