"""A paged poll through the deployed shape (the real poll handler, DynamoDB and SQS on moto): each invocation
has no time to spare (the test context's 60 s remaining is all margin: a budget of 0), so it takes one page and
hands the rest on (`bootstrap.hand_over`, here captured and invoked as Lambda would). An approval given to the
poll holds for the whole run, through every hand-over (issue 14, item 2): the held accounts on later pages flow
too, and nothing is held again on the way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.ports import ReadPage
from peoplesync_dev.memory import MemoryConnector
from tests.e2e.conftest import Cloud
from tests.unit.conftest import config, hire


class PagedMemory(MemoryConnector):
    """The in-memory directory, read in pages of `page_size` keys (the position: the last key read)."""

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        keys = sorted(self.accounts)
        if page_size is None:
            yield ReadPage([self.observation(k) for k in keys], last=True, complete=True)
            return
        ahead = [k for k in keys if start is None or k > start]
        while len(ahead) > page_size:
            page, ahead = ahead[:page_size], ahead[page_size:]
            yield ReadPage([self.observation(k) for k in page], position=page[-1])
        yield ReadPage([self.observation(k) for k in ahead], last=True, complete=True)


@pytest.fixture
def cloud(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    cloud = Cloud(config(policies={"max_changes_per_run": "10%"}))
    ad = PagedMemory("ad", cloud["ad"].attributes)
    cloud.systems["ad"] = ad
    cloud.runtime = cloud._runtime()
    for n in range(1, 21):
        hire(cloud, n)
    cloud.sync()
    return cloud


def paged_poll(cloud: Cloud, monkeypatch: pytest.MonkeyPatch, **event: Any) -> list[dict[str, Any]]:
    """The poll invoked once, then every hand-over it makes, until the run ends."""
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "hand_over", lambda arn, e: handed.append(e))
    answers = [dict(cloud.poll_fn.handler({"system": "ad", "page_size": 4, **event}, _context(), rt=cloud.runtime))]
    while handed:
        answers.append(cloud.poll_fn.handler(handed.pop(0), _context(), rt=cloud.runtime))
    return answers


def _context() -> Any:
    from tests.e2e.conftest import Context

    context = Context()
    context.remaining_ms = 60_000  # all of it the margin kept back: a budget of 0, one page an invocation
    return context


def reorganise(cloud: Cloud) -> str:
    """Seven of twenty AD titles change at once (above 10%): the poll holds them. The hold's id."""
    for n in range(1, 8):
        cloud["ad"].set(f"guid-{n}", title="Reorganised")
    reports = {r["system"]: r for r in cloud.sync()}
    assert reports["ad"]["held"] and reports["ad"]["queued"] == 0
    [hold_id] = reports["ad"]["holds"]
    return str(hold_id)


@pytest.mark.parametrize("approval", ["all", "by id"])
def test_given_a_held_run_when_the_poll_is_approved_then_the_approval_holds_through_every_hand_over(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch, approval: str) -> None:
    hold_id = reorganise(cloud)

    answers = paged_poll(cloud, monkeypatch, approve=True if approval == "all" else hold_id)
    cloud.drain()

    assert [a["continue"] for a in answers] == [True] * 4 + [False]  # 20 accounts, 4 a page: handed over 4 times
    assert len({a["run"] for a in answers}) == 1
    assert all(a["held"] is None and a["holds"] == [] for a in answers)  # nothing held again on the way
    assert [cloud["cloud"].get(f"u{n}", "title") for n in range(1, 8)] == ["Reorganised"] * 7
    assert [r for r in cloud.store.reviews() if r.get("kind") == "run"] == []
    assert sum(len(a["released"]) for a in answers) == 1  # released once, when the run was over


def test_given_a_held_run_when_the_paged_poll_is_not_approved_then_the_hold_stays_on_every_page(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    hold_id = reorganise(cloud)

    answers = paged_poll(cloud, monkeypatch)
    cloud.drain()

    assert [a["holds"] for a in answers][-1] == [hold_id]
    assert [cloud["cloud"].get(f"u{n}", "title") for n in range(1, 8)] == [f"Title {n}" for n in range(1, 8)]
