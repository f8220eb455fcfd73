"""The composition root's SCIM part: the webhook (Lambda) and `peoplesync serve` (local), built from the
configuration's `connector: scim` system. Re-exported by `peoplesync.bootstrap`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Plan, system_attributes
from ..ports import SecretsPort, StateStore
from ..service.runtime import Runtime

if TYPE_CHECKING:
    from ..service.local import LocalBridge


ScimHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def scim_handler(plan: Plan, tokens: list[str], repository: Any, on_change: Callable[[Any], None]
                 ) -> tuple[ScimHandler, str, str]:
    """(API Gateway handler, base path, system name) of the configured SCIM system: the SCIM protocol over
    the IdP's stored view (`repository`), each accepted write handed to `on_change` as an observation."""
    from ..scim.apigw import lambda_handler
    from ..scim.app import build_app

    system = _scim_system(plan)
    settings = _scim_settings(plan, system)
    app = build_app(repository, tokens, system=system, attributes=system_attributes(plan, system),
                    on_change=on_change, max_body_bytes=settings["max_body_bytes"])
    return lambda_handler(app.handle, settings["base_path"]), settings["base_path"], system


def scim_tokens(plan: Plan, secrets: SecretsPort | None) -> list[str]:
    """The bearer tokens the configured SCIM system accepts, from the secret its `tokens:` names (Secrets Manager
    when deployed, secrets.json locally), as `{"tokens": [...]}`, `{"token": ...}`, a list or one per line: one
    function for the webhook Lambda and `peoplesync serve`. Raises ValueError or the secrets port's error."""
    from ..scim.guard import token_list

    system = _scim_system(plan)
    secret = _scim_settings(plan, system)["tokens"]
    if secrets is None:
        raise ValueError(f"systems.{system}.tokens: no secrets to read {secret!r} from")
    tokens = token_list(secrets.get(secret))
    if not tokens:
        raise ValueError(f"systems.{system}.tokens: the secret {secret!r} holds no token "
                         '(expected {"tokens": ["<token>", ...]})')
    return tokens


def _scim_settings(plan: Plan, system: str) -> dict[str, Any]:
    """The SCIM system's settings as its connector's `Settings` checks them: the result of that check made when
    the configuration was checked in full (`adapters/aws.checked_form`: the webhook's cold start then imports
    no pydantic), else checked here (a ValidationError naming the bad key, as before)."""
    checked = getattr(plan.config, "checked_settings", None) or {}
    if system in checked:
        return dict(checked[system])
    from ..connectors.scim_inbound import Settings

    return Settings.model_validate(plan.config.systems[system].settings).model_dump(mode="json")


def _scim_system(plan: Plan) -> str:
    system = next((n for n, s in plan.systems.items() if s.connector == "scim"), None)
    if system is None:
        raise ValueError("the configuration has no system with connector: scim")
    return system


def scim_webhook(rt: Runtime, repository: Any = None) -> ScimHandler:
    """The webhook Lambda's handler: bearer tokens from the secret the SCIM system's configuration names (in
    Secrets Manager), the IdP's view in DynamoDB (unless a repository is given), each accepted write queued for
    reconcile."""
    from ..service.messages import observed

    tokens = scim_tokens(rt.plan, rt.secrets)
    if repository is None:
        from ..adapters import aws as env
        from ..adapters.scim_dynamodb import DynamoScimRepository

        repository = DynamoScimRepository(env.settings().table, env.client("dynamodb"))
    reconcile = rt.queue("reconcile")
    handler, _, _ = scim_handler(rt.plan, tokens, repository, lambda o: reconcile.send(observed([o])))
    return handler


def scim_local(bridge: LocalBridge, tokens: list[str], repository: Any = None, background: Any = None
               ) -> tuple[ScimHandler, str, str]:
    """The same handler for `peoplesync serve` and the tests. With a `background` worker (`serve`), each
    accepted write goes to its inbox and the answer does not wait for the targets; without, it is reconciled
    and delivered before the answer. The IdP's view is kept where the run keeps its state
    (`scim_repository_for`), so a restarted server still knows what the IdP created."""
    import threading

    lock = threading.Lock()

    def on_change(observation: Any) -> None:
        if background is not None:
            background.submit(observation)
            return
        with lock:  # the local run is not thread-safe; the server is
            bridge.receive(observation)
            bridge.deliver_owed()

    if repository is None:
        repository = scim_repository_for(bridge.store)
    return scim_handler(bridge.plan, tokens, repository, on_change)


def background_for(bridge: LocalBridge) -> Any:
    """`serve`'s background worker, its inbox beside the local run's state (in memory for a memory store)."""
    from ..adapters.local_inbox import MemoryInbox, SqliteInbox
    from ..adapters.sqlite_store import SqliteStore
    from ..service.background import Background

    store = bridge.store
    if isinstance(store, SqliteStore) and store.path != ":memory:":
        return Background(bridge, SqliteInbox(store.path))
    return Background(bridge, MemoryInbox())


def scim_repository_for(store: StateStore) -> Any:
    """The IdP's view beside the local run's state: in the same SQLite file (tables of its own) when the store
    is SQLite, else in memory for this process only."""
    from ..adapters.sqlite_store import SqliteStore

    if isinstance(store, SqliteStore) and store.path != ":memory:":
        from ..adapters.scim_sqlite import SqliteScimRepository

        return SqliteScimRepository(store.path)
    from ..scim.repository import MemoryScimRepository

    return MemoryScimRepository()


def serve(bridge: LocalBridge, port: int = 8080, host: str = "127.0.0.1") -> int:
    """The SCIM 2.0 webhook of the configuration's `connector: scim` system on http://127.0.0.1:PORT (under its
    base_path, default /scim/v2), for an identity provider or a test client (`peoplesync serve`). It accepts the
    bearer tokens of the secret the system names (tokens: secret:<name>), read as a local run reads every secret:
    from secrets.json beside the configuration ({"<name>": {"tokens": ["<token>"]}}) or the environment variable
    PEOPLESYNC_SECRET_<NAME>; the deployed webhook reads the same name in Secrets Manager. Each accepted write is
    reconciled and delivered in the background; the IdP's view is kept in the state database, so a restart
    forgets nothing."""
    import sys

    from ..ports import PeoplesyncError
    from ..scim.devserver import serve as run_server

    background = background_for(bridge)
    try:
        tokens = scim_tokens(bridge.plan, bridge.runtime.secrets)
        handler, base_path, system = scim_local(bridge, tokens, background=background)
    except (ValueError, PeoplesyncError) as exc:
        print(f"peoplesync serve: {exc}", file=sys.stderr)
        return 1
    print(f"SCIM webhook for system {system!r}: http://{host}:{port}{base_path} "
          f"({len(tokens)} bearer token(s) accepted)", file=sys.stderr)
    background.start()  # delivers what an earlier run left queued, then each change as it comes
    try:
        run_server(handler, host=host, port=port)
    finally:
        background.stop()  # the step under way ends; what is still queued stays in the state for next time
    return 0
