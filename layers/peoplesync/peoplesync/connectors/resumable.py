"""Listings paged by number or offset, read in pages that another invocation goes on from (`read_pages`): a
poll or the full sweep's snapshot that nears its time hands on the position, so a million accounts (Genesys
Cloud: 33 minutes of reading at 100 users a request and 300 requests a minute) are read by several Lambda
invocations, none holding them all. Used by Genesys Cloud (`pageNumber`) and SCIM service providers
(`startIndex`).

The position is what to ask for next (a page number, an index) and the total the first page announced. Pages
shift when accounts are added or removed between two requests, so someone may be skipped or listed twice:
within one invocation the check is the one `page_all` makes (one total, the distinct keys equal to it); a read
that went on from a position taken in another invocation cannot count the accounts the earlier ones saw, so it
is never called complete. Its last page asks instead for the accounts it did not list to be confirmed
(`ReadPage.confirm`): the poll re-reads each of those linked accounts (`read_keys`, by id) and concludes gone
only those the system says are gone; one that a shifted page skipped is read then, as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..model import Observation
from ..ports import ReadPage
from . import paging
from .paging import Page

T = TypeVar("T")


def decode_position(text: str | None) -> dict[str, Any] | None:
    """The position handed on, or None (begin at the first page) for none or one that is not ours."""
    pos = paging.decode_position(text)
    return pos if pos is not None and isinstance(pos.get("next"), int) and pos["next"] >= 0 else None


def read_pages(fetch: Callable[[Any], Page[T]], first: int, key: Callable[[T], str],
               observe: Callable[[T], Observation | None], page_size: int, start: str | None,
               tail: Callable[[], list[Observation]] = list) -> Iterator[ReadPage]:
    """Pages of at least `page_size` accounts (whole pages of the listing). `observe` may drop an item (None:
    a deleted user); `tail()` is added to the last page (groups in scope)."""
    pos = decode_position(start)
    token: Any = pos["next"] if pos else first
    announced: set[int] = {int(pos["total"])} if pos and pos.get("total") is not None else set()
    moved = bool(pos and pos.get("moved"))
    seen: set[str] = set()  # this invocation's keys: the distinct count of a read made in one go
    batch: list[Observation] = []
    while True:
        page = fetch(token)
        if page.total is None:
            moved = True  # no total announced: nothing to check the listing against
        else:
            announced.add(page.total)
        seen.update(key(item) for item in page.items)
        batch += [o for o in map(observe, page.items) if o is not None]
        if page.next is None:
            moved = moved or len(announced) != 1
            complete = pos is None and not moved and len(seen) == next(iter(announced))
            yield ReadPage(batch + tail(), last=True, complete=complete, confirm=not complete)
            return
        token = page.next
        if len(batch) >= page_size:
            yield ReadPage(batch, position=paging.encode_position({"next": token, "total": min(announced, default=None),
                                                            "moved": moved or len(announced) > 1}))
            batch = []
