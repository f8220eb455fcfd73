"""Genesys Cloud users read in pages that another invocation can go on from (`read_pages`): a poll or the full
sweep's snapshot that nears its time hands on the position, so 1,000,000 users (33 minutes of reading at 100 a
request and 300 requests a minute) are read by several Lambda invocations, none holding them all.

The position is the next page number of `GET /api/v2/users` and the total the first page announced. Page
numbers shift when users are added or removed between two requests, so someone may be skipped or listed twice:
within one invocation the check is the one `page_all` makes (one total, the distinct users equal to it); a read
that went on from a position taken in another invocation cannot count the users the earlier ones saw, so it is
never called complete: nobody is concluded gone from it (the next read made in one invocation can). Groups in
scope come with the last page. Genesys Cloud has no delta read: every paged read lists everyone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..ports import ReadPage

if TYPE_CHECKING:
    from .genesys import GenesysConnector


def encode_position(pos: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(pos, separators=(",", ":")).encode()).decode()


def decode_position(text: str | None) -> dict[str, Any] | None:
    """The position handed on, or None (begin at the first page) for none or one that is not ours."""
    if not text:
        return None
    try:
        pos = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None
    ok = isinstance(pos, dict) and isinstance(pos.get("page"), int) and pos["page"] >= 1
    return pos if ok else None


def read_pages(conn: GenesysConnector, page_size: int, start: str | None) -> Iterator[ReadPage]:
    """Pages of at least `page_size` users (whole API pages of the connector's `page_size`)."""
    pos = decode_position(start)
    number = pos["page"] if pos else 1
    announced: set[int] = {int(pos["total"])} if pos and pos.get("total") is not None else set()
    moved = bool(pos and pos.get("moved"))
    seen: set[str] = set()  # this invocation's users: the distinct count of a read made in one go
    batch: list[Any] = []
    while True:
        users, total, following = conn.users_page(number)
        if total is None:
            moved = True  # no total announced: nothing to check the listing against
        else:
            announced.add(total)
        seen.update(str(u["id"]) for u in users)
        batch.extend(conn.observe(u) for u in users if u.get("state") != "deleted")
        if following is None:
            moved = moved or len(announced) != 1
            complete = pos is None and not moved and len(seen) == next(iter(announced))
            yield ReadPage(batch + conn.group_observations(), last=True, complete=complete)
            return
        number = following
        if len(batch) >= page_size:
            total_seen = min(announced) if announced else None
            yield ReadPage(batch, position=encode_position({"page": number, "total": total_seen,
                                                            "moved": moved or len(announced) > 1}))
            batch = []
