"""An SQS batch with partial failure (`ReportBatchItemFailures`): what powertools' `BatchProcessor(EventType.SQS)`
with `process_partial_response` did for the reconcile and deliver functions, in the few lines they use.

Why not powertools' here: its batch utility imports asyncio and every event source's data classes, ~40 ms of
each cold start (docs/performance.md, "Every function's cold start"), for a loop. The behaviour is the same:
each record to the handler, the ones that raise reported by message id (SQS sends only those again), and when
every record of the batch raises, the invocation raises (Lambda returns the whole batch, as powertools'
`raise_on_entire_batch_failure` default does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("peoplesync")


class SqsRecord:
    """A record as powertools' `SQSRecord` showed it to the handlers: `body`, `message_id`, `raw_event`."""

    __slots__ = ("raw_event",)

    def __init__(self, raw_event: dict[str, Any]) -> None:
        self.raw_event = raw_event

    @property
    def body(self) -> str:
        return str(self.raw_event["body"])

    @property
    def message_id(self) -> str:
        return str(self.raw_event["messageId"])


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails, so the whole batch comes back."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        super().__init__(f"All records failed processing. {len(errors)} errors: "
                         + "; ".join(f"{type(e).__name__}: {e}" for e in errors[:5]))


def partial_response(event: Any, handle: Callable[[SqsRecord], None]) -> dict[str, list[dict[str, str]]]:
    """`{"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}` for the records `handle` raised for."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not records or not isinstance(records, list):
        raise ValueError("not an SQS batch: the event has no Records")
    failures: list[dict[str, str]] = []
    errors: list[Exception] = []
    for raw in records:
        record = SqsRecord(raw)
        try:
            handle(record)
        except Exception as exc:  # the record comes back on its own (its neighbours are done)
            log.debug("record %s failed: %s: %s", record.message_id, type(exc).__name__, exc)
            failures.append({"itemIdentifier": record.message_id})
            errors.append(exc)
    if len(errors) == len(records):
        raise BatchFailed(errors)
    return {"batchItemFailures": failures}
