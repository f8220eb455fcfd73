"""The deployment's parameters, from the configuration: the one source of schedules, targets and the SCIM token
secret's name (`peoplesync deploy-params CONFIG`, docs/deploy.md).

CloudFormation cannot read the configuration (it lives in SSM, changeable without a deploy), yet the stack must
know which systems to poll and when (`PollSchedules`: one EventBridge schedule each), which to deliver to
(`DeliverTargets`: a queue each) and which secret the webhook may read (`ScimTokenSecretName`). Rather than typing
them again, they are computed here from the configuration and handed to `sam deploy`, either as words for
`--parameter-overrides` or written into `samconfig.toml`."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from .config import ConfigError, Plan

GENERATED = ("PollSchedules", "DeliverTargets", "ScimTokenSecretName", "GenesysSystemName")


def parameters(plan: Plan) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(parameter -> value, problems as (path, reason)). A polled system needs a schedule; a schedule cannot hold
    a comma (the parameter is a comma-separated list)."""
    params: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    polls = []
    for name, system in plan.systems.items():
        if system.push:
            continue
        schedule = plan.config.systems[name].schedule
        if schedule is None:
            problems.append((f"systems.{name}.schedule", "a polled system needs a schedule to be polled once "
                                                         "deployed, e.g. rate(15 minutes)"))
        elif "," in schedule:
            problems.append((f"systems.{name}.schedule", "a deployed schedule cannot contain a comma (the "
                                                         "PollSchedules parameter is a comma-separated list)"))
        else:
            polls.append(f"{name}={schedule}")
    targets = [name for name, s in plan.systems.items() if s.writable and not s.push]
    if not targets:
        problems.append(("systems", "no writable system: a deployment needs at least one target"))
    params["PollSchedules"] = ",".join(polls)
    params["DeliverTargets"] = ",".join(targets)
    scim = [n for n, s in plan.systems.items() if s.connector == "scim"]
    if scim:
        params["ScimTokenSecretName"] = str(plan.config.systems[scim[0]].settings["tokens"]).removeprefix("secret:")
    genesys = [n for n, s in plan.systems.items() if s.connector == "genesys_cloud"]
    if len(genesys) == 1:
        params["GenesysSystemName"] = genesys[0]
    return params, problems


def as_words(params: dict[str, str]) -> str:
    """`Key=Value` words, quoted for a shell: `sam deploy --parameter-overrides <these>`."""
    return " ".join(shlex.quote(f"{k}={v}") for k, v in params.items())


_OVERRIDES = re.compile(r"^parameter_overrides\s*=\s*\[.*?^\]", re.S | re.M)


def update_samconfig(path: Path, params: dict[str, str], source: str) -> None:
    """Write the generated parameters into `[default.deploy.parameters] parameter_overrides` of a samconfig.toml,
    keeping the entries of every other parameter (ConfigParameterName, SecretPrefix, ...)."""
    text = path.read_text()
    current = tomllib.loads(text).get("default", {}).get("deploy", {}).get("parameters", {})
    kept = [e for e in current.get("parameter_overrides", []) if e.split("=", 1)[0] not in GENERATED]
    lines = [f"  # generated from {source} by `peoplesync deploy-params {source} --samconfig {path.name}`",
             *(f'  "{k}={v}",' for k, v in params.items()), "  # set by hand", *(f'  "{e}",' for e in kept)]
    block = "parameter_overrides = [\n" + "\n".join(lines) + "\n]"
    if _OVERRIDES.search(text) is None:
        raise ValueError(f"{path}: no parameter_overrides = [...] in [default.deploy.parameters]")
    path.write_text(_OVERRIDES.sub(lambda _: block, text, count=1))


def command(plan: Plan, source: str, samconfig: str | None) -> int:
    """`peoplesync deploy-params CONFIG [--samconfig FILE]`: the words on stdout, or the file rewritten. Raises
    ConfigError naming each system the stack could not schedule."""
    params, problems = parameters(plan)
    if problems:
        raise ConfigError(problems)
    if samconfig:
        update_samconfig(Path(samconfig), params, source)
        print(f"{samconfig}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    else:
        print(as_words(params))
    return 0
