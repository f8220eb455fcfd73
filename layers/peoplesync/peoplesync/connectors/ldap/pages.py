"""The LDAP connector's paged read: a full read in pages whose position survives a hand-over to another
invocation, on another connection.

The Simple Paged Results control (RFC 2696) pages a search, but its cookie is only good on the connection that
got it, and the order it returns entries in is the server's: a search begun again elsewhere cannot be told where
to go on. So a paged read walks a stable key instead: each page is one search of a key range `[lo, hi)` (itself
paged with the control on this connection, as every search is), and the position is where the next range begins.
Ranges never overlap and the key never changes, so no account is read twice; every value is covered once, so
no account present throughout the read is missed. The key:

- OpenLDAP: `entryUUID` (the anchor; the schema's UUIDOrderingMatch compares the 16 bytes in order), over the
  whole 128-bit space. An account created during the read is listed when its range is still ahead, else by the
  next delta (its entryCSN is above the run's mark).
- Active Directory (and Samba AD): `uSNCreated` (an integer, indexed, fixed at creation on this domain
  controller) from 0 to the run's mark (`highestCommittedUSN` when the read began). `objectGUID`, the anchor,
  has no usable ordering (Samba answers every `>=` on it with every entry). USNs are the DC's own, so the
  position carries the DC database's `invocationId`: a hand-over landing on another DC begins the read again
  (`ReadPage.restarted`), as a CSV position on a changed file does. Accounts created during the read are above
  the mark: the next delta (`uSNChanged` above the mark) lists them.

Range widths adapt: a range that holds more than `OVERFLOW` pages' worth is abandoned (its search stopped, the
server told) and tried again as wide as the page_size-th smallest key of the entries it gave (at most half as
wide); a range that gives less than half a page is followed by one twice as wide. Keys bunch (OpenLDAP's
entryUUIDs are time-based; a bulk load takes a narrow band of USNs), and the widths follow. What it costs:
one search per range, a bind and the mark read per invocation, and the entries of an abandoned range read
twice; without an ordering index on the key the server evaluates the account filter over the subtree for
each range (OpenLDAP's `eq` index does not serve `>=`).

Only a read whose delta mark is exact can be taken in pages: the cursor a paged read leaves is the mark taken
before its first page (AD's USN, OpenLDAP's contextCSN), so a change made to an account whose range was
already read is above it and the next delta lists it. A server without such a mark (a generic directory, or
OpenLDAP without syncprov) is read whole, in one page, as before. Groups are read after the people, in the
last page. A delta is one page (it lists only what changed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...ports import ReadFailed, ReadPage
from ..cursor import decode_cursor, encode_cursor, fingerprint
from .search import Directory, Entry

if TYPE_CHECKING:
    from .connector import LdapConnector

OVERFLOW = 2  # a range holding more than this many pages is split
POSITION_VERSION = 1


@dataclass(frozen=True)
class KeySpace:
    """The stable key pages walk: its attribute, where its values end, and a value as filter text."""

    attr: str
    end: int
    text: Callable[[int], str]
    value: Callable[[bytes], int]  # a raw value of the key as a point of the range

    def range_filter(self, user_filter: str, lo: int, hi: int) -> str:
        upper = f"(!({self.attr}>={self.text(hi)}))" if hi < self.end else ""
        return f"(&{user_filter}({self.attr}>={self.text(lo)}){upper})"


def _uuid(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def key_space(conn: LdapConnector, mark: dict[str, Any]) -> KeySpace | None:
    """The key this directory is paged by, or None: it is read whole (see the module's docstring)."""
    mode = mark.get("mode")
    if mode == "usn":
        return KeySpace("uSNCreated", int(mark["usn"]) + 1, str, int)
    if mode == "csn" and mark.get("exact") and conn.anchor_attr.lower() == "entryuuid":
        return KeySpace("entryUUID", 1 << 128, _uuid, lambda raw: int(raw.decode().replace("-", ""), 16))
    return None


def read_pages(conn: LdapConnector, cursor: str | None, full: bool, page_size: int,
               start: str | None) -> Iterator[ReadPage]:
    """The read in pages of about `page_size` accounts (see the module's docstring). Any failure is a
    `ReadFailed`, as `read()`'s are."""
    try:
        pos = _decode(conn, start)
        restarted = start is not None and pos is None
        if pos is None and not full:
            delta = _delta(conn, cursor)
            if delta is not None:
                yield delta
                return
        if pos is not None:
            taken = pos
            if not conn._guarded(lambda: conn._retrying(lambda d: _same_dc(conn, d, taken))):
                pos, restarted = None, True
        if pos is None:
            mark = conn._guarded(lambda: conn._retrying(lambda d: conn.flavor.delta.mark(d, conn.s.base_dn)))
            space = key_space(conn, mark)
            if space is None:  # no exact mark or no ordered key: the whole read, one page
                result = conn.read(cursor, full=True)
                yield ReadPage.whole(result, restarted=restarted)
                return
            pos = {"mark": mark, "lo": 0, "step": max(1, space.end // 16)}
        yield from _walk(conn, pos, page_size, restarted)
    finally:
        conn.close()


def _delta(conn: LdapConnector, cursor: str | None) -> ReadPage | None:
    """The delta since `cursor` as one page, or None when a full read is due."""
    state = conn._decode(cursor)
    if state is None:
        return None
    result = conn._guarded(lambda: conn._read_delta(state))
    if result is None:
        return None
    return ReadPage(list(result.observations), last=True, complete=result.complete,
                    cursor=conn._encode(getattr(result, "state", None)))


def _same_dc(conn: LdapConnector, d: Directory, pos: dict[str, Any]) -> bool:
    """A USN position is good only on the DC database it was taken on."""
    mark = pos["mark"]
    return mark.get("mode") != "usn" or conn.flavor.delta.mark(d, conn.s.base_dn).get("inv") == mark.get("inv")


def _walk(conn: LdapConnector, pos: dict[str, Any], page_size: int, restarted: bool) -> Iterator[ReadPage]:
    mark = pos["mark"]
    space = key_space(conn, mark)
    assert space is not None  # a position is only written for a directory with a key space
    while True:
        lo, step = int(pos["lo"]), int(pos["step"])
        hi = min(space.end, lo + step)
        flt = space.range_filter(conn.s.filter, lo, hi)
        limit = None if step == 1 else OVERFLOW * page_size
        entries, sample = conn._guarded(lambda: conn._retrying(lambda d: _range(conn, d, space, flt, limit)))  # noqa: B023
        if entries is None:  # too many in one range: as wide as the page_size-th key of what was seen
            pos["step"] = max(1, min(step // 2, sorted(sample)[page_size - 1] - lo + 1))
            continue
        pos["lo"] = hi
        if len(entries) < page_size // 2:
            pos["step"] = step * 2
        observations = conn._observe_all(entries)
        if hi >= space.end:
            observations += conn._guarded(lambda: conn._retrying(lambda d: conn.groups.read(d)))
            state = {**conn.flavor.delta.advance(mark, []), "full_at": conn.clock()}
            yield ReadPage(observations, last=True, complete=True, cursor=conn._encode(state), restarted=restarted)
            return
        if observations:
            yield ReadPage(observations, position=_encode(conn, pos), restarted=restarted)
            restarted = False


def _range(conn: LdapConnector, d: Directory, space: KeySpace, flt: str,
           limit: int | None) -> tuple[list[Entry] | None, list[int]]:
    """(the entries of one range, ranged attributes completed, []), or (None, the keys of the first `limit` + 1
    entries seen) when it holds more: the search is stopped there and abandoned at the server."""
    raw = []
    if limit is not None:  # an overflow is seen after limit + 1 entries, not a whole server page later
        d.page_size = min(d.page_size, limit + 1)
    attrs = conn._read_attrs()
    found = d.search(conn.s.base_dn, flt, attrs if space.attr in attrs else [*attrs, space.attr])
    for entry in found:
        raw.append(entry)
        if limit is not None and len(raw) > limit:
            found.close()  # type: ignore[attr-defined]
            return None, [space.value(_one(e, space.attr)) for e in raw]
    out = [{"dn": e["dn"], "raw": d._complete_ranges(e)} for e in raw]
    d.stats["entries"] += len(out)
    return out, []


def _one(entry: dict[str, Any], attr: str) -> bytes:
    values = next((v for k, v in entry["raw_attributes"].items() if k.lower() == attr.lower()), None)
    if not values:
        raise ReadFailed(f"an entry without {attr} in a read by {attr} ranges: {entry['dn']!r}")
    return bytes(values[0])


def _encode(conn: LdapConnector, pos: dict[str, Any]) -> str:
    return encode_cursor(pos, version=POSITION_VERSION, scope=fingerprint(conn._scope()))


def _decode(conn: LdapConnector, start: str | None) -> dict[str, Any] | None:
    pos = decode_cursor(start, version=POSITION_VERSION, scope=fingerprint(conn._scope()))
    return pos if pos is not None and {"mark", "lo", "step"} <= pos.keys() else None


