"""A newcomer's first hour, each stumble of issue 15 checked as they would meet it: the README's and the
configuration page's examples validate as written, `fields:` may be left out, the SCIM system's tokens are part
of its configuration (required, a secret reference) and are what `peoplesync serve` accepts, and `serve --help`
says what it does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.cli import main

ROOT = Path(__file__).resolve().parents[2]


def first_yaml_block(doc: Path, containing: str) -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    return next(b for b in blocks if containing in b)


@pytest.mark.parametrize("doc", ["README.md", "docs/configuration.md"])
def test_the_documented_configuration_validates_and_its_scim_system_names_its_tokens(doc: str) -> None:
    config = bootstrap.load_config(first_yaml_block(ROOT / doc, "connector: scim"))  # connector settings too
    idp = next(s for s in config.systems.values() if s.connector == "scim")
    assert idp.settings["tokens"].startswith("secret:")


def test_fields_may_be_left_out() -> None:
    config = bootstrap.load_config({"systems": {"hr": {"connector": "memory"}}})
    assert config.fields == {}


@pytest.mark.parametrize(("idp", "problem"), [({}, "Field required"), ({"tokens": "hunter2"}, "pattern")])
def test_a_scim_system_without_a_token_secret_is_a_configuration_error(idp: dict[str, str], problem: str) -> None:
    with pytest.raises(bootstrap.ConfigError) as caught:
        bootstrap.load_config({"systems": {"idp": {"connector": "scim", **idp}}})
    assert [p for p, _ in caught.value.problems] == ["systems.idp.tokens"]
    assert problem in caught.value.problems[0][1]


def _world(tmp_path: Path, secrets: dict[str, object]) -> Path:
    (tmp_path / "peoplesync.yaml").write_text(
        'systems:\n  idp: {connector: scim, tokens: "secret:scim-tokens"}\n  ad: {connector: memory}\n'
        "fields:\n  title: {source: idp, map: {idp: title, ad: title}}\n")
    (tmp_path / "secrets.json").write_text(json.dumps(secrets))
    return tmp_path / "peoplesync.yaml"


def test_serve_accepts_the_tokens_of_the_configured_secret(tmp_path: Path) -> None:
    config = _world(tmp_path, {"scim-tokens": {"tokens": ["current-token", "next-token"]}})
    plan = bootstrap.compile_config(bootstrap.load_config(config))
    assert bootstrap.scim_tokens(plan, LocalSecrets(tmp_path / "secrets.json", environ={})) == [
        "current-token", "next-token"]
    handler, base, _ = bootstrap.scim_local(bootstrap.local(plan), ["current-token"])
    ask = {"rawPath": f"{base}/Users", "requestContext": {"http": {"method": "GET"}}, "headers": {}}
    assert handler(dict(ask, headers={"authorization": "Bearer current-token"}), None)["statusCode"] == 200
    assert handler(dict(ask, headers={"authorization": "Bearer guessed"}), None)["statusCode"] == 401


def test_serve_without_its_secret_stops_with_one_line_naming_it(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = _world(tmp_path, {"something-else": {"tokens": ["x"]}})
    assert main(["serve", str(config), "--port", "1"]) == 1  # an error, and it never listens
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scim-tokens" in err[0] and "not found" in err[0]


def test_serve_help_says_where_the_tokens_come_from(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "tokens: secret:<name>" in text and "secrets.json" in text and "--port" in text
