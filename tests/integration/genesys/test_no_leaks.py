"""Nothing leaks (issue 11, item 6): a target that echoes the request in its error bodies (the Genesys stand-in
with `echo_errors`) must leave no bearer token, no `Basic base64(id:secret)` and no secret in the poll and
deliver reports, the raised errors, the dead letters or the captured logs."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from peoplesync import bootstrap, redact
from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.service.queues import dead_letters
from peoplesync_dev.memory import MemoryConnector
from peoplesync_dev.standins.genesys import GenesysStandin, start_standin

CLIENT_ID, CLIENT_SECRET = "leaky-bridge", "do-not-show-this-secret"


@pytest.fixture
def echoing() -> Iterator[tuple[str, GenesysStandin]]:
    reset_caches()
    redact.forget_all()
    base_url, server = start_standin(clients={CLIENT_ID: CLIENT_SECRET}, echo_errors=True)
    try:
        yield base_url, server.standin
    finally:
        server.stop()
        reset_caches()


def bridge(base_url: str, secret: str = CLIENT_SECRET) -> tuple[bootstrap.LocalBridge, MemoryStore, Any]:
    plan = compile_config(load_config({
        "systems": {"hr": {"connector": "memory", "writable": False},
                    "cloud": {"connector": "genesys_cloud", "base_url": base_url, "credentials": "secret:genesys"}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "cloud": "employerInfo.employeeId"}},
                   "email.work": {"source": "hr", "map": {"hr": "Work_Email", "cloud": "email"}},
                   "title": {"source": "hr", "map": {"hr": "Title", "cloud": "title"}}},
        "match": ["employee_id", "email.work"], "lifecycle": {"source": "hr"},
        "policies": {"max_changes_per_run": None}}))
    hr = MemoryConnector("hr", system_attributes(plan, "hr"), writable=False)
    secrets = LocalSecrets(environ={"PEOPLESYNC_SECRET_GENESYS": json.dumps({"client_id": CLIENT_ID,
                                                                            "client_secret": secret})})
    store = MemoryStore()
    return bootstrap.local(plan, store=store, connectors={"hr": hr}, secrets=secrets, sleep=lambda s: None), store, hr


def shown(report: Any, store: MemoryStore, caplog: pytest.LogCaptureFixture, *more: str) -> str:
    """Everything an operator would see: the report, the dead letters, the log records (formatted)."""
    fmt = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join([json.dumps(dataclasses.asdict(report), default=str),
                      json.dumps(dead_letters(store), default=str),
                      *(fmt.format(r) for r in caplog.records), *more])


def assert_nothing_secret(text: str, standin: GenesysStandin, secret: str = CLIENT_SECRET) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    assert basic not in text
    assert secret not in text
    for token in list(standin.tokens):
        assert token not in text
    assert "Bearer " + "***" in text or "Basic ***" in text or "Authorization': '***" in text  # the echo arrived


def test_an_echoed_read_error_shows_no_bearer_token(echoing: tuple[str, GenesysStandin],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    base_url, standin = echoing
    standin.add_user("Ada", "ada@corp.example", employerInfo={"employeeId": "E1"})
    run, store, _ = bridge(base_url)
    standin.fail_next(1, 400, "GET")
    with caplog.at_level(logging.DEBUG):
        report = run.sync()
    assert "Bearer ***" in report.read_failures["cloud"]  # the echo arrived, scrubbed
    assert_nothing_secret(shown(report, store, caplog), standin)


def test_an_echoed_write_error_shows_no_bearer_token_in_the_dead_letter(echoing: tuple[str, GenesysStandin],
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    base_url, standin = echoing
    standin.add_user("Ada", "ada@corp.example", title="Countess", employerInfo={"employeeId": "E1"})
    run, store, hr = bridge(base_url)
    hr.put("W1", Employee_ID="E1", Work_Email="ada@corp.example", Title="Countess")
    run.sync()
    hr.set("W1", Title="Chief Scientist")
    standin.fail_next(2, 403, "PATCH")  # the batch, then the record alone
    with caplog.at_level(logging.DEBUG):
        report = run.sync()
    letters = dead_letters(store)
    assert letters and "Bearer ***" in letters[0]["reason"]  # the echo arrived, scrubbed
    assert_nothing_secret(shown(report, store, caplog), standin)


def test_a_refused_client_secret_is_not_shown_even_when_echoed_as_basic(echoing: tuple[str, GenesysStandin],
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    base_url, standin = echoing
    wrong = "a-wrong-but-real-looking-secret"
    run, store, _ = bridge(base_url, secret=wrong)
    with caplog.at_level(logging.DEBUG):
        report = run.sync()
    assert "refused a token" in report.read_failures["cloud"]
    assert_nothing_secret(shown(report, store, caplog), standin, secret=wrong)


def test_the_connector_error_itself_is_scrubbed(echoing: tuple[str, GenesysStandin]) -> None:
    from peoplesync.connectors.genesys import GenesysConnector, Settings
    from peoplesync.ports import ReadFailed

    base_url, standin = echoing
    connector = GenesysConnector("cloud", Settings(base_url=base_url), ["email"],
                                 credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    standin.fail_next(1, 400, "GET")
    with pytest.raises(ReadFailed) as failed:
        connector.read()
    assert_nothing_secret(str(failed.value), standin)
