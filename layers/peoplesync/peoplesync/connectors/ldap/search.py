"""Searches over one bound ldap3 connection: paged, ranged attributes completed, referrals never followed, and
every server answer turned into a result or one of the bridge's errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ...ports import PermanentError, ReadFailed, TransientError

PAGED_OID = "1.2.840.113556.1.4.319"
SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
MANAGE_DSA_IT_OID = "2.16.840.1.113730.3.4.2"
# result codes worth retrying; every other failure is the request's own fault
TRANSIENT_CODES = {3, 11, 51, 52, 80}  # timeLimitExceeded, adminLimitExceeded, busy, unavailable, other
ROOT_ATTRIBUTES = ["defaultNamingContext", "namingContexts", "schemaNamingContext", "dsServiceName",
                   "highestCommittedUSN", "subschemaSubentry"]

Entry = dict[str, Any]  # {"dn": str, "raw": {lower-case attribute: [bytes]}}


class NotFound(PermanentError):
    """No account with that anchor (in base_dn)."""


class Dropped(Exception):
    """The connection broke (server restart, idle timeout, network): reconnect and try again."""


class Directory:
    """One connection's searches and results. `stats` is the connector's (what the last operations cost)."""

    def __init__(self, conn: Any, name: str, page_size: int, range_size: int, stats: dict[str, int]) -> None:
        self.conn = conn
        self.name = name
        self.page_size = page_size
        self.range_size = range_size
        self.stats = stats

    def search(self, base: str, flt: str, attrs: list[str], *, scope: str = "SUBTREE",
               controls: list[Any] | None = None, paged: bool = True,
               allow_missing_base: bool = False) -> Iterator[dict[str, Any]]:
        """Paged search; yields ldap3's entries. Referrals are counted and never followed."""
        from ldap3 import BASE, DEREF_NEVER, SUBTREE

        cookie: Any = None
        sub = SUBTREE if scope == "SUBTREE" else BASE
        try:
            while True:
                self.stats["searches"] += 1
                self.conn.search(base, flt, search_scope=sub, attributes=attrs, dereference_aliases=DEREF_NEVER,
                                 controls=controls, paged_size=self.page_size if paged else None,
                                 paged_cookie=cookie)
                result = self.conn.result or {}
                if result.get("result") == 32 and allow_missing_base:
                    return
                self._search_failure(base, result)
                cookie = (((result.get("controls") or {}).get(PAGED_OID) or {}).get("value") or {}).get("cookie")
                cookie = cookie if paged else None  # what the next page asks for (and what a stop abandons)
                for entry in self.conn.response or []:
                    if entry.get("type") == "searchResEntry":
                        yield entry
                    elif entry.get("type") == "searchResRef":
                        self.stats["referrals"] += 1
                if not cookie:
                    return
        except GeneratorExit:  # the caller stopped before the last page: let the server free the results
            if cookie and not self.conn.closed:
                with contextlib.suppress(Exception):  # the connection may be broken; nothing to free then
                    self.conn.search(base, flt, search_scope=sub, attributes=["1.1"], paged_size=0,
                                     paged_cookie=cookie)
            raise

    def _search_failure(self, base: str, result: dict[str, Any]) -> None:
        code = result.get("result")
        if code is None:
            raise Dropped("no result")
        if code == 10:
            raise ReadFailed(f"{self.name}: the server referred the search for {base!r} elsewhere; referrals "
                             f"are not followed (point base_dn at this server's own data)")
        if code == 4:
            raise ReadFailed(f"{self.name}: the server's size limit cut the search short; raise the limit "
                             f"for the bind account (OpenLDAP: limits ... size.prtotal=unlimited)")
        if code != 0:
            err = ReadFailed if code not in TRANSIENT_CODES else TransientError
            raise err(f"{self.name}: search of {base!r} failed: {result.get('description')} "
                      f"{result.get('message', '')}".strip())

    def entries(self, base: str, flt: str, attrs: list[str], **kw: Any) -> list[Entry]:
        """All matching entries with ranged attributes completed."""
        out = [{"dn": e["dn"], "raw": self._complete_ranges(e)} for e in self.search(base, flt, attrs, **kw)]
        self.stats["entries"] += len(out)
        return out

    def one(self, dn: str, attrs: list[str]) -> Any:
        """One entry's raw attributes, as ldap3 gives them (names case-insensitive); {} when there is none."""
        found = list(self.search(dn, "(objectClass=*)", attrs, scope="BASE", paged=False))
        return found[0]["raw_attributes"] if found else {}

    def _complete_ranges(self, entry: dict[str, Any]) -> dict[str, list[bytes]]:
        raw: dict[str, list[bytes]] = {}
        for name, values in entry["raw_attributes"].items():
            attr, _, rng = name.partition(";range=")
            key = attr.lower()
            raw.setdefault(key, []).extend(values)
            high = rng.partition("-")[2]
            while rng and high != "*":
                start = int(high) + 1
                more = self.one(entry["dn"], [f"{attr};range={start}-{start + self.range_size - 1}"])
                names = [n for n in more if n.lower().startswith(f"{key};range=")]
                if not names:  # cut short: a partial member list must never read as members who left
                    raise ReadFailed(f"{self.name}: {attr} of {entry['dn']!r} stopped after {len(raw[key])} "
                                     f"values (range retrieval cut short)")
                raw[key].extend(more[names[0]])
                high = names[0].partition(";range=")[2].partition("-")[2]
        return raw

    def root(self) -> dict[str, list[str]]:
        """The root DSE: naming contexts, schema, the DC's service object and highest USN."""
        raw = self.one("", ROOT_ATTRIBUTES)
        return {k.lower(): [v.decode("utf-8", "replace") for v in vals] for k, vals in raw.items()}

    def check(self, ok: bool, what: str) -> None:
        """A write's answer: nothing (it worked), Dropped, TransientError or PermanentError."""
        if ok:
            return
        result = self.conn.result or {}
        code = result.get("result")
        if code is None:
            raise Dropped(what)
        message = f"{self.name}: {what} failed: {result.get('description')} {result.get('message', '')}".strip()
        if code in TRANSIENT_CODES:
            raise TransientError(message)
        raise PermanentError(message)


def checked_filter(value: str | None, example: str) -> str | None:
    """An LDAP filter from a system's configuration: in parentheses, else ValueError showing `example`."""
    if value is not None and not (value.startswith("(") and value.endswith(")")):
        raise ValueError(f"an LDAP filter in parentheses, e.g. {example}")
    return value
