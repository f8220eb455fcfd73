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
