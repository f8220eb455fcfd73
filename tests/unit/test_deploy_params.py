"""The configuration is the one source of a deployment's schedules: `peoplesync deploy-params` turns each polled
system's `schedule:` into PollSchedules, the writable systems into DeliverTargets, the SCIM system's token secret
into ScimTokenSecretName; a polled system without a schedule, or one the parameter cannot carry, is an error
naming it."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest

from peoplesync import bootstrap
from peoplesync.cli import main
from peoplesync.deploy_params import parameters, update_samconfig

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
systems:
  ad:    {connector: memory, schedule: rate(5 minutes)}
  hr:    {connector: memory, writable: false, schedule: "cron(0 6 * * ? *)"}
  idp:   {connector: scim, tokens: "secret:acme/scim"}
fields:
  title: {source: hr, map: {hr: title, ad: title}}
"""


def plan(text: str = CONFIG):
    return bootstrap.compile_config(bootstrap.load_config(text))


def test_schedules_targets_and_the_token_secret_come_from_the_configuration() -> None:
    params, problems = parameters(plan())
    assert problems == []
    assert params == {"PollSchedules": "ad=rate(5 minutes),hr=cron(0 6 * * ? *)", "DeliverTargets": "ad",
                      "ScimTokenSecretName": "acme/scim"}


def test_the_words_go_to_sam_deploy_as_they_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    assert main(["deploy-params", str(tmp_path / "c.yaml")]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words == ["PollSchedules=ad=rate(5 minutes),hr=cron(0 6 * * ? *)", "DeliverTargets=ad",
                     "ScimTokenSecretName=acme/scim"]


@pytest.mark.parametrize(("schedule", "reason"), [(None, "needs a schedule"), ('"cron(0 8,17 * * ? *)"', "comma")])
def test_a_polled_system_the_stack_could_not_schedule_is_an_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], schedule: str | None, reason: str) -> None:
    text = CONFIG.replace("schedule: rate(5 minutes)", f"schedule: {schedule}" if schedule else "")
    (tmp_path / "c.yaml").write_text(text.replace(", }", "}"))
    assert main(["deploy-params", str(tmp_path / "c.yaml")]) == 1
    err = capsys.readouterr().err
    assert "systems.ad.schedule" in err and reason in err


def test_samconfig_is_rewritten_and_keeps_the_hand_set_parameters(tmp_path: Path) -> None:
    sam = tmp_path / "samconfig.toml"
    sam.write_text('version = 0.1\n[default.deploy.parameters]\nconfirm_changeset = true\nparameter_overrides = [\n'
                   '  "PollSchedules=demo=rate(15 minutes)",\n  "SecretPrefix=acme/",\n]\n')
    update_samconfig(sam, parameters(plan())[0], "c.yaml")
    deploy = tomllib.loads(sam.read_text())["default"]["deploy"]["parameters"]
    assert deploy["confirm_changeset"] is True
    assert deploy["parameter_overrides"] == ["PollSchedules=ad=rate(5 minutes),hr=cron(0 6 * * ? *)",
                                             "DeliverTargets=ad", "ScimTokenSecretName=acme/scim",
                                             "SecretPrefix=acme/"]


def test_the_shipped_samconfig_is_generated_from_the_shipped_configuration() -> None:
    """samconfig.toml polls systems that exist: its generated lines are what deploy-params makes of
    examples/aws/peoplesync.yaml today."""
    deploy = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["deploy"]["parameters"]
    given = dict(e.split("=", 1) for e in deploy["parameter_overrides"])
    expected, problems = parameters(plan((ROOT / "examples" / "aws" / "peoplesync.yaml").read_text()))
    assert problems == [] and {k: given[k] for k in expected} == expected
    systems = bootstrap.load_config(ROOT / "examples" / "aws" / "peoplesync.yaml").systems
    assert {e.split("=")[0] for e in given["PollSchedules"].split(",")} <= set(systems)
