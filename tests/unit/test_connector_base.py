"""The connector base: the read template, the cursor codec, construction from a system's configuration, the
retry policy, the paging helper and the OAuth token cache. No network, no clock: everything is injected."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from peoplesync.config import SystemConfig
from peoplesync.connectors.base import (
    BaseConnector,
    ClientCredentials,
    Harvest,
    Page,
    Retry,
    RetryPolicy,
    decode_cursor,
    encode_cursor,
    fingerprint,
    forget_tokens,
    page_all,
)
from peoplesync.connectors.ratelimit import MemoryBucketStore
from peoplesync.model import Observation, Write
from peoplesync.ports import PermanentError, ReadFailed, TransientError, WriteResult


# --- a connector on the base --------------------------------------------------------------------------------
class ToySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    table: str = "people"


class Toy(BaseConnector):
    Settings = ToySettings
    credential_keys = ("token",)
    cursor_version = 2

    def __init__(self, name: str, settings: Any, attributes: Any, *, rows: dict[str, str] | None = None,
                 fail: Exception | None = None, **kw: Any) -> None:
        self.token = (kw.get("credentials") or {}).get("token")
        super().__init__(name, settings, attributes, **kw)
        self.rows = rows if rows is not None else {"1": "a", "2": "b"}
        self.fail = fail
        self.calls: list[Any] = []
        self.sessions = 0

    @contextmanager
    def _session(self) -> Iterator[None]:
        self.sessions += 1
        try:
            yield
        finally:
            self.sessions -= 1

    def _translate(self, exc: Exception) -> Any:
        return TransientError(f"socket: {exc}") if isinstance(exc, ConnectionError) else None

    def _scope(self) -> str:
        return fingerprint(self.settings.table, self.attributes)

    def _obs(self, key: str) -> Observation:
        return Observation(self.name, key, {"v": self.rows[key]})

    def _read_full(self) -> Harvest:
        self.calls.append("full")
        if self.fail is not None:
            raise self.fail
        return Harvest([self._obs(k) for k in self.rows], complete=True, state={"seen": dict(self.rows)})

    def _read_delta(self, state: dict[str, Any]) -> Harvest | None:
        self.calls.append(("delta", state))
        if state.get("seen") is None:
            return None
        changed = [self._obs(k) for k, v in self.rows.items() if state["seen"].get(k) != v]
        return Harvest(changed, state={"seen": dict(self.rows)})

    def _apply(self, change: Write) -> WriteResult:
        if self.fail is not None:
            raise self.fail
        return WriteResult(change.key)


def toy(**kw: Any) -> Toy:
    return Toy("hr", {"table": kw.pop("table", "people")}, kw.pop("attributes", ["v"]), **kw)


def test_given_no_cursor_then_the_read_is_full_and_leaves_a_versioned_scoped_cursor() -> None:
    connector = toy()
    result = connector.read()
    assert connector.calls == ["full"] and result.complete and len(result.observations) == 2
    assert decode_cursor(result.cursor, version=2, scope=fingerprint(connector._scope())) == \
        {"seen": {"1": "a", "2": "b"}}


def test_given_a_cursor_then_the_delta_sees_its_state_and_reports_only_changes() -> None:
    connector = toy()
    cursor = connector.read().cursor
    connector.rows["2"] = "B"
    delta = connector.read(cursor)
    assert [o.key for o in delta.observations] == ["2"] and not delta.complete
    assert connector.calls[-1] == ("delta", {"seen": {"1": "a", "2": "b"}})


@pytest.mark.parametrize("change", ["attributes", "table", "version", "garbage", "full"])
def test_given_a_cursor_that_is_not_this_reads_then_the_read_is_full(change: str) -> None:
    cursor = toy().read().cursor
    assert cursor is not None
    connector = {"attributes": lambda: toy(attributes=["v", "w"]), "table": lambda: toy(table="other")}.get(
        change, toy)()
    if change == "version":
        connector.cursor_version = 3
    if change == "garbage":
        cursor = "not a cursor"
    result = connector.read(cursor, full=change == "full")
    assert connector.calls == ["full"] and result.complete


def test_given_a_delta_that_cannot_go_on_from_its_state_then_a_full_read_follows() -> None:
    connector = toy()
    cursor = encode_cursor({"seen": None}, version=2, scope=fingerprint(connector._scope()))
    assert connector.read(cursor).complete
    assert connector.calls == [("delta", {"seen": None}), "full"]


def test_given_library_and_own_errors_then_reads_fail_as_read_failed_naming_the_system() -> None:
    with pytest.raises(ReadFailed, match="hr: socket: reset") as failure:
        toy(fail=ConnectionError("reset")).read()
    assert isinstance(failure.value.__cause__, ConnectionError)
    with pytest.raises(ReadFailed, match=r"^hr: down$"):
        toy(fail=TransientError("down")).read()
    with pytest.raises(ReadFailed, match=r"^system 'hr' has no table$"):  # named once, not twice
        toy(fail=PermanentError("system 'hr' has no table")).read()


def test_given_an_error_the_connector_does_not_recognise_then_it_is_raised_as_it_is() -> None:
    connector = toy(fail=KeyError("bug"))
    with pytest.raises(KeyError):
        connector.read()
    assert connector.sessions == 0  # the session was closed all the same


def test_given_a_library_error_in_a_write_then_it_is_translated() -> None:
    with pytest.raises(TransientError, match="socket"):
        toy(fail=ConnectionError("reset")).write(Write("r1", "hr", "update", "1", {"v": "x"}))


def test_given_compression_then_the_cursor_round_trips_and_is_opaque() -> None:
    state = {"hashes": {str(i): "abcdef" for i in range(500)}}
    small = encode_cursor(state, version=1, scope="s", compress=True)
    assert small.startswith("z:") and len(small) < len(encode_cursor(state, version=1, scope="s")) / 4
    assert decode_cursor(small, version=1, scope="s") == state
    assert decode_cursor(small, version=1, scope="t") is None
    with pytest.raises(ValueError):
        encode_cursor({"v": 1}, version=1, scope="s")


# --- from_system --------------------------------------------------------------------------------------------
class Secrets:
    def __init__(self, **secrets: dict[str, Any]) -> None:
        self.secrets = secrets
        self.asked: list[str] = []

    def get(self, name: str) -> dict[str, Any]:
        self.asked.append(name)
        return self.secrets[name]


def test_given_a_system_config_then_settings_credentials_writable_and_buckets_are_handed_over() -> None:
    system = SystemConfig(connector="toy", table="staff", credentials="secret:toy", writable=False)
    buckets = MemoryBucketStore()
    connector = Toy.from_system("hr", system, ["v"], secrets=Secrets(toy={"token": "t"}), buckets=buckets,
                                rows={"9": "z"})
    assert connector.settings == ToySettings(table="staff") and connector.token == "t"
    assert not connector.writable and connector.buckets is buckets and connector.rows == {"9": "z"}
    plain = Toy.from_system("hr", {"connector": "toy", "credentials": "secret:toy"}, ["v"],
                            secrets=Secrets(toy={"token": "t"}))
    assert plain.writable and plain.settings.table == "people" and plain.buckets is None


def test_given_a_secret_without_the_declared_keys_then_construction_is_refused() -> None:
    with pytest.raises(PermanentError, match="must hold token"):
        Toy.from_system("hr", {"connector": "toy", "credentials": "secret:toy"}, ["v"],
                        secrets=Secrets(toy={"user": "u"}))
    with pytest.raises(PermanentError, match="no secrets store"):
        Toy.from_system("hr", {"connector": "toy", "credentials": "secret:toy"}, ["v"])

    class Strict(Toy):
        credentials_required = True

    with pytest.raises(PermanentError, match=r"credentials \(secret:<name> holding token\) are required"):
        Strict.from_system("hr", {"connector": "toy"}, ["v"])


# --- retry ----------------------------------------------------------------------------------------------------
class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def retry_transient(exc: Exception) -> Retry | None:
    return Retry(getattr(exc, "retry_after", None)) if isinstance(exc, TransientError) else None


def test_backoff_is_exponential_with_equal_jitter_capped_and_retry_after_wins() -> None:
    policy = RetryPolicy(attempts=10, base=1.0, cap=8.0, rng=random.Random(7))
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 8.0)]:
        for _ in range(50):
            assert step / 2 <= policy.delay(attempt) <= step
    assert policy.delay(3, retry_after=42.0) == 42.0


def test_given_transient_failures_then_the_op_is_retried_with_the_policys_waits() -> None:
    slept: list[float] = []
    op = Flaky([TransientError("a"), TransientError("b", retry_after=5)])
    policy = RetryPolicy(attempts=3, base=1.0, rng=random.Random(1))
    assert policy.run(op, retryable=retry_transient, sleep=slept.append) == "ok"
    assert op.calls == 3 and 0.5 <= slept[0] <= 1.0 and slept[1] == 5


def test_given_an_error_that_is_not_retryable_then_it_is_raised_at_once() -> None:
    op = Flaky([PermanentError("no")])
    with pytest.raises(PermanentError):
        RetryPolicy(attempts=5).run(op, retryable=retry_transient, sleep=lambda _: None)
    assert op.calls == 1


def test_given_the_attempts_spent_then_a_transient_error_carries_the_retry_after() -> None:
    op = Flaky([TransientError("busy", retry_after=3) for _ in range(3)])
    with pytest.raises(TransientError, match=r"busy \(after 3 attempt\(s\)\)") as failure:
        RetryPolicy(attempts=3).run(op, retryable=retry_transient, sleep=lambda _: None)
    assert failure.value.retry_after == 3


def test_given_a_retry_after_longer_than_the_policy_waits_then_it_is_given_back_at_once() -> None:
    op = Flaky([TransientError("later", retry_after=600)])
    with pytest.raises(TransientError) as failure:
        RetryPolicy(attempts=5, max_retry_after=120).run(op, retryable=retry_transient, sleep=lambda _: None)
    assert op.calls == 1 and failure.value.retry_after == 600


def test_given_on_retry_that_arranges_the_wait_then_the_policy_does_not_sleep() -> None:
    seen: list[tuple[int, float]] = []
    slept: list[float] = []

    def deferred(exc: Exception, attempt: int, delay: float) -> bool:
        seen.append((attempt, delay))
        return True

    op = Flaky([TransientError("x", retry_after=2), TransientError("y", retry_after=4)])
    RetryPolicy(attempts=3).run(op, retryable=retry_transient, sleep=slept.append, on_retry=deferred)
    assert seen == [(1, 2), (2, 4)] and slept == []


def test_given_give_up_then_it_makes_the_final_error() -> None:
    op = Flaky([TransientError("503")])
    with pytest.raises(PermanentError, match="gave up after 1"):
        RetryPolicy(attempts=1).run(op, retryable=retry_transient,
                                    give_up=lambda exc, n, r: PermanentError(f"gave up after {n}"))


# --- paging ---------------------------------------------------------------------------------------------------
def pages(*listing: tuple[list[str], int | None]) -> Any:
    def fetch(number: int) -> Page[str]:
        items, total = listing[number - 1]
        return Page(items, total, number + 1 if number < len(listing) else None)
    return fetch


def test_given_pages_that_add_up_to_the_total_then_the_listing_is_complete() -> None:
    paged = page_all(pages((["a", "b"], 3), (["c"], 3)), key=str)
    assert paged.items == ["a", "b", "c"] and paged.complete and paged.totals == (3, 3)


@pytest.mark.parametrize("listing", [
    [(["a", "b"], 3), (["b", "c"], 4)],  # someone was added meanwhile: the total moved
    [(["a", "b"], 3), (["b"], 3)],  # a page shifted: "b" twice, someone skipped
    [(["a", "b"], None), (["c"], None)],  # no total announced: nothing proves the listing whole
])
def test_given_a_listing_that_moved_or_cannot_be_checked_then_it_is_not_complete(listing: list[Any]) -> None:
    assert not page_all(pages(*listing), key=str).complete


def test_given_a_listing_that_never_ends_then_paging_stops() -> None:
    with pytest.raises(ReadFailed, match="more than 5 pages"):
        page_all(lambda n: Page([str(n)], None, n + 1), key=str, max_pages=5)


# --- OAuth ------------------------------------------------------------------------------------------------------
class Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self._body, self.text = status, body, str(body)

    def json(self) -> dict[str, Any]:
        return self._body


class TokenEndpoint:
    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.posts: list[dict[str, Any]] = []

    def post(self, url: str, **kw: Any) -> Answer:
        self.posts.append({"url": url, **kw})
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture(autouse=True)
def _no_tokens() -> Iterator[None]:
    forget_tokens()
    yield
    forget_tokens()


def token(n: int, life: int = 1000) -> Answer:
    return Answer(200, {"access_token": f"t{n}", "expires_in": life})


def test_given_client_credentials_then_the_token_is_cached_until_a_margin_before_it_expires() -> None:
    now = [0.0]
    endpoint = TokenEndpoint(token(1), token(2))
    creds = ClientCredentials("https://login/oauth/token", "cid", "sec", session=endpoint, clock=lambda: now[0])
    assert creds.headers() == {"Authorization": "Bearer t1"}
    now[0] = 899.0
    other = ClientCredentials("https://login/oauth/token", "cid", "sec", session=endpoint, clock=lambda: now[0])
    assert other.headers() == {"Authorization": "Bearer t1"}  # shared by every user of the client
    now[0] = 900.0  # 10% of the life before it ends
    assert creds.headers() == {"Authorization": "Bearer t2"}
    assert endpoint.posts[0]["auth"] == ("cid", "sec")
    assert endpoint.posts[0]["data"] == {"grant_type": "client_credentials"}


def test_given_a_401_then_invalidate_makes_the_next_call_fetch_a_new_token() -> None:
    endpoint = TokenEndpoint(token(1), token(2))
    creds = ClientCredentials("https://login/t", "cid", "sec", session=endpoint)
    creds.headers()
    creds.invalidate()
    assert creds.headers() == {"Authorization": "Bearer t2"} and creds.fetched == 2


def test_given_a_refresh_token_then_it_is_exchanged_and_a_rotated_one_kept() -> None:
    endpoint = TokenEndpoint(Answer(200, {"access_token": "t1", "refresh_token": "r2"}), token(2))
    creds = ClientCredentials("https://wd/token", "cid", "sec", session=endpoint, refresh_token="r1")
    creds.headers()
    creds.invalidate()
    creds.headers()
    assert [p["data"]["refresh_token"] for p in endpoint.posts] == ["r1", "r2"]
    assert endpoint.posts[0]["data"]["client_secret"] == "sec" and "auth" not in endpoint.posts[0]


@pytest.mark.parametrize(("status", "error"), [(401, PermanentError), (400, PermanentError),
                                               (503, TransientError), (429, TransientError)])
def test_given_a_refusal_or_an_outage_then_the_error_says_which(status: int, error: type[Exception]) -> None:
    creds = ClientCredentials("https://login/t", "cid", "sec", name="genesys",
                              session=TokenEndpoint(Answer(status, {"message": "nope"})))
    with pytest.raises(error, match="genesys"):
        creds.headers()
