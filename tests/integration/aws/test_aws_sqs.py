"""SqsQueue batching and retries, and the dead-letter tools, against moto's SQS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from peoplesync.adapters.sqs import SqsQueue, list_dead_letters, replay_dead_letters
from peoplesync.ports import PermanentError, TransientError
from tests.integration.aws.aws_helpers import count_calls


def make_queue(sqs: Any, name: str, dlq_url: str | None = None, max_receives: int = 1) -> str:
    attributes = {}
    if dlq_url:
        arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class FlakySqs:
    """The real (moto) client, except that SendMessageBatch fails the entries named in `fail` for the first
    `times` calls, as SQS does under load (SenderFault false), sending only the others."""

    def __init__(self, real: Any, fail: set[str], times: int, sender_fault: bool = False) -> None:
        self.real, self.fail, self.times, self.sender_fault = real, fail, times, sender_fault
        self.batches: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append([e["Id"] for e in Entries])
        failing = [e for e in Entries if self.times > 0 and e["Id"] in self.fail]
        self.times -= 1
        passing = [e for e in Entries if e not in failing]
        answer = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=passing) if passing else {}
        answer["Failed"] = [{"Id": e["Id"], "SenderFault": self.sender_fault, "Code": "InternalError",
                             "Message": "try again"} for e in failing]
        return answer


def test_given_25_messages_when_sent_then_three_batches_carry_them_all(sqs):
    url = make_queue(sqs, "reconcile")
    calls = count_calls(sqs)

    ids = SqsQueue(url, sqs).send([{"person": i, "name": "Zoë"} for i in range(25)])

    assert calls["SendMessageBatch"] == 3
    assert len(set(ids)) == 25
    bodies = sorted(json.loads(m["Body"])["person"] for m in drain(sqs, url))
    assert bodies == list(range(25))


def test_given_messages_whose_sum_passes_256_kib_then_batches_are_split_by_size(sqs):
    url = make_queue(sqs, "deliver-ad")
    calls = count_calls(sqs)

    SqsQueue(url, sqs).send([{"blob": "x" * 100_000, "n": i} for i in range(5)])

    assert calls["SendMessageBatch"] == 3  # 2 + 2 + 1: three 100 kB messages pass 256 KiB
    assert len(drain(sqs, url)) == 5


def test_given_one_message_too_large_then_it_is_refused_and_nothing_is_sent(sqs):
    url = make_queue(sqs, "deliver-ad")

    with pytest.raises(PermanentError, match="too large, none sent"):
        SqsQueue(url, sqs).send([{"n": 1}, {"blob": "x" * 300_000}])

    assert drain(sqs, url) == []


def test_given_entries_sqs_fails_once_when_sent_then_they_are_retried_and_each_arrives_once(sqs):
    url = make_queue(sqs, "reconcile")
    flaky = FlakySqs(sqs, fail={"1", "7"}, times=1)
    sleeps: list[float] = []

    SqsQueue(url, flaky, sleep=sleeps.append).send([{"n": i} for i in range(10)])

    assert flaky.batches == [[str(i) for i in range(10)], ["1", "7"]]
    assert len(sleeps) == 1
    assert sorted(json.loads(m["Body"])["n"] for m in drain(sqs, url)) == list(range(10))


def test_given_entries_that_keep_failing_then_the_send_raises_naming_them_and_drops_nothing_silently(sqs):
    url = make_queue(sqs, "reconcile")
    flaky = FlakySqs(sqs, fail={"3"}, times=99)

    with pytest.raises(TransientError, match="did not take 1 of 10"):
        SqsQueue(url, flaky, max_attempts=3, sleep=lambda _: None).send([{"n": i} for i in range(10)])

    assert len(flaky.batches) == 3
    assert sorted(json.loads(m["Body"])["n"] for m in drain(sqs, url)) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_given_an_entry_sqs_refuses_as_malformed_then_it_is_not_retried(sqs):
    url = make_queue(sqs, "reconcile")
    flaky = FlakySqs(sqs, fail={"0"}, times=99, sender_fault=True)

    with pytest.raises(PermanentError, match="refused 1"):
        SqsQueue(url, flaky, sleep=lambda _: None).send([{"n": 0}])

    assert len(flaky.batches) == 1


def test_given_a_delay_and_attributes_then_every_message_carries_them(sqs):
    url = make_queue(sqs, "deliver-cloud")

    SqsQueue(url, sqs).send([{"n": 1}], attributes={"system": "cloud"})

    [message] = drain(sqs, url)
    assert message["MessageAttributes"]["system"]["StringValue"] == "cloud"


# --- dead letters -----------------------------------------------------------------------------------------
def poison(sqs: Any, url: str, count: int) -> None:
    """Let `count` messages fail once each, so the redrive policy moves them to the dead-letter queue."""
    for _ in range(count + 2):
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)


def test_given_messages_moved_by_the_redrive_policy_then_listing_shows_them_and_leaves_them_there(sqs):
    dlq = make_queue(sqs, "dlq-reconcile")
    main = make_queue(sqs, "reconcile", dlq_url=dlq)
    SqsQueue(main, sqs).send([{"person": "p1"}, {"person": "p2"}], attributes={"trace": "abc"})
    poison(sqs, main, 2)

    first = list_dead_letters(dlq, client=sqs, wait_seconds=0)
    second = list_dead_letters(dlq, client=sqs, wait_seconds=0)

    assert sorted(d["body"]["person"] for d in first) == ["p1", "p2"]
    assert {d["id"] for d in first} == {d["id"] for d in second}
    assert all(d["reason"] is None and d["attributes"] == {"trace": "abc"} for d in first)
    assert all(d["receive_count"] >= 1 and d["sent_at"] > 0 for d in first)


def test_given_a_message_dead_lettered_with_a_reason_then_the_listing_shows_the_reason(sqs):
    dlq = make_queue(sqs, "dlq-deliver-ad")
    SqsQueue(dlq, sqs).send([{"op": "update"}], attributes={"reason": "PermanentError: no such attribute"})

    [letter] = list_dead_letters(dlq, client=sqs, wait_seconds=0)

    assert letter["reason"] == "PermanentError: no such attribute"
    assert letter["body"] == {"op": "update"}


def test_given_more_dead_letters_than_asked_for_then_listing_stops_at_max(sqs):
    dlq = make_queue(sqs, "dlq-reconcile")
    SqsQueue(dlq, sqs).send([{"n": i} for i in range(15)])

    assert len(list_dead_letters(dlq, max=12, client=sqs, wait_seconds=0)) == 12
    assert len(list_dead_letters(dlq, max=100, client=sqs, wait_seconds=0)) == 15


def test_given_chosen_dead_letters_when_replayed_then_only_those_go_back_and_leave_the_dead_letter_queue(sqs):
    dlq = make_queue(sqs, "dlq-deliver-cloud")
    main = make_queue(sqs, "deliver-cloud", dlq_url=dlq)
    SqsQueue(dlq, sqs).send([{"n": i} for i in range(4)], attributes={"reason": "429 after 5 tries",
                                                                       "trace": "t1"})
    letters = {d["body"]["n"]: d["id"] for d in list_dead_letters(dlq, client=sqs, wait_seconds=0)}

    replayed = replay_dead_letters(dlq, main, ids=[letters[1], letters[3]], client=sqs, wait_seconds=0)

    assert sorted(replayed) == sorted([letters[1], letters[3]])
    back = drain(sqs, main)
    assert sorted(json.loads(m["Body"])["n"] for m in back) == [1, 3]
    assert all(set(m["MessageAttributes"]) == {"trace"} for m in back)  # the reason stays behind
    assert sorted(d["body"]["n"] for d in list_dead_letters(dlq, client=sqs, wait_seconds=0)) == [0, 2]


def test_given_dead_letters_when_all_are_replayed_then_the_dead_letter_queue_is_empty(sqs):
    dlq = make_queue(sqs, "dlq-reconcile")
    main = make_queue(sqs, "reconcile", dlq_url=dlq)
    SqsQueue(dlq, sqs).send([{"n": i} for i in range(23)])

    replayed = replay_dead_letters(dlq, main, client=sqs, wait_seconds=0)

    assert len(replayed) == 23
    assert list_dead_letters(dlq, client=sqs, wait_seconds=0) == []
    assert len(drain(sqs, main)) == 23
