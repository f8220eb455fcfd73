"""The page the full sweep leaves in AWS: after its last system, the state machine's Report step builds the
same page as `peoplesync report` from the state table and writes it (and its JSON) to the snapshot bucket under
`reports/` (`s3.write_report`: `<run>.html` and `latest.html`); the function logs the address.

What differs from the local page: what is owed comes from the records' outboxes (the SQS delivery queues cannot
be listed), and dead letters are not listed (they sit in the per-target dead-letter queues, with alarms: see
docs/operations.md)."""

from __future__ import annotations

from typing import Any

from . import local
from .s3 import write_report


class RuntimeView:
    """The few things the page reads of a local bridge, taken from a Lambda's Runtime."""

    def __init__(self, rt: Any) -> None:
        self.plan, self.store, self.reconciler = rt.plan, rt.store, rt.reconciler

    def owed(self) -> list[tuple[str, str]]:
        """Read from the records' outboxes, a batch of records at a time (one BatchGetItem per 100)."""
        from ..service.batching import batches
        from ..service.reconcile import owed_targets

        return sorted((rid, system) for kind in self.plan.fields for batch in batches(self.store.all_ids(kind), 500)
                      for rid, state in self.store.load_many(batch).items() for system in owed_targets(state))

    def label(self, record_id: str) -> str:
        from ..service.describe import person_label

        return person_label(self.plan, self.store.load(record_id), record_id)

    def dead_letters(self) -> list[dict[str, Any]]:
        return []  # in SQS dead-letter queues (listed by `peoplesync dlq list --dlq-url`), not in the table


def sweep_report(rt: Any, s3: Any, bucket: str, run: str, *, since: float | None = None) -> dict[str, str]:
    """Write the page of the state after the full sweep `run`; return the objects' `s3://` addresses.
    `since`: the sweep's start (epoch seconds), so the page's decisions are this sweep's."""
    view = RuntimeView(rt)
    data = local.page_data(view, title=f"full sweep {run}", since=since)
    return write_report(s3, bucket, "reports/", run, data)
