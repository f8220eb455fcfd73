"""`peoplesync validate`: what a run would trip on, found before it runs. Beyond the configuration's shape and
meaning (`config.load_config`, `config_checks`) and each connector's own keys:

- problems (exit 1): `writable: true` on a system its connector cannot write (`config_checks.plan_problems`);
  for a local run, a secret a system names that the local secrets (`secrets.json` beside the configuration, or
  `PEOPLESYNC_SECRET_<NAME>`) do not hold, or a key its connector needs that the secret lacks, naming the
  system, the secret and the key (never a value);
- warnings (printed, exit 0): writes the configuration asks for that a system cannot take, which the plan
  leaves out (`config_checks.plan_warnings`).

The secrets are looked at only when the local run would use them: a `secrets.json` beside the configuration,
or the variable of that secret set. A configuration for AWS (secrets in Secrets Manager) is not checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import Config, ConfigError, Plan, SettingsCheck, compile_config, load_config
from .config_checks import Problems, plan_problems, plan_warnings
from .ports import Connector, PeoplesyncError

__all__ = ["check_file", "secret_problems"]


def secret_problems(config: Config, secrets_file: Path, connector_class: Callable[[str], type[Connector]]
                    ) -> Problems:
    from .adapters.local_secrets import LocalSecrets, variable

    secrets = LocalSecrets(secrets_file)
    present = secrets_file.is_file()
    out: Problems = []
    for name, system in config.systems.items():
        cls = connector_class(system.connector)
        named = {"credentials": system.credentials,
                 **{k: system.settings.get(k) for k in getattr(cls, "secret_settings", ())}}
        for at, ref in named.items():
            if not isinstance(ref, str) or not ref:
                continue
            secret = ref.removeprefix("secret:")
            if not present and variable(secret) not in secrets.environ:
                continue  # not a local secret: Secrets Manager's, in AWS
            try:
                held = secrets.get(secret)
            except PeoplesyncError as exc:
                out.append((f"systems.{name}.{at}", str(exc)))
                continue
            missing: list[str] = getattr(cls, "missing_credentials", lambda s, k: [])(held, at)
            where = f"${variable(secret)}" if variable(secret) in secrets.environ else str(secrets_file)
            out += [(f"systems.{name}.{at}", f"secret {secret!r} (in {where}) has no key {key!r}, which "
                     f"{system.connector} needs") for key in missing]
    return out


def check_file(path: Path, settings_problems: SettingsCheck, connector_class: Callable[[str], type[Connector]]
               ) -> tuple[Plan, Problems]:
    """(the plan, warnings) of the configuration at `path`; a ConfigError with every problem."""
    config = load_config(path, settings_problems=settings_problems)
    plan = compile_config(config, connector_class=connector_class)
    problems = plan_problems(plan) + secret_problems(config, path.parent / "secrets.json", connector_class)
    if problems:
        raise ConfigError(problems)
    return plan, plan_warnings(plan)
