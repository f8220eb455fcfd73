"""Paged listings with the completeness check every connector needs: the distinct keys seen must equal the
total the server announced, the same on every page. Re-exported by `base.py`."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..ports import ReadFailed

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class Page(Generic[T]):
    """One page: its items, the total the server announced (None: it did not), and what to ask for next
    (None: this was the last page)."""

    items: list[T]
    total: int | None = None
    next: Any = None


@dataclass(slots=True)
class Paged(Generic[T]):
    items: list[T]
    complete: bool
    totals: tuple[int, ...] = ()


def page_all(fetch: Callable[[Any], Page[T]], key: Callable[[T], str], *, first: Any = 1,
             max_pages: int = 100_000, name: str = "listing") -> Paged[T]:
    """Every item of a paged listing, `fetch(token)` page after page from `first` until a page has no `next`.

    Items are kept by `key` (a later copy wins). The listing is complete only when every page announced a
    total, all the same, and the distinct keys equal it: offsets and page numbers shift when items are added
    or removed meanwhile, so someone may have been skipped, and an incomplete listing proves no one gone."""
    found: dict[str, T] = {}
    totals: list[int] = []
    unannounced = False
    token, pages = first, 0
    while token is not None:
        if pages >= max_pages:
            raise ReadFailed(f"{name}: more than {max_pages} pages; refusing to go on")
        page = fetch(token)
        pages += 1
        if page.total is None:
            unannounced = True
        else:
            totals.append(int(page.total))
        for item in page.items:
            found[key(item)] = item
        token = page.next
    distinct = set(totals)
    complete = not unannounced and len(distinct) == 1 and len(found) == totals[0]
    if not complete and not unannounced:
        log.warning("%s: the listing changed while it was paged (totals %s, %d distinct items seen)", name,
                    sorted(distinct), len(found))
    return Paged(list(found.values()), complete, tuple(totals))


def encode_position(pos: dict[str, Any]) -> str:
    """A paged read's position (`ReadPage.position`): its fields as URL-safe base64 JSON."""
    return base64.urlsafe_b64encode(json.dumps(pos, separators=(",", ":")).encode()).decode()


def decode_position(text: str | None) -> dict[str, Any] | None:
    """The fields of a position, or None for none or one that is not base64 JSON of an object (the caller
    then checks they are its own)."""
    if not text:
        return None
    try:
        pos = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None
    return pos if isinstance(pos, dict) else None
