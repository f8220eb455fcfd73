"""The composition root: the one place where the bridge is put together from its parts.

Everything that runs the bridge comes through here: the Lambda functions (`aws()`, then the one call of
`service/handlers.py`), the command line (`local_from_file()`), the tests (`local(...)` or `Runtime(...)` with
fakes passed in). Real adapters are the default; what a caller passes replaces them. Heavy imports (boto3,
connectors, the SCIM libraries) happen only where a part is really built, so a function pays at cold start
only for what it uses.

    AWS:   SSM config -> Plan; DynamoDB store; SQS queues; Secrets Manager -> Runtime -> handlers
    local: YAML file  -> Plan; SQLite (or memory) store; in-process queues; secrets.json -> LocalBridge
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ConfigError, Plan, compile_config, json_schema, system_attributes
from ..config import load_config as _load_config
from ..ports import Connector, SecretsPort, StateStore
from ..redact import install_log_redaction
from ..service import handlers
from ..service.runtime import Runtime
from ..service.sqs_batch import partial_response  # the SQS functions' partial batch response
from .scim import (  # the webhook's wiring (bootstrap/scim.py)
    ScimHandler,
    background_for,
    scim_handler,
    scim_local,
    scim_repository_for,
    scim_tokens,
    scim_webhook,
    serve,
)

if TYPE_CHECKING:  # the local run is imported where it is built: a Lambda function never loads it
    from ..config_models import Config  # pydantic: imported where a configuration is checked (config.py)
    from ..service.local import LocalBridge, RunReport

install_log_redaction()  # every log record of a process that runs the bridge: known secrets masked (redact.py)

__all__ = [
    "ConfigError",
    "LocalBridge",
    "RunReport",
    "Runtime",
    "ScimHandler",
    "aws",
    "background_for",
    "compile_config",
    "connector_factory",
    "handlers",
    "json_schema",
    "load_config",
    "local",
    "local_from_file",
    "partial_response",
    "scim_handler",
    "scim_local",
    "scim_repository_for",
    "scim_tokens",
    "scim_webhook",
    "serve",
    "system_attributes",
]


# --- configuration --------------------------------------------------------------------------------------
def load_config(source: str | Path | dict[str, Any]) -> Config:
    """A configuration checked completely, connector settings and capabilities included. Raises ConfigError."""
    from ..config_checks import plan_problems

    config = _load_config(source, settings_problems=_settings_problems)
    problems = plan_problems(plan_of(config))
    if problems:
        raise ConfigError(problems)
    return config


def validate_file(path: str | Path) -> tuple[Plan, list[tuple[str, str]]]:
    """`peoplesync validate`: (the plan, warnings); a ConfigError with every problem, the local run's secrets
    included (a secret or key missing from `secrets.json` beside the file, see `validation.py`)."""
    from ..validation import check_file

    return check_file(Path(path), _settings_problems, _connector_class)


def _settings_problems(connector: str, settings: dict[str, Any]) -> list[tuple[str, str]]:
    from .. import connectors

    return connectors.settings_problems(connector, settings)


def _plan(config: Config | Plan | str | Path | dict[str, Any]) -> Plan:
    if isinstance(config, Plan):
        return config
    from ..config_models import Config

    return plan_of(config if isinstance(config, Config) else load_config(config))


def plan_of(config: Config) -> Plan:
    """The plan, with what each system's connector can take (`Connector.capabilities`): the engine plans no
    write a system cannot take, and the connector is built with the plan's `writable` (one rule)."""
    return compile_config(config, connector_class=_connector_class)


def _connector_class(connector: str) -> type[Connector]:
    from .. import connectors

    return connectors.connector_class(connector)


