"""What one engine call produced, and the small helpers the engine's parts share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Decision, RecordState

MISSING: Any = object()  # "no value known", as opposed to a blank value (None)


@dataclass(slots=True, init=False)
class Outcome:
    state: RecordState
    writes: set[str]  # systems with something new to deliver for this record
    decisions: list[Decision]
    changed: bool  # the state must be saved
    stale: bool  # the observation was older than what we have, or a duplicate: nothing applied
    wake: set[str]  # records to re-evaluate (they were waiting for this one)

    def __init__(self, state: RecordState, changed: bool = False) -> None:
        """(Written out: a third cheaper than the generated one with its default factories; every observation
        makes one.)"""
        self.state = state
        self.writes = set()
        self.decisions = []
        self.changed = changed
        self.stale = False
        self.wake = set()

    @property
    def conflicts(self) -> int:
        return sum(1 for d in self.decisions if d.conflict)


def blank(v: Any) -> bool:
    return v is None or v == "" or v == ()


def orig(v: Any) -> Any:
    return None if v is MISSING else v
