"""Plain data the engine works on: observations in, record state and writes out.

Deliberately no pydantic here: these objects sit in the hot loop (tens of thousands per second) and are
serialised by the store adapters with `to_dict` / `from_dict`. Values are JSON-compatible: a scalar (str,
int, float, bool), None for blank, or a tuple of scalars for a multi-valued attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Value = Any  # str | int | float | bool | None | tuple[...]; JSON-compatible once tuples become lists

PERSON = "person"
GROUP = "group"


@dataclass(slots=True)
class Observation:
    """What one system just showed us about one account.

    `attrs` holds the mapped attributes as read (raw, before normalisation). An attribute that is absent
    from `attrs` was not observed (a partial event); a full read reports blanks as None.
    `marker` is the system's own change marker (USN, version, sequence): comparable only within that
    system, never across systems. An observation whose marker is not newer than the last one applied is
    stale and changes nothing.
    `ref` is how other accounts of this system refer to this one (an LDAP DN); None means the key.
    """

    system: str
    key: str
    attrs: dict[str, Value]
    active: bool = True
    removed: bool = False
    marker: int | float | str | None = None
    ref: str | None = None
    kind: str = PERSON


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    return {"system": obs.system, "key": obs.key, "attrs": _jsonable(obs.attrs), "active": obs.active,
            "removed": obs.removed, "marker": obs.marker, "ref": obs.ref, "kind": obs.kind}


def observation_from_dict(d: dict[str, Any]) -> Observation:
    """Raises KeyError / TypeError / ValueError on a malformed message (the caller dead-letters it)."""
    attrs = d.get("attrs", {})
    if not isinstance(d["system"], str) or not isinstance(d["key"], str) or not isinstance(attrs, dict):
        raise ValueError("an observation needs a string system, a string key and an attrs mapping")
    return Observation(d["system"], d["key"], _tupled(attrs), bool(d.get("active", True)),
                       bool(d.get("removed", False)), d.get("marker"), d.get("ref"), d.get("kind", PERSON))


@dataclass(slots=True)
class Shadow:
    """What the bridge last read from, or confirmed written to, one system for one record."""

    key: str
    ref: str | None = None
    values: dict[str, Value] = field(default_factory=dict)  # attr -> normalised value
    pending: dict[str, Value] = field(default_factory=dict)  # attr -> value written, not yet confirmed
    seen_gen: dict[str, int] = field(default_factory=dict)  # field -> golden generation this side agreed to
    marker: int | float | str | None = None
    active: bool | None = None
    removed: bool = False
    pending_state: str | None = None  # "deactivate" | "activate" | "delete" awaiting delivery
    digest: str | None = None  # digest of the last observation: a cheap "nothing changed" test
    added: dict[str, Value] = field(default_factory=dict)  # attr -> set members the bridge added (add_only)

    def to_dict(self, *, to_write: bool = False) -> dict[str, Any]:
        """`to_write`: for a JSON writer at once (`RecordState.to_dict`'s), the values' tuples left as they are."""
        lists = _as_is if to_write else _jsonable
        return {
            "key": self.key,
            "ref": self.ref,
            "values": lists(self.values),
            "pending": lists(self.pending),
            "seen_gen": self.seen_gen,
            "marker": self.marker,
            "active": self.active,
            "removed": self.removed,
            "pending_state": self.pending_state,
            "digest": self.digest,
            **({"added": lists(self.added)} if self.added else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Shadow:
        # every field set on a bare object, as `decision` does: a keyword call goes through `type.__call__` and
        # `__init__`, and a store decodes three or four shadows for every record it loads. Keep it in step with
        # the fields (tests/unit/test_model_codec.py checks that each is set).
        s = _new_object(cls)
        s.key = d["key"]
        s.ref = d.get("ref")
        s.values = _tupled(d.get("values", {}))
        s.pending = _tupled(d.get("pending", {}))
        s.seen_gen = dict(d.get("seen_gen", {}))
        s.marker = d.get("marker")
        s.active = d.get("active")
        s.removed = bool(d.get("removed", False))
        s.pending_state = d.get("pending_state")
        s.digest = d.get("digest")
        s.added = _tupled(d.get("added") or {})
        return s


@dataclass(slots=True)
class RecordState:
    """The bridge's record of one person (or group): golden values, links and shadows per system."""

    id: str
    kind: str = PERSON
    golden: dict[str, Value] = field(default_factory=dict)  # field -> agreed normalised value
    gen: dict[str, int] = field(default_factory=dict)  # field -> generation, +1 at each golden change
    decided_by: dict[str, str] = field(default_factory=dict)  # field -> system whose value it is
    shadows: dict[str, Shadow] = field(default_factory=dict)  # system -> shadow (one link per system)
    active: bool = True
    removed: bool = False
    create_pending: list[str] = field(default_factory=list)  # systems where an account is being created
    waiting: dict[str, list[str]] = field(default_factory=dict)  # field -> [system, ref] not yet resolvable
    keys: dict[str, list[Value]] = field(default_factory=dict)  # field -> values it can be found by (index)
    fingerprint: str = ""  # config fingerprint this record was last evaluated under
    version: int = 0  # optimistic-lock version, owned by the store

    @property
    def links(self) -> dict[str, str]:
        return {system: s.key for system, s in self.shadows.items()}

    def to_dict(self, *, to_write: bool = False) -> dict[str, Any]:
        """The record as plain data. `to_write`: for a JSON writer at once (the SQLite store's save), which writes
        a tuple as it writes a list (orjson and the standard library both): the values' tuples are left as they
        are, not copied into lists, the same text written (converting them was about 2% of a local first sync).
        The dict then shares the record's own dicts and tuples: it is not to be kept."""
        lists = _as_is if to_write else _jsonable
        return {
            "id": self.id,
            "kind": self.kind,
            "golden": lists(self.golden),
            "gen": self.gen,
            "decided_by": self.decided_by,
            "shadows": {k: s.to_dict(to_write=to_write) for k, s in self.shadows.items()},
            "active": self.active,
            "removed": self.removed,
            "create_pending": list(self.create_pending),
            "waiting": self.waiting,
            "keys": self.keys,
            "fingerprint": self.fingerprint,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecordState:
        # a bare object with every field set, as `Shadow.from_dict` (and tests/unit/test_model_codec.py)
        r = _new_object(cls)
        r.id = d["id"]
        r.kind = d.get("kind", PERSON)
        r.golden = _tupled(d.get("golden", {}))
        r.gen = {k: int(v) for k, v in d.get("gen", {}).items()}
        r.decided_by = dict(d.get("decided_by", {}))
        shadow = Shadow.from_dict
        r.shadows = {k: shadow(v) for k, v in d.get("shadows", {}).items()}
        r.active = bool(d.get("active", True))
        r.removed = bool(d.get("removed", False))
        r.create_pending = list(d.get("create_pending", []))
        r.waiting = {k: list(v) for k, v in d.get("waiting", {}).items()}
        r.keys = {k: list(v) for k, v in d.get("keys", {}).items()}
        r.fingerprint = d.get("fingerprint", "")
        r.version = int(d.get("version", 0))
        return r


# The operations a write can carry. "update" sets attributes; the others change the account's state.
CREATE, UPDATE, DEACTIVATE, ACTIVATE, DELETE = "create", "update", "deactivate", "activate", "delete"


@dataclass(slots=True)
class Write:
    """One change to make in one system. `attrs` maps the system's attribute names to values (None clears)."""

    system: str
    op: str
    record_id: str
    key: str | None
    attrs: dict[str, Value] = field(default_factory=dict)
    kind: str = PERSON
    # multi-valued attributes (group members) as a difference: attribute -> {"add": [...], "remove": [...]},
    # values in the target's own form. A connector that finds an attribute here applies adds and removes and
    # never replaces the whole set (another process's members stay).
    delta: dict[str, dict[str, list[Value]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "system": self.system,
            "op": self.op,
            "record_id": self.record_id,
            "key": self.key,
            "attrs": _jsonable(self.attrs),
            "kind": self.kind,
        }
        if self.delta:
            out["delta"] = {a: {"add": list(d.get("add", [])), "remove": list(d.get("remove", []))}
                            for a, d in self.delta.items()}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Write:
        delta = {a: {"add": list(v.get("add", [])), "remove": list(v.get("remove", []))}
                 for a, v in (d.get("delta") or {}).items()}
        return cls(d["system"], d["op"], d["record_id"], d.get("key"), _tupled(d.get("attrs", {})),
                   d.get("kind", PERSON), delta)


class Rule(StrEnum):
    """Why a field has its value: the code of a `Decision`, and the rule of a precedence `Verdict`.

    A `StrEnum`, so a rule compares equal to its code (`d.rule == "deferred"`) and serialises as it."""

    SOURCE = "source"  # a source changed it (SPEC rows 1, 3, 4, 6)
    CONFLICT = "conflict"  # two sources changed it concurrently; the higher in priority prevails (SPEC row 5)
    RE_EVALUATED = "re-evaluated"  # decided again from the shadows (a new mapping, SPEC row 21)
    PROPAGATED = "propagated"  # a target given a source's new value
    OVERWRITTEN = "overwritten"  # a target's own edit put back (SPEC rows 2, 3)
    RE_ASSERTED = "re-asserted"  # a push source synced the record; targets brought back in line (SPEC row 8)
    FILLED = "filled"  # a newly linked blank filled
    REALIGNED = "realigned"  # a newly linked or re-evaluated target brought in line
    DEFERRED = "deferred"  # a reference not resolvable yet (SPEC row 13)
    LIFECYCLE = "lifecycle"  # deactivated, reactivated or removed (SPEC row 15)
    CREATE = "create"  # an account will be created
    CREATED = "created"  # an account was created
    RELINKED = "relinked"  # an administrator attached an account to a person, or detached it (a wrong match)
    # verdicts that change nothing (never recorded as a Decision)
    AGREED = "agreed"  # the source shows the golden value
    KEPT = "kept"  # the golden value stands
    ON_CREATE = "on_create"  # apply: on_create, the target is left to its owner (SPEC row 19)
    IF_EMPTY = "if_empty"  # apply: if_empty, the target is not blank (SPEC row 19)
    MEMBERS = "members"  # group members written to a target as adds and removes (SPEC row 17)


class ApplyMode(StrEnum):
    """When a field's golden value is written to a target (SPEC row 19)."""

    ALWAYS = "always"  # whenever it differs
    ON_CREATE = "on_create"  # only in the account the bridge creates, then left to its owner
    IF_EMPTY = "if_empty"  # only into a blank, never over a value
    ADD_ONLY = "add_only"  # a set (group members): values added, and only those the bridge added ever removed


@dataclass(slots=True, kw_only=True)
class Decision:
    """Why one field has the value it has. `rule` is its code; `str()` is the one-line explanation."""

    record_id: str
    field: str
    old: Value
    new: Value
    rule: Rule
    system: str | None  # the system whose value decided (None when nothing decided)
    conflict: bool = False
    detail: str = ""

    def __str__(self) -> str:
        if self.rule == "members":  # old: the members removed, new: those added (in the target's own form)
            return f"{self.field}: add {_show(self.new)}, remove {_show(self.old)} ({self.detail})"
        head = f"{self.field}: {_show(self.old)} -> {_show(self.new)}" if self.old != self.new \
            else f"{self.field}: {_show(self.new)} kept"
        return f"{head} ({self.detail or self.rule})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id, "field": self.field, "old": _jsonable_value(self.old),
            "new": _jsonable_value(self.new), "rule": str(self.rule), "system": self.system,
            "conflict": self.conflict, "detail": self.detail,
        }



_new_object = object.__new__


def decision(*, record_id: str, field: str, old: Value, new: Value, rule: Rule, system: str | None,
             conflict: bool = False, detail: str = "") -> Decision:
    """`Decision(...)`, the same object, built at a third of the cost: the engine records one per field it
    decides. Calling a class with keyword arguments goes through `type.__call__`, which packs them into a dict
    and unpacks them again for `__init__`; a plain function takes them as they are. Keep it in step with the
    fields of `Decision` (tests/unit/test_precedence.py checks it)."""
    d = _new_object(Decision)
    d.record_id = record_id
    d.field = field
    d.old = old
    d.new = new
    d.rule = rule
    d.system = system
    d.conflict = conflict
    d.detail = detail
    return d

def _show(v: Value) -> str:
    if v is None:
        return "(blank)"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return repr(v)


def _jsonable_value(v: Value) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _jsonable(d: dict[str, Value]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _as_is(d: dict[str, Value]) -> dict[str, Value]:
    return d


def _tupled(d: dict[str, Any]) -> dict[str, Value]:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
