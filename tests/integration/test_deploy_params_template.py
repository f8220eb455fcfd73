"""The template takes its schedules and targets from the configuration: no default of its own to drift (a
default that polled a system named `demo` did), and the parameters `peoplesync deploy-params` generates lint."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cfnlint.decode import decode

from peoplesync import bootstrap
from peoplesync.deploy_params import parameters

from .test_template import TEMPLATE, cfn_lint, tool_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_template_has_no_schedules_or_targets_of_its_own() -> None:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems
    for name in ("PollSchedules", "DeliverTargets"):
        assert "Default" not in loaded["Parameters"][name], name
        assert "deploy-params" in loaded["Parameters"][name]["Description"]


def test_the_generated_parameters_lint() -> None:
    plan = bootstrap.compile_config(bootstrap.load_config(ROOT / "examples" / "aws" / "peoplesync.yaml"))
    params, problems = parameters(plan)
    assert problems == []
    result = subprocess.run([*cfn_lint(), str(TEMPLATE), "--parameters", *(f"{k}={v}" for k, v in params.items())],
                            capture_output=True, text=True, timeout=120, env=tool_env(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
