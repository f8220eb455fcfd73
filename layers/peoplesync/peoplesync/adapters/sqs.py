"""SQS: `SqsQueue` (the `QueuePort`) and the dead-letter tools behind `peoplesync dlq list|replay`.

`send` checks every message's size first (nothing is sent if one can never fit), then sends in batches of at
most 10 entries and 256 KiB. Entries SQS failed for a passing reason are retried with backoff; an entry it
refuses as malformed (SenderFault), or one still failing after the last attempt, raises: nothing is dropped
silently. A raise after some batches went out means those were sent: a retry of the whole call sends them
again, which the consumers tolerate (SQS delivers at least once anyway).

Dead letters carry the reason they were set aside in the message attribute `reason` when a handler put them
there itself; messages moved by the redrive policy have none (their receive count says how often they failed).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..ports import PermanentError, TransientError
from .secretsmanager import SecretsManagerSecrets

__all__ = ["SecretsManagerSecrets", "SqsQueue", "list_dead_letters", "replay_dead_letters"]

MAX_BATCH_ENTRIES = 10
MAX_MESSAGE_BYTES = 262_144  # per message, and per SendMessageBatch call in total
REASON = "reason"


def _client(client: Any) -> Any:
    if client is None:
        import boto3  # only where a queue is really used

        client = boto3.client("sqs")
    return client


def _attributes(attributes: Mapping[str, str] | None) -> dict[str, dict[str, str]]:
    return {k: {"DataType": "String", "StringValue": str(v)} for k, v in (attributes or {}).items()}


def _size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """What SQS counts against the limit: the body plus each attribute's name, type and value."""
    size = len(body.encode())
    for name, attr in attributes.items():
        value = attr.get("StringValue")
        size += len(name.encode()) + len(attr["DataType"].encode())
        size += len(value.encode()) if value is not None else len(attr.get("BinaryValue", b""))
    return size


class SqsQueue:
    """A queue by URL. Messages are dicts, sent as JSON."""

    def __init__(self, url: str, client: Any = None, *, max_attempts: int = 5, base_delay: float = 0.1,
                 max_delay: float = 5.0, max_bytes: int = MAX_MESSAGE_BYTES,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.client = _client(client)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_bytes = max_bytes
        self._sleep = sleep

    def send(self, messages: list[dict[str, Any]], *, delay_seconds: int = 0,
             attributes: Mapping[str, str] | None = None) -> list[str]:
        """Send every message (JSON); returns their SQS message ids, in order. `attributes` (strings) go on
        every message; `delay_seconds` (0-900) holds them back, e.g. for a target's Retry-After."""
        attrs = _attributes(attributes)
        bodies = [json.dumps(m, separators=(",", ":"), ensure_ascii=False, default=str) for m in messages]
        return self.send_raw([(b, attrs) for b in bodies], delay_seconds=delay_seconds)

    def send_raw(self, entries: list[tuple[str, dict[str, dict[str, Any]]]], *, delay_seconds: int = 0) -> list[str]:
        """Send (body, SQS message attributes) pairs as they are."""
        sizes = [_size(body, attrs) for body, attrs in entries]
        too_big = [i for i, n in enumerate(sizes) if n > self.max_bytes]
        if too_big:
            raise PermanentError(f"message {too_big[0]} is {sizes[too_big[0]]} bytes; SQS takes at most "
                                 f"{self.max_bytes} ({len(too_big)} of {len(entries)} too large, none sent)")
        ids: list[str] = []
        for batch in _batches(list(range(len(entries))), sizes, self.max_bytes):
            ids += self._send_batch([entries[i] for i in batch], delay_seconds)
        return ids

    def _send_batch(self, entries: list[tuple[str, dict[str, dict[str, Any]]]], delay_seconds: int) -> list[str]:
        pending: dict[str, dict[str, Any]] = {}
        for i, (body, attrs) in enumerate(entries):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": body}
            if attrs:
                entry["MessageAttributes"] = attrs
            if delay_seconds:
                entry["DelaySeconds"] = delay_seconds
            pending[str(i)] = entry
        sent: dict[str, str] = {}
        failed: list[dict[str, Any]] = []
        for attempt in range(self.max_attempts):
            answer = self.client.send_message_batch(QueueUrl=self.url, Entries=list(pending.values()))
            for ok in answer.get("Successful", []):
                sent[ok["Id"]] = ok["MessageId"]
                pending.pop(ok["Id"], None)
            failed = answer.get("Failed", [])
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:
                raise PermanentError(f"SQS refused {len(refused)} message(s) for {self.url}: "
                                     f"{refused[0].get('Code')}: {refused[0].get('Message', '')}")
            if not pending:
                return [sent[str(i)] for i in range(len(entries))]
            if attempt + 1 < self.max_attempts:
                self._sleep(min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + random.random() / 2))
        reason = f"{failed[0].get('Code')}: {failed[0].get('Message', '')}" if failed else "no answer"
        raise TransientError(f"SQS did not take {len(pending)} of {len(entries)} message(s) for {self.url} after "
                             f"{self.max_attempts} attempts ({reason})")


