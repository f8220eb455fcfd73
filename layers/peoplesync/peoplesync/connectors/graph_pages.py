"""Microsoft Graph users read in pages that another invocation goes on from (`read_pages`): the first
`users/delta` round of a large tenant (Graph hands out a few hundred users a page) is read by as many poll or
snapshot invocations as it takes, none holding every user.

The position is the round's `@odata.nextLink`, which Graph keeps valid while the round is read; it is only
followed when it points at the configured Graph root (a position is never a way to send the token elsewhere).
A round read across invocations is still one delta round, so its last page is complete and carries the cursor
(the `@odata.deltaLink`) as a read made in one go does. A link Graph no longer accepts (410) begins the round
again from the top (`ReadPage.restarted`: nothing read before counts). Groups in scope come with the last page.
A delta read (a cursor: only the users that changed) is small and stays one page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..model import Observation
from ..ports import ReadFailed, ReadPage
from . import paging
from .graph_api import _Expired

if TYPE_CHECKING:
    from .graph import GraphConnector

log = logging.getLogger(__name__)


def decode_position(text: str | None, root: str) -> str | None:
    """The next link to follow, or None (begin the round) for none, one not ours, or one off the Graph root."""
    link = (paging.decode_position(text) or {}).get("next")
    return link if isinstance(link, str) and link.startswith(root.rstrip("/") + "/") else None


def read_pages(conn: GraphConnector, page_size: int, start: str | None) -> Iterator[ReadPage]:
    link = decode_position(start, conn.api.root)
    restarted = start is not None and link is None
    if link is not None:
        try:
            first = conn.api.get(link, delta=True)
        except (_Expired, ReadFailed) as exc:  # 410 or 400: the link is not taken any more; the round again
            log.info("%s: the position handed on was refused (%s): the users round begins again", conn.name, exc)
            link, restarted = None, True
        else:
            yield from _round(conn, page_size, _following(conn, first), restarted)
            return
    try:
        yield from _round(conn, page_size, None, restarted)
    except _Expired:
        raise ReadFailed(f"{conn.name}: a first users/delta round was refused as expired") from None


def _following(conn: GraphConnector, first: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The page already fetched, then those its nextLink leads to."""
    if not isinstance(first.get("value"), list):
        raise ReadFailed(f"{conn.name}: a users/delta page without `value` (truncated?)")
    yield first
    if first.get("@odata.nextLink") and "@odata.deltaLink" not in first:
        yield from conn.api.pages(str(first["@odata.nextLink"]), delta=True)


def _round(conn: GraphConnector, page_size: int, pages: Iterator[dict[str, Any]] | None, restarted: bool
           ) -> Iterator[ReadPage]:
    pages = pages or conn.api.pages("/users/delta", {"$select": conn.user_select()}, delta=True)
    batch: list[Observation] = []
    for page in pages:
        batch += [conn.observe_user(u) for u in page["value"] if "@removed" not in u]
        if "@odata.deltaLink" in page:
            state: dict[str, Any] = {"users": str(page["@odata.deltaLink"])}
            groups: list[Observation] = []
            if conn.groups is not None:
                groups, state["groups"] = conn.groups.read_full()
            yield ReadPage(batch + groups, last=True, complete=True, cursor=conn.encode_state(state),
                           restarted=restarted)
            return
        if len(batch) >= page_size and page.get("@odata.nextLink"):
            position = paging.encode_position({"next": str(page["@odata.nextLink"])})
            yield ReadPage(batch, position=position, restarted=restarted)
            batch, restarted = [], False
    raise ReadFailed(f"{conn.name}: a delta round ended without a deltaLink")
