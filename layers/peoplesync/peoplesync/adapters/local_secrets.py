"""Secrets for a local run: a JSON file beside the configuration, or environment variables.

`secrets.json` holds {"<name>": {...}, ...}; the environment variable PEOPLESYNC_SECRET_<NAME> (the name
upper-cased, other characters as `_`) holding JSON overrides the file. Keep the file out of version control.
Every value handed out is registered with `peoplesync.redact` (masked in error texts and log records). Errors
name the file and the problem, never its contents.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .. import redact
from ..ports import PermanentError


def variable(name: str) -> str:
    """The environment variable that holds secret `name` locally (overriding the file)."""
    return "PEOPLESYNC_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name.removeprefix("secret:")).upper()


class LocalSecrets:
    def __init__(self, path: str | Path | None = None, environ: dict[str, str] | None = None) -> None:
        self.path = Path(path) if path else None
        self.environ = os.environ if environ is None else environ

    def get(self, name: str) -> dict[str, Any]:
        value = self._get(name.removeprefix("secret:"))
        redact.register_secret(value)
        return value

    def _get(self, name: str) -> dict[str, Any]:
        var = variable(name)
        if var in self.environ:
            try:
                value = json.loads(self.environ[var])
            except json.JSONDecodeError:
                raise PermanentError(f"{var} is not JSON") from None
            return dict(value) if isinstance(value, dict) else {"value": value}
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:  # the position only: the message would quote the file
                raise PermanentError(f"{self.path} is not JSON (line {exc.lineno}, column {exc.colno})") from None
            if isinstance(data, dict) and isinstance(data.get(name), dict):
                return dict(data[name])
            if isinstance(data, dict) and name in data:
                raise PermanentError(f"secret {name!r} in {self.path} is not a JSON object")
        where = f"{self.path} or " if self.path else ""
        raise PermanentError(f"secret {name!r} not found (looked in {where}${var})")