# --- connectors -----------------------------------------------------------------------------------------
def connector_factory(plan: Plan, secrets: SecretsPort | None, *, base_dir: Path | None = None,
                      buckets: Any = None) -> Callable[[str], Connector]:
    """Builds a system's connector on first use: its module is imported only then."""

    def make(system: str) -> Connector:
        from .. import connectors

        config = plan.config.systems[system]
        if base_dir is not None:
            config = _relative_to(config, base_dir, system)
        config = config.model_copy(update={"writable": plan.systems[system].writable})  # the plan's, one rule
        from ..adapters.dynamodb_buckets import for_system as buckets_for  # budget_store: dynamodb (Genesys)

        # settings checked when the configuration was (a Lambda function's: connectors/checked_settings.py)
        checked = (getattr(plan.config, "connector_settings", None) or {}).get(system) if base_dir is None else None
        return connectors.connector_class(plan.systems[system].connector).from_system(
            system, config, system_attributes(plan, system), secrets=secrets, buckets=buckets or buckets_for(config),
            **({"checked": checked} if checked is not None else {}))

    return make


def _relative_to(system: Any, base_dir: Path, name: str = "?") -> Any:
    """Local paths in a configuration are relative to the configuration file, and stay inside its folder: a
    path that escapes it (`../`, a symbolic link out, an absolute path, `sqlite:////...`) is a `ConfigError`
    naming the path and the reason, unless PEOPLESYNC_ALLOW_PATHS_OUTSIDE_CONFIG is true (an operator's
    explicit choice, e.g. an export share mounted elsewhere)."""
    import os

    allowed = os.environ.get("PEOPLESYNC_ALLOW_PATHS_OUTSIDE_CONFIG", "").strip().lower() in ("1", "true", "yes")
    base = base_dir.resolve()
    extra = dict(system.model_extra or {})
    problems: list[tuple[str, str]] = []

    def inside(key: str, value: str) -> str:
        resolved = (base / value).resolve()  # an absolute value stays itself; `..` and links are followed
        if not allowed and not resolved.is_relative_to(base):
            what = "is absolute" if Path(value).is_absolute() else f"resolves to {resolved}"
            problems.append((f"systems.{name}.{key}", f"{value!r} {what}, outside the configuration's folder "
                             f"{base}; set PEOPLESYNC_ALLOW_PATHS_OUTSIDE_CONFIG=true to allow it"))
        return str(resolved)

    for key in ("path", "write_path", "seed"):
        value = extra.get(key)
        if isinstance(value, str) and "://" not in value:
            extra[key] = inside(key, value)
    url = extra.get("url")
    if isinstance(url, str) and url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        extra["url"] = "sqlite:///" + inside("url", url[len("sqlite:///"):])
    if problems:
        raise ConfigError(problems)
    return system.model_copy(update=extra)


# --- the local run --------------------------------------------------------------------------------------
def local(config: Config | Plan | str | Path | dict[str, Any], *, store: StateStore | None = None,
          connectors: dict[str, Connector] | None = None, secrets: SecretsPort | None = None,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
          base_dir: Path | None = None) -> LocalBridge:
    """The one flow in one process: given connectors replace the configured ones (tests)."""
    from ..service.local import LocalBridge
    from ..service.queues import LocalQueues

    plan = _plan(config)
    if store is None:
        from ..adapters.memory import MemoryStore

        store = MemoryStore()
    queues = LocalQueues(store, clock)
    runtime = Runtime(plan, store, queues.queue, queues.dead_letter_queue, secrets, connectors,
                      connector_factory=connector_factory(plan, secrets, base_dir=base_dir), clock=clock)
    return LocalBridge(runtime, queues, sleep=sleep)


def local_from_file(path: str | Path, *, state: str | Path | None = None, store: StateStore | None = None
                    ) -> LocalBridge:
    """`peoplesync ... CONFIG`: state in `.peoplesync/state.sqlite3` beside the configuration (or `state`),
    secrets from `secrets.json` beside it or the environment, relative paths relative to it."""
    from ..adapters.local_secrets import LocalSecrets

    path = Path(path)
    if store is None:
        store = sqlite_store(state_path(path, state))
    return local(load_config(path), store=store, secrets=LocalSecrets(path.parent / "secrets.json"),
                 base_dir=path.parent.resolve())


def relink(bridge: LocalBridge, account: str, person: str | None) -> str:
    """`peoplesync link` / `unlink` on the local run (`service/relink.py`): the line to print."""
    from ..service.relink import command

    return command(bridge, account, person)


