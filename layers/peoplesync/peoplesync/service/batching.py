"""`batches`: an iterable cut into lists of at most `size`, without holding the rest (Python 3.11 has no
`itertools.batched`). Used wherever records are loaded or examined a few hundred at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
