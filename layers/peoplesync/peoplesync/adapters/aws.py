"""The functions' AWS environment: settings checked once per cold start, and the adapters built from them.

Environment variables (template.yaml sets them on every function; see docs/deploy.md):

| variable                              | meaning                                                    | default    |
|---------------------------------------|------------------------------------------------------------|------------|
| `PEOPLESYNC_TABLE`                    | DynamoDB table of the state store                          | (required) |
| `PEOPLESYNC_CONFIG_PARAMETER`         | SSM parameter holding the configuration (YAML or JSON)     | (required) |
| `PEOPLESYNC_CONFIG_CACHE_SECONDS`     | how long a warm function reuses the configuration          | 300        |
| `PEOPLESYNC_SECRET_PREFIX`            | Secrets Manager name prefix the functions may read         | ""         |
| `PEOPLESYNC_SECRET_CACHE_SECONDS`     | how long a fetched secret is reused                        | 300        |
| `PEOPLESYNC_DECISION_TTL_DAYS`        | days the decision trail is kept                            | 90         |
| `PEOPLESYNC_RECONCILE_QUEUE_URL`      | the reconcile queue                                        | none       |
| `PEOPLESYNC_RECONCILE_DLQ_URL`        | its dead-letter queue                                      | none       |
| `PEOPLESYNC_DELIVER_QUEUE_URL_PREFIX` | a target's delivery queue URL is this plus its name        | none       |
| `PEOPLESYNC_DELIVER_DLQ_URL_PREFIX`   | a target's delivery dead-letter queue URL, likewise        | none       |
| `PEOPLESYNC_DELIVER_TARGETS`          | comma-separated systems that have a delivery queue         | none       |
| `PEOPLESYNC_TRACE_AWS_CALLS`          | X-Ray subsegments for AWS calls (powertools Tracer)        | false      |
| `PEOPLESYNC_MAX_RECEIVE_COUNT`        | the queues' redrive count (park with a reason before it)   | none       |
| `PEOPLESYNC_SNAPSHOT_BUCKET`          | the full sweep's snapshot bucket (sweep functions only)    | none       |

Queue names for `make_queue` / `queue_url`: `"reconcile"` or `"deliver:<system>"`; `dlq=True` for the
dead-letter side. Clients, settings and the configuration live at module level, so a warm Lambda reuses them;
boto3 is imported on first use only.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..config import ConfigError, Plan, compile_config, yaml_problem
from ..ports import TransientError

if TYPE_CHECKING:
    from ..config_models import Config
    from .dynamodb import DynamoStore
    from .secretsmanager import SecretsManagerSecrets
    from .sqs import SqsQueue


class SettingsError(ValueError):
    """The function's environment is incomplete or wrong; each problem names its variable."""


def _number(low: float, *, above: bool = False, kind: type = float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"must be {'a whole number' if kind is int else 'a number'}, not {text!r}") from None
        if value < low or (above and value == low):
            raise ValueError(f"must be {'greater than' if above else 'at least'} {low:g}")
        return value
    return parse


