"""`batches`: an iterable cut into lists of at most `size`, without holding the rest (Python 3.11 has no
`itertools.batched`). Used wherever records are loaded or examined a few hundred at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
