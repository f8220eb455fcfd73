"""Delta reads: the high-water mark taken before each search, the filter of what changed since the previous
one, and what the cursor carries forward. One mode per flavour:

- `usn` (Active Directory): `(uSNChanged>=N+1)` above `highestCommittedUSN` taken at the previous poll. USNs are
  local to one domain controller database, so the cursor carries that database's `invocationId`: a different
  DC, or the same DC restored from backup, fails the check and the poll falls back to a full read.
- `csn` (OpenLDAP): `(entryCSN>W)` with W the suffix's `contextCSN` read before the previous search (syncprov
  moves contextCSN past a CSN only once every earlier write has committed, so nothing slips under the mark);
  without contextCSN, the newest entryCSN seen, less a small overlap.
- `timestamp` (other servers): `modifyTimestamp`, less the same overlap (writes can commit out of order and
  timestamps have one-second resolution).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ...model import Observation
from ...ports import ReadFailed
from .. import base
from .dn import dn_within, esc, guid_string
from .search import Directory

# Concurrent writes can commit out of CSN / timestamp order: each delta re-reads this much before the mark.
OVERLAP = timedelta(seconds=5)


def csn_minus(csn: str, delta: timedelta) -> str:
    """An entryCSN (20240101120000.123456Z#000000#000#000000) moved back by delta; unreadable: unchanged."""
    try:
        stamp = datetime.strptime(csn[:22], "%Y%m%d%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return csn
    return (stamp - delta).strftime("%Y%m%d%H%M%S.%fZ") + "#000000#000#000000"


def stamp_minus(ts: str, delta: timedelta) -> str:
    """A GeneralizedTime (20240101120000Z, maybe with fractions) moved back by delta."""
    try:
        stamp = datetime.strptime(ts[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return ts
    return (stamp - delta).strftime("%Y%m%d%H%M%S") + "Z"


def _newest(observations: list[Observation], floor: Any) -> str:
    return max([str(o.marker) for o in observations if o.marker] + [str(floor or "")])


class Delta:
    """How a delta read finds the entries changed since the previous poll."""

    mode = "timestamp"
    keys: tuple[str, ...] = ("ts",)  # what the cursor's state holds besides mode and full_at

    def readable(self, state: dict[str, Any]) -> bool:
        """Is `state` one this mode wrote? (The codec already checked the cursor's version and scope.)"""
        return state.get("mode") == self.mode and isinstance(state.get("full_at"), int | float) \
            and all(k in state for k in self.keys)

    def mark(self, d: Directory, base_dn: str) -> dict[str, Any]:
        """The high-water mark taken before searching: everything committed up to it is in this read."""
        return {"mode": self.mode, "ts": None}

    def unusable(self, mark: dict[str, Any], state: dict[str, Any]) -> str | None:
        """Why the cursor's state cannot be continued from this mark (then: a full read), or None."""
        return None

    def changed(self, user_filter: str, state: dict[str, Any]) -> str:
        since = stamp_minus(str(state["ts"]), OVERLAP)
        return f"(&{user_filter}(modifyTimestamp>={esc(since)}))"

    def advance(self, mark: dict[str, Any], observations: list[Observation]) -> dict[str, Any]:
        """The cursor's state after a read that started at `mark` and saw `observations`."""
        return {**mark, "ts": _newest(observations, mark.get("ts"))}


class CsnDelta(Delta):
    mode = "csn"
    keys = ("csn",)

    def mark(self, d: Directory, base_dn: str) -> dict[str, Any]:
        contexts = d.root().get("namingcontexts", [])
        suffix = next((c for c in contexts if c and dn_within(base_dn, c)), None)
        values = d.one(suffix, ["contextCSN"]).get("contextCSN", []) if suffix else []
        csn = max((v.decode() for v in values), default=None)
        return {"mode": "csn", "csn": csn, "exact": csn is not None}

    def changed(self, user_filter: str, state: dict[str, Any]) -> str:
        if state.get("exact"):
            # contextCSN only passes a CSN once every earlier one is committed: strictly above it is exact
            since = esc(str(state["csn"]))
            return f"(&{user_filter}(entryCSN>={since})(!(entryCSN={since})))"
        return f"(&{user_filter}(entryCSN>={esc(csn_minus(str(state['csn']), OVERLAP))}))"

    def advance(self, mark: dict[str, Any], observations: list[Observation]) -> dict[str, Any]:
        if mark.get("csn"):
            return dict(mark)
        return {**mark, "csn": _newest(observations, mark.get("csn"))}  # no syncprov: the newest entryCSN seen


class UsnDelta(Delta):
    mode = "usn"
    keys = ("usn", "inv")

    def __init__(self, system: str) -> None:
        self.system = system
        self.rootdse: dict[str, list[str]] | None = None  # read with the mark; reused for tombstones and schema

    def mark(self, d: Directory, base_dn: str) -> dict[str, Any]:
        root = d.root()
        service = (root.get("dsservicename") or [""])[0]
        raw = d.one(service, ["invocationId"]).get("invocationId") if service else None
        if not raw or not root.get("highestcommittedusn"):
            raise ReadFailed(f"{self.system}: the server does not look like Active Directory "
                             f"(no invocationId / highestCommittedUSN); check flavor")
        self.rootdse = root
        return {"mode": "usn", "usn": int(root["highestcommittedusn"][0]), "inv": guid_string(raw[0])}

    def unusable(self, mark: dict[str, Any], state: dict[str, Any]) -> str | None:
        if mark.get("inv") != state.get("inv") or int(mark["usn"]) < int(state["usn"]):
            return "the domain controller's database is not the one the cursor came from (another DC, or " \
                   "restored from backup)"
        return None

    def changed(self, user_filter: str, state: dict[str, Any]) -> str:
        return f"(&{user_filter}(uSNChanged>={int(state['usn']) + 1}))"

    def advance(self, mark: dict[str, Any], observations: list[Observation]) -> dict[str, Any]:
        return dict(mark)



def decode_cursor(cursor: str) -> dict[str, Any] | None:
    """What a cursor holds as stored (`v`, `scope` and the state), for tools and tests; None: unreadable."""
    try:
        data = json.loads(cursor)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def encode_cursor(data: dict[str, Any]) -> str:
    """The cursor holding `data` (as `decode_cursor` gives it: `v`, `scope` and the state)."""
    state = {k: v for k, v in data.items() if k not in ("v", "scope")}
    return base.encode_cursor(state, version=data["v"], scope=data["scope"])
