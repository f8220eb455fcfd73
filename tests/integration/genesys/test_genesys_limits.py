"""The platform's limits, against the stand-in: the request budget, 429 with Retry-After, 5xx, token expiry."""

from __future__ import annotations

import threading
import time

import pytest

from peoplesync.connectors.ratelimit import MemoryBucketStore
from peoplesync.model import Write
from peoplesync.ports import TransientError

from .conftest import SimClock


def write_titles(connector, ids: list[str], title: str = "Director") -> None:
    for uid in ids:
        connector.write(Write("cloud", "update", f"r-{uid}", uid, {"title": title}))


def test_given_a_budget_equal_to_the_platforms_when_400_users_are_written_then_none_is_refused(
        cloud_factory, clock: SimClock) -> None:
    cloud = cloud_factory(budget_per_minute=300)
    ids = [cloud.hire(n) for n in range(400)]
    connector = cloud.connector(requests_per_minute=300)
    connector.read(full=True)
    start = clock.now
    write_titles(connector, ids)
    assert cloud.standin.stats["429"] == 0
    assert all(cloud.standin.users[u]["title"] == "Director" for u in ids)
    minutes = (clock.now - start) / 60
    assert 400 / 300 - 0.02 <= minutes <= 400 / 300 + 0.02


def test_given_a_client_budget_five_times_too_high_when_writing_then_429s_are_rare_and_nothing_is_lost(
        cloud_factory, clock: SimClock) -> None:
    """A 429 storm averted: each Retry-After pauses the whole budget, so about one request per window is
    refused instead of every request after the limit."""
    cloud = cloud_factory(budget_per_minute=60)
    ids = [cloud.hire(n) for n in range(150)]
    connector = cloud.connector(requests_per_minute=300)
    connector.read(full=True)
    start = clock.now
    write_titles(connector, ids)
    assert all(cloud.standin.users[u]["title"] == "Director" for u in ids)
    assert 1 <= cloud.standin.stats["429"] <= 3
    assert clock.now - start >= 60 * 2  # 151 requests at 60 a minute: beyond two full windows


def test_given_a_retry_after_longer_than_the_caller_may_wait_then_the_write_is_given_back(
        cloud_factory, clock: SimClock) -> None:
    cloud = cloud_factory(budget_per_minute=2)
    ids = [cloud.hire(n) for n in range(3)]
    connector = cloud.connector(requests_per_minute=600, max_retry_after=10)
    connector.read(full=True)
    write_titles(connector, ids[:1])
    with pytest.raises(TransientError) as err:
        write_titles(connector, ids[1:2])
    assert err.value.retry_after is not None and err.value.retry_after > 10


def test_given_two_503s_when_writing_then_the_write_lands_after_backing_off(cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.read(full=True)
    cloud.standin.fail_next(2, 503, method="PATCH")
    write_titles(connector, [uid])
    assert cloud.standin.users[uid]["title"] == "Director"
    assert connector.api.http.stats["retries"] == 2
    assert cloud.clock.slept > 0  # backoff waited (on the simulated clock)


def test_given_a_target_that_keeps_failing_then_a_transient_error_carries_the_reason(cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector(max_retries=3)
    connector.read(full=True)
    cloud.standin.fail_next(10, 503, method="PATCH")
    with pytest.raises(TransientError, match="503 after 4 attempt"):
        write_titles(connector, [uid])
    assert cloud.standin.users[uid]["title"] == "Title 1"


def test_given_a_create_answered_with_a_5xx_then_it_is_not_repeated(cloud) -> None:
    cloud.standin.fail_next(1, 502, method="POST")
    with pytest.raises(TransientError):
        cloud.connector().write(Write("cloud", "create", "r", None, {"name": "N", "email": "n@corp.example"}))
    # one create POST; the other POST is the users search that checked whether it had landed (it had not)
    assert cloud.standin.stats["POST requests"] - cloud.standin.stats["searches"] == 1
    assert cloud.standin.stats["searches"] == 1 and not cloud.standin.users


def test_given_a_token_near_expiry_when_the_run_goes_on_then_it_is_renewed_before_any_401(
        cloud_factory, clock: SimClock) -> None:
    cloud = cloud_factory(token_ttl=20)
    ids = [cloud.hire(n) for n in range(30)]
    connector = cloud.connector(requests_per_minute=60, page_size=3)  # one request a second
    result = connector.read(full=True)  # 10 pages, 10 s
    write_titles(connector, ids)  # 30 more seconds: the token expires twice during the run
    assert result.complete and len(result.observations) == 30
    assert cloud.standin.stats["401"] == 0
    assert cloud.standin.stats["tokens issued"] >= 3


def test_given_a_token_revoked_mid_run_then_one_401_leads_to_a_new_token_and_the_write_lands(cloud) -> None:
    ids = [cloud.hire(n) for n in range(2)]
    connector = cloud.connector()
    connector.read(full=True)
    write_titles(connector, ids[:1])
    cloud.standin.revoke_tokens()
    write_titles(connector, ids[1:])
    assert cloud.standin.users[ids[1]]["title"] == "Director"
    assert (cloud.standin.stats["401"], cloud.standin.stats["tokens issued"]) == (1, 2)


def test_given_a_token_cached_in_the_process_then_a_new_connector_reuses_it(cloud) -> None:
    cloud.hire(1)
    cloud.connector().read(full=True)
    cloud.connector().read(full=True)  # a warm Lambda builds a new connector per invocation
    assert cloud.standin.stats["tokens issued"] == 1


def _deliver_concurrently(cloud, ids: list[str], stores: list[MemoryBucketStore], per_minute: int) -> float:
    connectors = [cloud.connector(real_clock=True, store=s, requests_per_minute=per_minute) for s in stores]
    for c in connectors:
        c.read(full=True)
    start = time.monotonic()
    errors: list[BaseException] = []

    def run(connector, chunk: list[str]) -> None:
        try:
            write_titles(connector, chunk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    n = len(connectors)
    threads = [threading.Thread(target=run, args=(c, ids[i::n])) for i, c in enumerate(connectors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return time.monotonic() - start


def test_given_four_concurrent_deliveries_sharing_the_budget_then_the_platform_refuses_none(
        cloud_factory) -> None:
    cloud = cloud_factory(real_clock=True, budget_per_minute=20, window=1.0)  # 20 per second
    ids = [cloud.hire(n) for n in range(36)]
    shared = MemoryBucketStore()
    # 15/s shared by four workers, against 20/s allowed: the margin absorbs scheduling jitter
    elapsed = _deliver_concurrently(cloud, ids, [shared] * 4, per_minute=15 * 60)
    assert all(cloud.standin.users[u]["title"] == "Director" for u in ids)
    assert cloud.standin.stats["429"] == 0
    assert elapsed >= 36 / 15 - 0.5


def test_given_four_deliveries_each_with_its_own_budget_then_the_platform_refuses_some_but_none_is_lost(
        cloud_factory) -> None:
    cloud = cloud_factory(real_clock=True, budget_per_minute=20, window=1.0)
    ids = [cloud.hire(n) for n in range(36)]
    _deliver_concurrently(cloud, ids, [MemoryBucketStore() for _ in range(4)], per_minute=15 * 60)
    assert all(cloud.standin.users[u]["title"] == "Director" for u in ids)
    assert cloud.standin.stats["429"] > 0  # 60/s offered against 20/s: this is what sharing prevents
