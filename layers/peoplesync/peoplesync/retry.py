"""One retry policy: attempts, exponential backoff with equal jitter, Retry-After honoured (and given back to the
caller when longer than it should wait here). Used inside a call by the connectors (HTTP and LDAP alike,
re-exported by `connectors/base.py`) and between calls by the flow (`service/flow.DELIVERY_RETRIES`: how a
delivery comes back through its queue)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .ports import TransientError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Retry:
    """`retryable(exc)` says: try again, after `after` seconds when the other side said (Retry-After)."""

    after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. `attempts` counts every try (1: never retry); `base` is the first
    backoff, doubled each attempt up to `cap`; a Retry-After longer than `max_retry_after` is not waited
    for here: the error goes back (with its `retry_after`) to whoever can wait longer, e.g. the queue."""

    attempts: int = 3
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts counts the first try too: at least 1")

    @classmethod
    def with_retries(cls, retries: int, **kw: Any) -> RetryPolicy:
        """A policy from a `max_retries`-style setting (retries after the first try)."""
        return cls(attempts=retries + 1, **kw)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry). Retry-After when the other
        side gave one; else "equal jitter": half the exponential step plus up to half again, never zero and
        never in lockstep with other clients."""
        if retry_after is not None:
            return max(0.0, retry_after)
        step = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return step / 2 + self.rng.uniform(0, step / 2)

    def run(self, op: Callable[[], T], *, retryable: Callable[[Exception], Retry | None],
            sleep: Callable[[float], None] = time.sleep,
            on_retry: Callable[[Exception, int, float], bool | None] | None = None,
            give_up: Callable[[Exception, int, Retry], Exception] | None = None) -> T:
        """`op()`, retried while `retryable(exc)` returns a `Retry` (None: not retryable, re-raised as is).

        Before each retry `on_retry(exc, attempt, delay)` is called (counting, logging); when it returns
        True it has arranged the wait itself (e.g. deferred a shared rate-limit bucket) and `sleep` is not
        called. After the last attempt, or for a Retry-After above `max_retry_after`, `give_up(exc, attempts,
        retry)` makes the error raised; by default a `TransientError` carrying the Retry-After."""
        attempt = 1
        while True:
            try:
                return op()
            except Exception as exc:
                verdict = retryable(exc)
                if verdict is None:
                    raise
                too_long = verdict.after is not None and verdict.after > self.max_retry_after
                if attempt >= self.attempts or too_long:
                    raise (give_up or _exhausted)(exc, attempt, verdict) from exc
                wait = self.delay(attempt, verdict.after)
                if on_retry is None or not on_retry(exc, attempt, wait):
                    sleep(wait)
                attempt += 1


def _exhausted(exc: Exception, attempts: int, verdict: Retry) -> Exception:
    after = verdict.after if verdict.after is not None else getattr(exc, "retry_after", None)
    return TransientError(f"{exc} (after {attempts} attempt(s))", retry_after=after)
