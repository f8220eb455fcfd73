"""The layer's Makefile (what `sam build` runs): the package is copied and every module precompiled so that a
cold start never compiles. Run here with an empty requirements list, so it needs no network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "peoplesync"


def test_given_the_layer_makefile_when_built_then_every_module_ships_bytecode_used_without_checking_the_source(
        tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    source = tmp_path / "src"
    shutil.copytree(LAYER, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (source / "requirements.txt").write_text("")
    artifacts = tmp_path / "artifacts"

    subprocess.run(["make", "--no-print-directory", "build-PeoplesyncLayer", f"ARTIFACTS_DIR={artifacts}",
                    f"PYTHON={sys.executable}"], cwd=source, check=True, capture_output=True, timeout=300,
                   env={**os.environ, "PIP_NO_INDEX": "1"})

    package = artifacts / "python" / "peoplesync"
    modules = sorted(p for p in package.rglob("*.py"))
    assert (package / "adapters" / "dynamodb.py") in modules
    tag = sys.implementation.cache_tag
    for module in modules:
        compiled = module.parent / "__pycache__" / f"{module.stem}.{tag}.pyc"
        assert compiled.is_file(), f"{module} has no bytecode"
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{compiled}: hash-based and unchecked expected, got flags {flags}"
    assert not list((artifacts / "python").glob("*.egg-info"))
    # the developer tools (stand-ins, demo, the tests' connectors) live in tools/peoplesync_dev, never in the layer
    assert not (artifacts / "python" / "peoplesync_dev").exists()
    assert not (package / "standins").exists() and not (package / "demo.py").exists()
    assert not (package / "connectors" / "memory.py").exists()
