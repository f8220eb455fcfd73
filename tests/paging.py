"""What the paged-poll tests share: a queue that keeps what the poll sends, and a connector wrapper that counts
what each page listed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any


class Capture:
    """The reconcile queue as a list: what the poll sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, messages: list[dict[str, Any]], **_: Any) -> None:
        self.messages += messages

    def keys(self, *, removed: bool | None = None) -> list[str]:
        return [m["observation"]["key"] for m in self.messages if m["type"] == "observation"
                and (removed is None or m["observation"]["removed"] is removed)]


class Listing:
    """A connector, recording every account each page listed (what the poll was given)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.listed = inner, Counter[str]()

    def read_pages(self, *args: Any, **kw: Any) -> Iterator[Any]:
        for page in self.inner.read_pages(*args, **kw):
            self.listed.update(o.key for o in page.observations)
            yield page


def to_end(step: Any, first: Any = None, limit: int = 100) -> list[Any]:
    """A paged poll's run to its end: `step(resume=...)` is one invocation; each hands on to the next."""
    reports = [first or step()]
    while reports[-1].more and len(reports) < limit:
        reports.append(step(resume=reports[-1].run))
    assert not any(r.failed for r in reports), [r.failed for r in reports]
    return reports


def reconcile_sent(bridge: Any, queue: Capture) -> None:
    """What the poll sent, reconciled as the reconcile function would; the queue emptied."""
    from peoplesync.service import flow

    rt = bridge.runtime
    for message in queue.messages:
        flow.reconcile_message(message, rt.reconciler, rt.ports)
    queue.messages.clear()
