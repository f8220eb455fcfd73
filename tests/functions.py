"""The Lambda functions as the tests load them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_function(name: str, *, prefix: str = "peoplesync_fn_") -> Any:
    """functions/<name>/app.py imported as the Lambda runtime would (its own module, not a package), once per
    `prefix`: a suite that wants its own copy of the module-level state passes a prefix of its own."""
    module_name = f"{prefix}{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
