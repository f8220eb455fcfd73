"""The reconcile and deliver functions' SQS batches (service/sqs_batch.py): only the records that failed come back;
a batch that failed whole fails the invocation, as powertools' BatchProcessor did."""

from __future__ import annotations

import pytest

from peoplesync.service.sqs_batch import BatchFailed, SqsRecord, partial_response


def batch(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m{i}", "body": b, "attributes": {"ApproximateReceiveCount": "1"}}
                        for i, b in enumerate(bodies)]}


def handler(record: SqsRecord) -> None:
    if record.body == "bad":
        raise RuntimeError("refused")


def test_given_a_batch_with_failures_then_only_those_are_reported():
    assert partial_response(batch("ok", "bad", "ok", "bad"), handler) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}


def test_given_a_batch_that_succeeds_then_nothing_comes_back():
    seen = []

    partial_response(batch("a", "b"), lambda r: seen.append((r.message_id, r.body, r.raw_event["attributes"])))

    assert seen == [("m0", "a", {"ApproximateReceiveCount": "1"}), ("m1", "b", {"ApproximateReceiveCount": "1"})]


def test_given_every_record_failing_then_the_invocation_fails_with_each_reason():
    with pytest.raises(BatchFailed, match="2 errors: RuntimeError: refused") as failed:
        partial_response(batch("bad", "bad"), handler)

    assert len(failed.value.errors) == 2


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "x"}, None])
def test_given_an_event_that_is_no_sqs_batch_then_it_is_refused(event):
    with pytest.raises(ValueError, match="not an SQS batch"):
        partial_response(event, handler)
