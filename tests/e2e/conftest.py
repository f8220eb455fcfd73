"""The deployed shape, run locally: the real Lambda handlers (functions/*/app.py), DynamoDB and SQS from
moto, in-memory systems as the connectors. `Cloud.sync()` is what EventBridge would do on a schedule: invoke
the poll function once per system, then let SQS feed the reconcile and deliver functions until every queue is
empty. Messages are received and deleted as Lambda's event source mapping would: a message reported as failed
stays on its queue, and after `max_receives` it moves to its dead-letter queue (the redrive policy)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from peoplesync.adapters.aws import checked_form
from peoplesync.adapters.dynamodb import DynamoStore, create_table
from peoplesync.adapters.sqs import SqsQueue
from peoplesync.bootstrap import Runtime
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync.config_light import light_config
from peoplesync_dev.memory import MemoryConnector
from tests.functions import load_function

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


@dataclass
class Context:
    function_name: str = "peoplesync-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:peoplesync-test"
    aws_request_id: str = "req-1"
    remaining_ms: int = 900_000  # a fresh invocation of a 15-minute function: a poll reads to its end

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def deployed_plan(config: dict[str, Any]) -> Any:
    """The plan a deployed function runs on after its configuration's first cold start: rebuilt from the checked
    form without pydantic (adapters/config_cache.py), so every scenario here runs on that form too."""
    form = json.loads(json.dumps(checked_form(load_config(config))))
    return compile_config(light_config(form["config"], form["settings"], form["connectors"]))


class Cloud:
    def __init__(self, config: dict[str, Any], max_receives: int = 3) -> None:
        self.config = config
        self.plan = deployed_plan(config)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        table = f"peoplesync-{uuid.uuid4().hex[:8]}"
        create_table(self.ddb, table)
        self.store = DynamoStore(table, self.ddb)
        self.max_receives = max_receives
        self.urls: dict[str, str] = {}
        self.dlq_urls: dict[str, str] = {}
        names = ["reconcile"] + [f"deliver:{s}" for s, sp in self.plan.systems.items() if sp.writable]
        for name in names:
            safe = name.replace(":", "-")
            self.dlq_urls[name] = self.sqs.create_queue(QueueName=f"dlq-{safe}")["QueueUrl"]
            self.urls[name] = self.sqs.create_queue(QueueName=f"stack-{safe}")["QueueUrl"]
        self.systems = {name: MemoryConnector(name, system_attributes(self.plan, name), writable=sp.writable)
                        for name, sp in self.plan.systems.items() if not sp.push}
        self.runtime = self._runtime()
        self.poll_fn, self.reconcile_fn, self.deliver_fn = (load_function(n) for n in ("poll", "reconcile",
                                                                                        "deliver"))
        self.crash_after_write: str | None = None

    def _runtime(self) -> Runtime:
        return Runtime(self.plan, self.store, lambda n: SqsQueue(self.urls[n], self.sqs),
                       lambda n: SqsQueue(self.dlq_urls[n], self.sqs), connectors=self.systems)

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.config = config
        self.plan = deployed_plan(config)
        for name, c in self.systems.items():
            c.attributes = system_attributes(self.plan, name)
        self.runtime = self._runtime()

    def __getitem__(self, system: str) -> MemoryConnector:
        return self.systems[system]

    # --- what EventBridge and the SQS event source mappings do ------------------------------------------
    def poll(self, system: str, **extra: Any) -> dict[str, Any]:
        return dict(self.poll_fn.handler({"system": system, **extra}, Context(), rt=self.runtime))

    def sync(self, *, approve: bool = False) -> list[dict[str, Any]]:
        order = sorted(self.systems, key=lambda s: s not in self.plan.lifecycle["person"])
        reports = [self.poll(s, approve=approve) if approve else self.poll(s) for s in order]
        self.drain()
        if all(not r.get("failed") for r in reports):
            self.store.put_meta("fingerprint", {"value": self.plan.fingerprint})
        return reports

    def drain(self, rounds: int = 50, *, wait_delayed: bool = False) -> None:
        """Feed the functions until every queue is empty; with `wait_delayed`, also wait for the messages sent
        back with a delay (retries) and feed those."""
        for _ in range(rounds):
            busy = False
            for name, url in self.urls.items():
                fn = self.reconcile_fn if name == "reconcile" else self.deliver_fn
                busy |= self._feed(name, url, fn)
            if not busy and not (wait_delayed and self._delayed()):
                return
            if not busy:
                time.sleep(0.5)  # a message sent back with a delay (a retry) is not visible yet
        raise AssertionError("queues did not drain")

    def _delayed(self) -> int:
        return sum(int(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
                       ["Attributes"].get("ApproximateNumberOfMessagesDelayed", 0)) for url in self.urls.values())

    def _feed(self, name: str, url: str, fn: Any) -> bool:
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            return False
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs", "awsRegion": REGION,
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:stack-{name.replace(':', '-')}"}
                   for m in messages]
        try:
            result = fn.handler({"Records": records}, Context(), rt=self.runtime)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # the invocation failed: Lambda returns the whole batch to the queue
            failed = {m["MessageId"] for m in messages}
        for m in messages:
            receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            elif receives >= self.max_receives:  # the redrive policy
                self.sqs.send_message(QueueUrl=self.dlq_urls[name], MessageBody=m["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return True

    def send(self, name: str, body: Any) -> None:
        self.sqs.send_message(QueueUrl=self.urls[name], MessageBody=body if isinstance(body, str) else
                              json.dumps(body))

    def dead_letters(self, name: str) -> list[dict[str, Any]]:
        from peoplesync.adapters.sqs import list_dead_letters

        return list_dead_letters(self.dlq_urls[name], client=self.sqs, wait_seconds=0)

    def record_of(self, system: str, key: str):
        rid = self.store.by_link("person", system, key)
        return self.store.load(rid) if rid else None

    def writes(self) -> dict[str, int]:
        return {name: len(c.writes) for name, c in self.systems.items()}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "peoplesync-test")
    with mock_aws():
        yield