def _queue_url(text: str) -> str | None:
    if text and not text.startswith(("https://", "http://")):
        raise ValueError("must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
    return text or None


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("1", "true", "t", "yes", "y", "on", "0", "false", "f", "no", "n", "off"):
        raise ValueError(f"must be true or false, not {text!r}")
    return value in ("1", "true", "t", "yes", "y", "on")


def _name(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _table(text: str) -> str:
    if not 3 <= len(text) <= 255:
        raise ValueError("must be a DynamoDB table name of 3 to 255 characters")
    return text


# attribute -> (variable, parse, default; REQUIRED: no default). Plain code rather than a pydantic model: pydantic
# is ~110 ms of import and ~20 ms per model at a cold start, for a dozen strings (docs/performance.md).
REQUIRED: Any = object()
_FIELDS: dict[str, tuple[str, Callable[[str], Any], Any]] = {
    "table": ("PEOPLESYNC_TABLE", _table, REQUIRED),
    "config_parameter": ("PEOPLESYNC_CONFIG_PARAMETER", _name, REQUIRED),
    "config_cache_seconds": ("PEOPLESYNC_CONFIG_CACHE_SECONDS", _number(0), 300.0),
    "secret_prefix": ("PEOPLESYNC_SECRET_PREFIX", str, ""),
    "secret_cache_seconds": ("PEOPLESYNC_SECRET_CACHE_SECONDS", _number(0), 300.0),
    "decision_ttl_days": ("PEOPLESYNC_DECISION_TTL_DAYS", _number(0, above=True), 90.0),
    "reconcile_queue_url": ("PEOPLESYNC_RECONCILE_QUEUE_URL", _queue_url, None),
    "reconcile_dlq_url": ("PEOPLESYNC_RECONCILE_DLQ_URL", _queue_url, None),
    "deliver_queue_url_prefix": ("PEOPLESYNC_DELIVER_QUEUE_URL_PREFIX", _queue_url, None),
    "deliver_dlq_url_prefix": ("PEOPLESYNC_DELIVER_DLQ_URL_PREFIX", _queue_url, None),
    "deliver_targets": ("PEOPLESYNC_DELIVER_TARGETS", lambda v: tuple(t.strip() for t in v.split(",") if t.strip()),
                        ()),
    # read by `bootstrap.tracer` when a function's module loads (before these settings are); listed so the
    # template's environment stays checked
    "trace_aws_calls": ("PEOPLESYNC_TRACE_AWS_CALLS", _flag, False),
    "max_receive_count": ("PEOPLESYNC_MAX_RECEIVE_COUNT", _number(1, kind=int), None),
    "snapshot_bucket": ("PEOPLESYNC_SNAPSHOT_BUCKET", lambda v: v or None, None),
}


@dataclass(frozen=True)
class AwsSettings:
    table: str
    config_parameter: str
    config_cache_seconds: float = 300.0
    secret_prefix: str = ""
    secret_cache_seconds: float = 300.0
    decision_ttl_days: float = 90.0
    reconcile_queue_url: str | None = None
    reconcile_dlq_url: str | None = None
    deliver_queue_url_prefix: str | None = None
    deliver_dlq_url_prefix: str | None = None
    deliver_targets: tuple[str, ...] = ()
    trace_aws_calls: bool = False
    max_receive_count: int | None = None
    snapshot_bucket: str | None = None

    @staticmethod
    def variables() -> dict[str, bool]:
        """Every variable read: name -> required."""
        return {var: default is REQUIRED for var, _, default in _FIELDS.values()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems = []
        for attr, (var, parse, default) in _FIELDS.items():
            text = env.get(var)
            if text is None:
                if default is REQUIRED:
                    problems.append(f"{var}: required")
                continue
            try:
                values[attr] = parse(text)
            except ValueError as exc:
                problems.append(f"{var}: {exc}")
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**values)

    def queue_url(self, name: str, *, dlq: bool = False) -> str:
        """URL of "reconcile" or "deliver:<system>" (dlq=True: its dead-letter queue)."""
        if name == "reconcile":
            url = self.reconcile_dlq_url if dlq else self.reconcile_queue_url
            if not url:
                var = "PEOPLESYNC_RECONCILE_DLQ_URL" if dlq else "PEOPLESYNC_RECONCILE_QUEUE_URL"
                raise SettingsError(f"{var} is not set")
            return url
        kind, _, system = name.partition(":")
        if kind != "deliver" or not system:
            raise SettingsError(f"unknown queue {name!r}: use 'reconcile' or 'deliver:<system>'")
        prefix = self.deliver_dlq_url_prefix if dlq else self.deliver_queue_url_prefix
        if not prefix:
            raise SettingsError("PEOPLESYNC_DELIVER_DLQ_URL_PREFIX is not set" if dlq
                                else "PEOPLESYNC_DELIVER_QUEUE_URL_PREFIX is not set")
        if self.deliver_targets and system not in self.deliver_targets:
            raise SettingsError(f"system {system!r} has no delivery queue (deployed targets: "
                                f"{', '.join(self.deliver_targets)}); add it to the DeliverTargets parameter")
        return prefix + system


# --- module-level state, reused while the Lambda stays warm ------------------------------------------------
_lock = threading.Lock()
_settings: AwsSettings | None = None
_clients: dict[str, Any] = {}
_session: dict[str, Any] = {}
_secrets: SecretsManagerSecrets | None = None
_config: dict[str, Any] = {}


def settings() -> AwsSettings:
    """The environment, validated on first call (raises SettingsError naming each bad variable)."""
    global _settings
    if _settings is None:
        _settings = AwsSettings.from_env()
    return _settings


def client(service: str) -> Any:
    """One boto3 client per service for the life of the process (standard retry mode, bounded timeouts)."""
    with _lock:
        if service not in _clients:
            with collector_paused():  # botocore's import too, the first time
                from botocore.config import Config as BotoConfig

                if "session" not in _session:  # one botocore session for every client (aws_clients.py: why)
                    from .aws_clients import session

                    _session["session"] = session()
                _clients[service] = _session["session"].create_client(service, config=BotoConfig(
                    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30))
        return _clients[service]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector paused while a client or the configuration is built (as the local run's polls and
    the CSV and LDAP reads do): botocore's modules and data (the endpoint table alone is 1.2 MB of JSON) and
    the plan are a mass of new, long-lived containers that set off full collections finding no garbage (about
    15 ms of reconcile's cold start, docs/performance.md). When the collector is switched back on, what is there
    is frozen (`gc.freeze`: left out of every later collection): else the first collection after the pause
    traverses that whole mass once more, and again when it is promoted (20-45 ms of a cold start, measured). A
    cold start leaves almost no cyclic garbage to freeze with it (5 objects in the sweep function's); `reset()`
    gives the frozen objects back to the collector (tests build many "cold starts" in one process)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def reset() -> None:
    """Forget settings, clients, secrets and configuration (tests; a changed environment)."""
    global _settings, _secrets
    gc.unfreeze()
    with _lock:
        _settings, _secrets = None, None
        _clients.clear()
        _session.clear()
        _config.clear()


def make_store() -> DynamoStore:
    from .dynamodb import DynamoStore

    s = settings()
    return DynamoStore(s.table, client("dynamodb"), decision_ttl_days=s.decision_ttl_days)


def make_queue(name: str, *, dlq: bool = False) -> SqsQueue:
    """The queue "reconcile" or "deliver:<system>" (dlq=True: its dead-letter queue)."""
    from .sqs import SqsQueue

    return SqsQueue(settings().queue_url(name, dlq=dlq), client("sqs"))


def make_blobs() -> Any:
    """The full sweep's snapshot bucket (`service/sweep.py`)."""
    from .blobs import S3Blobs

    bucket = settings().snapshot_bucket
    if not bucket:
        raise SettingsError("PEOPLESYNC_SNAPSHOT_BUCKET is not set (only the sweep functions have it)")
    return S3Blobs(client("s3"), bucket)


def make_secrets() -> SecretsManagerSecrets:
    """The one secrets cache of this process (so a warm function does not fetch a secret again)."""
    global _secrets
    if _secrets is None:
        from .secretsmanager import SecretsManagerSecrets

        s = settings()
        _secrets = SecretsManagerSecrets(s.secret_prefix, client("secretsmanager"), ttl=s.secret_cache_seconds)
    return _secrets


def load_config(*, clock: Callable[[], float] = time.monotonic) -> Config:
    """The configuration from SSM, cached: asked for again only after PEOPLESYNC_CONFIG_CACHE_SECONDS, and
    parsed again only when the parameter's version changed. If SSM cannot be reached once a configuration is
    cached, the cached one is kept (and asked for again at the next call)."""
    return _load(clock)[0]


def load_plan(*, clock: Callable[[], float] = time.monotonic, connector_class: Any = None) -> Plan:
    """`compile_config(load_config())`, compiled once per configuration version (`connector_class`: the
    composition root's, for what each system can take)."""
    _load(clock)
    if connector_class is not None and _config.get("classes") is not connector_class:  # once per version
        _config.update(plan=compile_config(_config["config"], connector_class), classes=connector_class)
    return _config["plan"]


def _load(clock: Callable[[], float]) -> tuple[Config, Plan]:
    s = settings()
    now = clock()
    if _config and now - _config["at"] < s.config_cache_seconds:
        return _config["config"], _config["plan"]
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client("ssm").get_parameter(Name=s.config_parameter, WithDecryption=True)["Parameter"]
    except (ClientError, BotoCoreError) as exc:
        if _config:
            return _config["config"], _config["plan"]
        raise TransientError(f"configuration parameter {s.config_parameter!r} cannot be read: {exc}") from None
    if _config.get("version") != answer["Version"]:
        config = checked_config(answer["Value"], f"ssm:{s.config_parameter}")
        _config.update(version=answer["Version"], config=config, plan=compile_config(config), classes=None)
    _config["at"] = now
    return _config["config"], _config["plan"]


def checked_config(text: str, where: str) -> Config:
    """The configuration of `text`: rebuilt from its checked form when a function has checked this very text
    before (`config_cache.py`; no pydantic at the cold start), else checked in full by `parse_config` (a
    ConfigError names each problem's path and reason) and its checked form kept for the next cold start."""
    from . import config_cache

    table = settings().table
    pk = config_cache.key(text)
    form = config_cache.get(client("dynamodb"), table, pk) if pk else None
    if form is not None:
        from ..config_light import light_config

        return cast("Config", light_config(form["config"], form.get("settings"), form.get("connectors")))
    config = parse_config(text, where)
    if pk:
        config_cache.put(client("dynamodb"), table, pk, checked_form(config))
    return config


def checked_form(config: Config) -> dict[str, Any]:
    """What `config_cache` keeps of a configuration checked in full: its dump; the settings of its push
    systems (the SCIM webhook's) as their connector's own `Settings` checks them, so that the webhook's cold start
    needs no pydantic either (`bootstrap/scim.py`); and likewise the settings of its systems whose connector's
    model lives apart (`connectors.CHECKED_SETTINGS`), so that building their connector needs none
    (`connectors/checked_settings.py`). Settings that do not pass are left out: the function that builds that
    connector then checks them itself and fails as before, and the functions that never read them are not
    stopped by them."""
    from .. import connectors
    from ..config_systems import PUSH_CONNECTORS
    from ..connectors.checked_settings import plain

    settings: dict[str, Any] = {}
    built: dict[str, Any] = {}
    for name, system in config.systems.items():
        if system.connector in PUSH_CONNECTORS:
            try:
                checked = connectors.connector_class(system.connector).Settings.model_validate(system.settings)
            except ValueError:  # pydantic's ValidationError
                continue
            settings[name] = checked.model_dump(mode="json")
        elif system.connector in connectors.CHECKED_SETTINGS:
            import importlib

            model = importlib.import_module(connectors.CHECKED_SETTINGS[system.connector]).Settings
            try:
                form = plain(model.model_validate(system.settings))
            except ValueError:  # pydantic's ValidationError
                continue
            if form is not None:
                built[name] = form
    return {"config": config.model_dump(mode="json"), "settings": settings, "connectors": built}


def parse_config(text: str, where: str) -> Config:
    """A configuration's text (YAML or JSON) checked by `peoplesync.config.load_config`. Connector settings
    are checked when each connector is built, so a function imports only its own connector."""
    import yaml

    from ..config import load_config as check

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([(where, yaml_problem(exc))]) from None
    if not isinstance(data, dict):
        raise ConfigError([(where, "the configuration must be a mapping")])
    return check(data)
