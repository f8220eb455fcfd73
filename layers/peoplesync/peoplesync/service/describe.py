"""People, values and writes as an administrator reads them: by name and match keys (never only a record id
like `p-04ae...`), and values as the system stores them (no Python quoting, no doubled backslashes). Used by
the guard's holds and by the command line's `plan`, `explain` and `reviews`; no output library here (the
Lambda functions use it too)."""

from __future__ import annotations

from typing import Any

from ..config import Plan
from ..model import RecordState, Write

NAME_FIELDS = ("name", "display_name", "displayname", "full_name", "fullname", "cn")


def shown(value: Any) -> str:
    """A value as stored: text as it is, a list one item after another, nothing as `(blank)`."""
    if value is None or value == "" or value == ():
        return "(blank)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_name_field(name: str) -> bool:
    low = name.lower()
    return low in NAME_FIELDS or low.startswith("name.")


def person_label(plan: Plan, state: RecordState | None, fallback: str = "") -> str:
    """"Alan Turing (E102, alan.turing@example.com)": name fields, then the match keys; the record id only
    when the record holds neither."""
    if state is None:
        return fallback or "(unknown person)"
    rules = plan.match.get(state.kind, [])
    keys = [shown(state.golden[r]) for r in rules if state.golden.get(r) not in (None, "", ())]
    fields = plan.fields.get(state.kind, {})
    names = [shown(state.golden[n]) for n in fields
             if is_name_field(n) and n not in rules and state.golden.get(n) not in (None, "", ())]
    name = " ".join(names)
    if name and keys:
        return f"{name} ({', '.join(keys)})"
    return name or ", ".join(keys) or fallback or state.id


def write_text(write: Write) -> str:
    """"cloud update title=Head of Hut 8, mail=a@b" / "ad deactivate" / "cloud create name=..."."""
    attrs = ", ".join([f"{k}={shown(v)}" for k, v in sorted(write.attrs.items())]  # group members: +adds -removes
                      + [f"{k} +{shown(d['add'])} -{shown(d['remove'])}" for k, d in sorted(write.delta.items())])
    return f"{write.system} {write.op}" + (f" {attrs}" if attrs else "")