def state_path(config_path: str | Path, state: str | Path | None = None) -> Path:
    return Path(state) if state else Path(config_path).parent / ".peoplesync" / "state.sqlite3"


def sqlite_store(path: str | Path) -> StateStore:
    from ..adapters.sqlite_store import SqliteStore

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(str(path))


def list_dead_letters(dlq_url: str) -> list[dict[str, Any]]:
    from ..adapters.sqs import list_dead_letters as listed

    return listed(dlq_url)


def replay_dead_letters(dlq_url: str, target_url: str) -> list[Any]:
    from ..adapters.sqs import replay_dead_letters as replayed

    return list(replayed(dlq_url, target_url))


def memory_store() -> StateStore:
    from ..adapters.memory import MemoryStore

    return MemoryStore()


# --- AWS ------------------------------------------------------------------------------------------------
_current: dict[str, Runtime] = {}


def aws() -> Runtime:
    """The Lambda process's Runtime, built from the environment (see `adapters/aws.py`) and rebuilt when the
    configuration's version changes."""
    from ..adapters import aws as env

    runtime = _current.get("runtime")
    with env.collector_paused() if runtime is None else contextlib.nullcontext():  # a cold start's build
        plan = env.load_plan(connector_class=_connector_class)
        if runtime is None or runtime.plan is not plan:
            secrets = LazySecrets(env.make_secrets)
            runtime = _current["runtime"] = Runtime(
                plan, env.make_store(), lambda name: env.make_queue(name),
                lambda name: env.make_queue(name, dlq=True), secrets,
                connector_factory=connector_factory(plan, secrets), max_receives=env.settings().max_receive_count)
    return runtime


def hand_over(function_arn: str, event: dict[str, Any]) -> None:
    """The poll's hand-over: the poll function invoked again, asynchronously, with the run to resume."""
    from ..adapters.lambda_invoke import invoke_async

    invoke_async(function_arn, event)


def snapshots() -> Any:
    """The full sweep's snapshot bucket in S3 (`PEOPLESYNC_SNAPSHOT_BUCKET`; `service/sweep.py`)."""
    from ..adapters import aws as env
    return env.make_blobs()


def tracer(service: str) -> Any:
    """powertools' `Tracer` (X-Ray subsegments for every AWS call) when `PEOPLESYNC_TRACE_AWS_CALLS` is true,
    else a stand-in whose decorators change nothing. Why a switch: the X-Ray SDK builds its own sampling client
    when imported, about 250 ms of every cold start (docs/performance.md); Lambda's active tracing records each
    invocation either way. Only botocore is patched: patching every library X-Ray knows imports them all."""
    import os

    if os.environ.get("PEOPLESYNC_TRACE_AWS_CALLS", "").strip().lower() in ("1", "true", "yes", "on"):
        from aws_lambda_powertools import Tracer

        return Tracer(service=service, patch_modules=["botocore"])
    return _Untraced()


class _Untraced:
    """The Tracer's decorators, doing nothing."""

    def capture_lambda_handler(self, lambda_handler: Any = None, **options: Any) -> Any:
        return lambda_handler if lambda_handler is not None else (lambda handler: handler)

    def capture_method(self, method: Any = None, **options: Any) -> Any:
        return method if method is not None else (lambda wrapped: wrapped)


class LazySecrets:
    """A SecretsPort whose real one is made on the first secret asked for: a function whose connectors need
    no secret (reconcile, a CSV poll) does not build a Secrets Manager client at its cold start."""

    def __init__(self, make: Callable[[], SecretsPort]) -> None:
        self._make = make
        self._real: SecretsPort | None = None

    def _secrets(self) -> SecretsPort:
        if self._real is None:
            self._real = self._make()
        return self._real

    def get(self, name: str) -> dict[str, Any]:
        return self._secrets().get(name)

    def __getattr__(self, attr: str) -> Any:  # e.g. forget(): whatever else the real one offers
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._secrets(), attr)
