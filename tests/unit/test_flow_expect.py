"""`flow.expect`: before a chunk of reconcile messages the store is told which accounts the observations are
(SQLite reads their links in one go). Only well-formed observations are named; anything else is left for
`reconcile_message` to refuse (dead-letter) as before, never an error here."""

from __future__ import annotations

from typing import Any

from peoplesync.engine.correlation import new_record_id
from peoplesync.model import Observation
from peoplesync.service import flow, messages


class Recording:
    def __init__(self) -> None:
        self.expected: list[tuple[str, str, str]] = []
        self.records: list[str] = []

    def expect_links(self, links: Any) -> None:
        self.expected += list(links)

    def expect_records(self, record_ids: Any) -> None:
        self.records += list(record_ids)


class Reconciler:
    def __init__(self) -> None:
        self.store = Recording()


def test_given_a_chunk_of_messages_then_the_observations_links_are_expected_and_the_rest_ignored() -> None:
    batch = [*messages.observed([Observation("hr", "E1", {}), Observation("ad", "g1", {}, kind="group")]),
             *messages.reevaluate({"p-1"}),
             {"type": "observation", "observation": {"system": 7, "key": "x"}},  # malformed: poison later
             {"type": "observation", "observation": "not a mapping"},
             {"type": "observation"},
             {"type": "reread", "system": "hr", "keys": ["E9"]}]
    reconciler = Reconciler()
    flow.expect(batch, reconciler)  # type: ignore[arg-type]
    assert reconciler.store.expected == [("person", "hr", "E1"), ("group", "ad", "g1")]
    # and the records those accounts would make, were they new (correlation's UNMATCHED loads that id)
    assert reconciler.store.records == [new_record_id("person", "hr", "E1"), new_record_id("group", "ad", "g1")]
