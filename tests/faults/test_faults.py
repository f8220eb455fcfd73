"""The fault drill (issue 11, item 9) as assertions: each fault kind is run once per session (`drill.py`), and
each (fault kind, category) below asserts 0. A category that fails today is `xfail(strict=True)` with what
fails, where, and its smallest reproducing case: it turns red when fixed, so remove the mark then. (None is
marked today: every category below holds.)

Counts and the smallest cases: `PYTHONPATH=$PWD/layers/peoplesync:$PWD/tools python3 -m tests.faults.report`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

import pytest

from . import drill
from .drill import Sweep

SWEEPS: dict[str, Callable[[], Sweep]] = dict(zip(
    ("crash", "throttle", "crash_together", "messages", "targets", "stale", "persistent"),
    drill.sweep_makers(), strict=True))


@cache
def sweep(name: str) -> Sweep:
    quiet = logging.getLogger("peoplesync")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # thousands of retries and dead letters, on purpose: not worth a log line
    try:
        return SWEEPS[name]()
    finally:
        quiet.setLevel(level)  # later tests read these logs


def xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    # crash (BaseException) at every store/queue call position of the change sync
    ("crash", "lost", None), ("crash", "wrong_deactivations", None), ("crash", "reverted", None),
    ("crash", "records_differ", None), ("crash", "unsettled", None), ("crash", "polls_raised", None),
    ("crash", "dead_letters_without_reason", None),
    ("crash", "duplicates", None), ("crash", "repeated", None),
    ("crash", "redundant", None),
    # an ordinary exception (a throttled store or queue) at every position
    ("throttle", "lost", None), ("throttle", "wrong_deactivations", None), ("throttle", "reverted", None),
    ("throttle", "records_differ", None), ("throttle", "unsettled", None), ("throttle", "polls_raised", None),
    ("throttle", "dead_letters_without_reason", None),
    ("throttle", "duplicates", None), ("throttle", "repeated", None),
    # crash at every position with every system polled before the queues drain. `repeated` is not asserted
    # here: a crashed poll runs at the next schedule, which legitimately splits a create into create + update
    ("crash_together", "lost", None), ("crash_together", "wrong_deactivations", None),
    ("crash_together", "reverted", None), ("crash_together", "records_differ", None),
    ("crash_together", "unsettled", None),
    ("crash_together", "duplicates", None),
    ("crash_together", "redundant", None),
    # duplicated, delayed, dropped-then-redelivered, reordered messages (300 seeds)
    ("messages", "lost", None), ("messages", "duplicates", None), ("messages", "wrong_deactivations", None),
    ("messages", "records_differ", None), ("messages", "unsettled", None),
    ("messages", "dead_letters_without_reason", None),
    ("messages", "repeated", None), ("messages", "redundant", None),
    ("messages", "reverted", None),
    # targets: 429 + Retry-After, 5xx, timeouts and resets (before or after applying), 200 seeds
    ("targets", "lost", None), ("targets", "wrong_deactivations", None), ("targets", "reverted", None),
    ("targets", "records_differ", None), ("targets", "unsettled", None),
    ("targets", "dead_letters_without_reason", None),
    ("targets", "repeated", None), ("targets", "redundant", None),
    ("targets", "duplicates", None), ("targets", "retry_after_ignored", None),
    # stale reads after the bridge's own writes; schedules firing together
    ("stale", "lost", None), ("stale", "duplicates", None), ("stale", "wrong_deactivations", None),
    ("stale", "records_differ", None), ("stale", "unsettled", None),
    ("stale", "reverted", None), ("stale", "repeated", None),
    # a target failing every time for one account: dead-lettered, each letter saying why
    ("persistent", "wrong_deactivations", None), ("persistent", "duplicates", None),
    ("persistent", "dead_letters_without_reason", None),
    ("persistent", "retry_after_ignored", None),
]


@pytest.mark.parametrize("kind,category", [
    pytest.param(kind, category, id=f"{kind}-{category}", marks=[xfail(reason)] if reason else [])
    for kind, category, reason in CASES])
def test_the_drill_ends_as_the_clean_run(kind: str, category: str) -> None:
    result = sweep(kind)
    assert result.cases > 0
    assert result.totals.get(category, 0) == 0, (
        f"{category}: {result.totals[category]} in {result.cases_with[category]} of {result.cases} cases; "
        f"smallest: {result.first.get(category)}")


def test_every_position_of_the_change_sync_is_tried() -> None:
    clean = drill.clean()
    assert clean.positions > 50 and clean.settled
    assert sweep("crash").cases == clean.positions
    assert sweep("crash_together").cases == drill.clean(True).positions


def test_the_clean_run_makes_the_changes_and_nothing_else() -> None:
    end = drill.clean().end
    cloud, ad = end.accounts["cloud"], end.accounts["ad"]
    assert dict(cloud["E2"][0][1])["title"] == "Principal 2"
    assert dict(cloud["E3"][0][1])[drill.PHONE] == drill.EDITED_PHONE
    assert dict(ad["E3"][0][1])["telephoneNumber"] == drill.EDITED_PHONE
    assert not cloud["E6"][0][0] and not ad["E6"][0][0]
    assert len(cloud["E7"]) == 1 and dict(cloud["E7"][0][1])["manager"] == "E1"
    assert end.writes == {"hr": 0, "ad": 2, "cloud": 4}