def _batches(indexes: list[int], sizes: list[int], max_bytes: int) -> Iterable[list[int]]:
    batch: list[int] = []
    total = 0
    for i in indexes:
        if batch and (len(batch) == MAX_BATCH_ENTRIES or total + sizes[i] > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(i)
        total += sizes[i]
    if batch:
        yield batch


# --- dead letters ------------------------------------------------------------------------------------------
def _receive(client: Any, url: str, count: int, visibility: int, wait: int) -> list[dict[str, Any]]:
    answer = client.receive_message(QueueUrl=url, MaxNumberOfMessages=max(1, min(10, count)),
                                    VisibilityTimeout=visibility, WaitTimeSeconds=wait,
                                    AttributeNames=["All"], MessageAttributeNames=["All"])
    return answer.get("Messages", [])


def _release(client: Any, url: str, handles: list[str]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(handles), MAX_BATCH_ENTRIES):
        chunk = handles[start:start + MAX_BATCH_ENTRIES]
        client.change_message_visibility_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                                   for i, h in enumerate(chunk)])


def _describe(message: dict[str, Any]) -> dict[str, Any]:
    body: Any = message.get("Body", "")
    with contextlib.suppress(ValueError):
        body = json.loads(body)
    attrs = message.get("MessageAttributes", {})
    system = message.get("Attributes", {})
    return {
        "id": message["MessageId"],
        "body": body,
        "reason": attrs.get(REASON, {}).get("StringValue"),
        "receive_count": int(system.get("ApproximateReceiveCount", 0)),
        "sent_at": int(system["SentTimestamp"]) / 1000 if "SentTimestamp" in system else None,
        "attributes": {k: v.get("StringValue") for k, v in attrs.items() if k != REASON},
    }


def list_dead_letters(dlq_url: str, max: int = 100, *, client: Any = None, wait_seconds: int = 1,
                      visibility: int = 30) -> list[dict[str, Any]]:
    """Peek at up to `max` dead letters without deleting them: each is received (hidden for `visibility`
    seconds so the walk does not see it twice), described, and made visible again when the walk ends.
    Each: {"id", "body" (parsed JSON when it is JSON), "reason", "receive_count", "sent_at", "attributes"}.
    Peeking raises a message's receive count; a DLQ has no redrive policy, so that moves nothing."""
    sqs = _client(client)
    found: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    try:
        while len(found) < max:
            messages = _receive(sqs, dlq_url, max - len(found), visibility, wait_seconds)
            if not messages:
                break
            fresh = [m for m in messages if m["MessageId"] not in found]
            handles += [m["ReceiptHandle"] for m in messages]
            if not fresh:  # only messages seen already (their visibility ran out): the walk is done
                break
            for m in fresh:
                found[m["MessageId"]] = _describe(m)
    finally:
        _release(sqs, dlq_url, handles)
    return list(found.values())


def replay_dead_letters(dlq_url: str, target_url: str, ids: Iterable[str] | None = None, *, max: int = 1000,
                        client: Any = None, wait_seconds: int = 1, visibility: int = 60) -> list[str]:
    """Send dead letters back to `target_url` (all, or those whose id is in `ids`), then delete them from the
    dead-letter queue; a message is deleted only after the target took it. Returns the replayed ids.
    Messages not chosen are made visible again at the end."""
    sqs = _client(client)
    wanted = set(ids) if ids is not None else None
    target = SqsQueue(target_url, sqs)
    replayed: list[str] = []
    skipped: list[str] = []
    seen: set[str] = set()
    try:
        while len(replayed) < max and (wanted is None or len(replayed) < len(wanted)):
            messages = _receive(sqs, dlq_url, max - len(replayed), visibility, wait_seconds)
            if not messages or all(m["MessageId"] in seen for m in messages):
                skipped += [m["ReceiptHandle"] for m in messages]
                break  # empty, or only messages seen already (their visibility ran out)
            seen.update(m["MessageId"] for m in messages)
            chosen = []
            for m in messages:
                if m["MessageId"] in replayed or (wanted is not None and m["MessageId"] not in wanted):
                    skipped.append(m["ReceiptHandle"])
                else:
                    chosen.append(m)
            if not chosen:
                continue
            target.send_raw([(m["Body"], _resendable(m.get("MessageAttributes", {}))) for m in chosen])
            answer = sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chosen)])
            replayed += [m["MessageId"] for m in chosen]
            if answer.get("Failed"):
                raise TransientError(f"replayed {len(chosen)} message(s) but could not delete "
                                     f"{len(answer['Failed'])} from the dead-letter queue: they will be replayed "
                                     f"again next time")
    finally:
        _release(sqs, dlq_url, skipped)
    return replayed


def _resendable(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Received attributes, minus the dead-letter reason, in the shape SendMessage takes."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in attributes.items():
        if name == REASON:
            continue
        kept = {"DataType": attr["DataType"]}
        for field in ("StringValue", "BinaryValue"):
            if field in attr:
                kept[field] = attr[field]
        out[name] = kept
    return out
