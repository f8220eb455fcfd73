"""The functions' Tracer: powertools' own when TraceAwsCalls is on, else decorators that change nothing (the
X-Ray SDK's import is a cold-start cost a deployment chooses to pay)."""

from __future__ import annotations

import pytest

from peoplesync import bootstrap


def test_given_tracing_off_then_the_handler_is_returned_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PEOPLESYNC_TRACE_AWS_CALLS", raising=False)

    def handler(event: dict, context: object) -> dict:
        return {"echo": event}

    tracer = bootstrap.tracer("peoplesync-test")
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler


def test_given_tracing_on_then_it_is_powertools_tracer_patching_only_botocore(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools import Tracer

    monkeypatch.setenv("PEOPLESYNC_TRACE_AWS_CALLS", "true")
    tracer = bootstrap.tracer("peoplesync-test")
    assert isinstance(tracer, Tracer)

    @tracer.capture_lambda_handler
    def handler(event: dict, context: object) -> dict:
        return {"echo": event}

    assert handler({"a": 1}, None) == {"echo": {"a": 1}}  # outside Lambda the tracer is disabled, not broken
