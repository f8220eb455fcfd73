"""How the command line says what went wrong: one line on stderr, naming the file, the key, or the extra to
install, and a documented exit code (cli.py's docstring, docs/operations.md). No output library here: an error
must be said even when the `cli` extra (rich) is what is missing."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from .ports import PeoplesyncError
from .redact import scrub

EXIT_OK, EXIT_ERROR, EXIT_HELD, EXIT_READ_FAILED, EXIT_DEAD_LETTERED = 0, 1, 2, 3, 4

# module -> the extra that installs it (pyproject.toml's optional-dependencies)
EXTRAS = {"boto3": "aws", "botocore": "aws", "aws_lambda_powertools": "aws", "ldap3": "connectors",
          "requests": "connectors", "sqlalchemy": "connectors", "psycopg": "connectors", "scim2_models": "scim",
          "scim2_server": "scim", "rich": "cli"}


class CliError(Exception):
    """A problem the user can fix, said in one line (exit 1)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit 2 would read as "held"
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def error_line(exc: BaseException) -> str:
    """What went wrong, in one line, naming the file, the key or the extra to install."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        extra = EXTRAS.get(top)
        if extra:
            return (f"this command needs the optional package {top!r}: "
                    f"pip install 'peoplesync[{extra}]' (or peoplesync[dev] for everything)")
        return f"a module is missing: {exc.name}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, CliError | PeoplesyncError):
        return scrub(" ".join(str(exc).split()))
    return scrub(f"unexpected error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                 f"(PEOPLESYNC_DEBUG=1 shows where)")
