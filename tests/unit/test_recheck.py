"""`seen.Recheck`: the accounts a read that may have shifted did not list, re-read before anyone is concluded
gone. What a user relies on: only what the system answers is concluded; any failure to ask concludes nothing."""

from __future__ import annotations

from typing import Any

from peoplesync.model import GROUP, PERSON, Observation
from peoplesync.ports import ReadResult
from peoplesync.service.seen import Recheck


def gone(*keys: str, kind: str = PERSON) -> list[Observation]:
    return [Observation("cloud", k, {}, active=False, removed=True, kind=kind) for k in keys]


class Answers:
    def __init__(self, *observations: Observation) -> None:
        self.observations, self.asked = list(observations), []  # type: list[Observation], list[list[str]]

    def read_keys(self, keys: list[str]) -> ReadResult:
        self.asked.append(list(keys))
        return ReadResult(self.observations)


def test_given_the_system_answers_then_only_the_accounts_asked_about_are_passed_on_as_answered() -> None:
    there = Observation("cloud", "u2", {"email": "b@corp.example"}, active=True)
    other_kind = Observation("cloud", "u1", {}, active=True, kind=GROUP)  # a group sharing a key
    connector = Answers(gone("u1")[0], there, other_kind, Observation("cloud", "u9", {}, active=True))

    confirmed = Recheck(lambda: connector, "cloud").confirm(gone("u1", "u2"))  # type: ignore[arg-type,return-value]

    assert connector.asked == [["u1", "u2"]]
    assert [(o.key, o.removed, o.kind) for o in confirmed] == [("u1", True, PERSON), ("u2", False, PERSON)]


def test_given_no_way_to_ask_then_nobody_is_concluded_gone() -> None:
    def denied() -> Any:
        raise RuntimeError("AccessDenied: secretsmanager:GetSecretValue")

    class CannotReRead:
        def read_keys(self, keys: list[str]) -> None:
            return None

    assert Recheck(denied, "cloud").confirm(gone("u1")) == []  # the connector could not even be made
    assert Recheck(lambda: None, "cloud").confirm(gone("u1")) == []
    assert Recheck(lambda: CannotReRead(), "cloud").confirm(gone("u1")) == []  # type: ignore[arg-type,return-value]
