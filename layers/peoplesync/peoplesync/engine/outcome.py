"""What one engine call produced, and the small helpers the engine's parts share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import Decision, RecordState

MISSING: Any = object()  # "no value known", as opposed to a blank value (None)


@dataclass(slots=True)
class Outcome:
    state: RecordState
    writes: set[str] = field(default_factory=set)  # systems with something new to deliver for this record
    decisions: list[Decision] = field(default_factory=list)
    changed: bool = False  # the state must be saved
    stale: bool = False  # the observation was older than what we have, or a duplicate: nothing applied
    wake: set[str] = field(default_factory=set)  # records to re-evaluate (they were waiting for this one)

    @property
    def conflicts(self) -> int:
        return sum(1 for d in self.decisions if d.conflict)


def blank(v: Any) -> bool:
    return v is None or v == "" or v == ()


def orig(v: Any) -> Any:
    return None if v is MISSING else v
