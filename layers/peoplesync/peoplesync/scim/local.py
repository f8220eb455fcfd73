"""`peoplesync serve CONFIG --port N`: the SCIM webhook on 127.0.0.1, feeding a `LocalBridge`.

The same Lambda handler as in AWS (`apigw.lambda_handler` around `ScimApp.handle`) behind
`devserver.serve`; each accepted IdP write is reconciled and delivered at once. The IdP's view is kept in
memory (a restart forgets it; the bridge's own state is wherever the bridge keeps it).

Tokens: `PEOPLESYNC_SCIM_TOKENS` (comma- or newline-separated) if set, else one random token made at start
and printed once on the terminal (never logged), for the SCIM client to be given.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
from typing import Any

from ..connectors.scim_inbound import Settings
from .apigw import lambda_handler
from .app import build_app
from .guard import token_list
from .repository import MemoryScimRepository, ScimRepository


def scim_system(bridge: Any) -> str | None:
    return next((name for name, s in bridge.plan.systems.items() if s.connector == "scim"), None)


def build_local(bridge: Any, tokens: list[str], repository: ScimRepository | None = None,
                system: str | None = None) -> tuple[Any, str, str]:
    """(Lambda handler, base path, system name) for the bridge's SCIM system."""
    from ..service.local import system_attributes

    system = system or scim_system(bridge)
    if system is None:
        raise ValueError("the configuration has no system with connector: scim")
    settings = Settings.model_validate(bridge.plan.config.systems[system].settings)
    lock = threading.Lock()

    def on_change(observation: Any) -> None:
        with lock:  # the bridge is not thread-safe; the server is
            bridge.receive(observation)
            bridge.deliver_owed()

    app = build_app(repository or MemoryScimRepository(), tokens, system=system,
                    attributes=system_attributes(bridge.plan, system), on_change=on_change,
                    max_body_bytes=settings.max_body_bytes)
    return lambda_handler(app.handle, settings.base_path), settings.base_path, system


def serve_config(bridge: Any, port: int = 8080, host: str = "127.0.0.1") -> int:
    from .devserver import serve

    tokens = token_list(os.environ.get("PEOPLESYNC_SCIM_TOKENS", ""))
    made = not tokens
    if made:
        tokens = [secrets.token_urlsafe(32)]
    try:
        handler, base_path, system = build_local(bridge, tokens)
    except ValueError as exc:
        print(f"peoplesync serve: {exc}", file=sys.stderr)
        return 2
    print(f"SCIM webhook for system {system!r}: http://{host}:{port}{base_path}", file=sys.stderr)
    if made:
        print(f"bearer token (made for this run; set PEOPLESYNC_SCIM_TOKENS to choose): {tokens[0]}",
              file=sys.stderr)
    serve(handler, host=host, port=port)
    return 0
