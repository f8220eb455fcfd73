"""The house rules, checked on the source: who may import whom, how big a module or a function may grow, and
that the rules written once stay written once. Imports inside functions (lazy imports) count like any other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "peoplesync" / "peoplesync"
ENGINE = ["engine", "engine.py", "model.py", "config.py", "config_checks.py", "config_systems.py", "normalize.py",
          "transform.py"]
EDGE = ("peoplesync.connectors", "peoplesync.adapters", "peoplesync.service", "peoplesync.scim",
        "peoplesync.bootstrap", "boto3", "botocore", "ldap3", "requests", "sqlalchemy", "psycopg")


def modules(under: Path = LAYER) -> list[Path]:
    return sorted(p for p in (under.rglob("*.py") if under.is_dir() else [under]) if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LAYER.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, as an absolute name (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    if not path.is_relative_to(LAYER):
        package: list[str] = []
    elif path.name == "__init__.py":
        package = module_name(path).split(".")
    else:
        package = module_name(path).split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            yield name
            yield from (f"{name}.{a.name}" for a in node.names)


def offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted({f"{p.relative_to(ROOT)} imports {name}" for p in paths for name in imports(p)
                   if any(name == f or name.startswith(f + ".") for f in forbidden)})


def test_the_lambda_functions_import_only_the_composition_root() -> None:
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        ours = {n for n in imports(app) if n.startswith("peoplesync")}
        assert ours <= {"peoplesync", "peoplesync.bootstrap"}, f"{app.relative_to(ROOT)}: {sorted(ours)}"


def test_the_command_line_imports_only_the_composition_root_and_its_presentation() -> None:
    ours = {n for n in imports(LAYER / "cli.py") if n.startswith("peoplesync")}
    allowed = {"peoplesync", "peoplesync.bootstrap", "peoplesync.report", "peoplesync.report_page",
               "peoplesync.deploy_params", "peoplesync.cli_errors"}
    assert {n.rsplit(".", 1)[0] if n.rsplit(".", 1)[0] in allowed else n for n in ours} <= allowed


def test_the_engine_imports_nothing_at_the_edge() -> None:
    paths = [p for name in ENGINE if (LAYER / name).exists() for p in modules(LAYER / name)]
    assert offenders(paths, EDGE) == []


def test_the_configuration_imports_no_connector() -> None:
    assert offenders([LAYER / "config.py"], ("peoplesync.connectors",)) == []


def test_no_connector_imports_an_adapter_or_the_flow() -> None:
    assert offenders(modules(LAYER / "connectors"), ("peoplesync.adapters", "peoplesync.service")) == []


def test_nothing_of_the_stand_ins_or_the_demo_ships_in_the_layer() -> None:
    shipped = [p.relative_to(LAYER).as_posix() for p in modules()]
    assert not [p for p in shipped if p.startswith("standins/") or p == "demo.py"]
    assert offenders(modules(), ("peoplesync_dev",)) == []


def test_the_production_registry_names_only_real_connectors() -> None:
    from peoplesync.connectors import REGISTRY

    assert all(path.startswith("peoplesync.connectors.") for path in REGISTRY.values())
    assert "memory" not in REGISTRY and "ldap_memory" not in REGISTRY


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(LAYER).as_posix())
def test_a_module_is_small_enough_to_read_at_once(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 400


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(LAYER).as_posix())
def test_no_function_is_longer_than_sixty_lines(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
            and node.end_lineno - node.lineno + 1 > 60]
    assert long == []


def test_the_change_guard_and_the_vanished_rule_are_each_written_once() -> None:
    def defined(name: str) -> list[str]:
        return [p.relative_to(LAYER).as_posix() for p in modules() for node in ast.walk(ast.parse(p.read_text()))
                if isinstance(node, ast.FunctionDef) and node.name == name]

    def called(name: str) -> set[str]:
        return {p.relative_to(LAYER).as_posix() for p in modules() for node in ast.walk(ast.parse(p.read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name}

    # the report page shows the limit the guard applies: it asks the same function, never works it out again
    assert defined("change_limit") == ["service/guard.py"]
    assert called("change_limit") == {"service/guard.py", "report_page/gather.py"}
    assert defined("vanished") == ["service/poll.py"] and called("vanished") == {"service/poll.py"}
    assert called("hold") == {"service/poll.py"}  # the guard is applied in one place: the poll
