"""HTTP for the connectors that talk to a REST API: one `requests` session, a shared request budget, retries.

Who retries what:
- urllib3's `Retry` (mounted on the session) retries only failures to *connect*: the request never reached
  the server, so it spent none of the server's budget and is always safe to repeat.
- This module retries what the server answered, by the shared `RetryPolicy` (`base.py`): 429 (after
  `Retry-After`, which also pauses the shared budget for every caller), and 5xx / timeouts (exponential
  backoff with equal jitter). Each attempt takes a token from
  the budget first, so retries can never push the client over its limit; and the waits go through the
  injectable clock, so a benchmark can simulate an hour of throttled traffic in seconds.
After the last attempt a `TransientError` is raised (with `retry_after` when the server said): the delivery
queue keeps the write and, once its own retries are spent, dead-letters it with that reason.
Other 4xx answers are returned to the caller, which knows what a 404 or a 409 means for its API.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry as ConnectRetry

from .. import redact
from ..ports import TransientError
from .base import Retry, RetryPolicy, http_reason
from .ratelimit import TokenBucket

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})


def new_session(pool: int = 16) -> requests.Session:
    session = requests.Session()
    connect_only = ConnectRetry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.2,
                         allowed_methods=None, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=connect_only, pool_connections=4, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class _Answered(Exception):
    """A response worth retrying (429, 5xx), or a request that never got one (`response` None)."""

    def __init__(self, what: str, response: requests.Response | None = None, *, detail: str = "",
                 retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(what)
        self.what, self.response, self.detail = what, response, detail
        self.retry_after, self.rate_limited = retry_after, rate_limited


class RestClient:
    """`request()` = budget, send, retry (by one `RetryPolicy`). `auth()` returns the headers to authenticate
    with; when the server answers 401, `reauth()` is called once (a token revoked or expired early) and the
    request repeated."""

    def __init__(self, base_url: str, *, bucket: TokenBucket | None = None,
                 auth: Callable[[], dict[str, str]] | None = None, reauth: Callable[[], None] | None = None,
                 max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, timeout: float = 10.0,
                 session: requests.Session | None = None, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None, name: str = "api", policy: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.bucket = bucket
        self.auth = auth
        self.reauth = reauth
        self.policy = policy or RetryPolicy.with_retries(max_retries, base=backoff, cap=max_backoff,
                                                         max_retry_after=max_retry_after,
                                                         rng=rng or random.Random())
        self.timeout = timeout
        self.session = session or new_session()
        self.sleep = sleep or (bucket.sleep if bucket is not None else time.sleep)
        self.name = name
        self.stats: Counter[str] = Counter()  # requests, status codes, retries: for reports and benches

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                retry_server_errors: bool = True) -> requests.Response:
        """A 429 is always retried (the server did nothing); a 5xx or a network failure only when
        `retry_server_errors` (a create is not repeated: it may have happened)."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        reauthed: list[bool] = []
        tries = [0]

        def once() -> requests.Response:
            tries[0] += 1
            while True:
                response = self._send(method, url, path, params, json)
                if response.status_code == 401 and self.reauth is not None and not reauthed:
                    reauthed.append(True)
                    self.reauth()
                    continue
                return self._check(method, path, response)

        def retryable(exc: Exception) -> Retry | None:
            if not isinstance(exc, _Answered) or not (exc.rate_limited or retry_server_errors):
                return None
            return Retry(exc.retry_after if exc.rate_limited else None)

        try:
            return self.policy.run(once, retryable=retryable, sleep=self.sleep, on_retry=self._on_retry,
                                   give_up=lambda exc, n, _: self._give_up(exc, n))
        except _Answered as exc:  # not retryable here (retry_server_errors=False)
            raise self._give_up(exc, tries[0]) from exc

    def _send(self, method: str, url: str, path: str, params: Any, json: Any) -> requests.Response:
        if self.bucket is not None:
            self.bucket.acquire()
        headers = {"Accept": "application/json", **(self.auth() if self.auth else {})}
        self.stats["requests"] += 1
        self.stats[f"{method} requests"] += 1
        try:
            return self.session.request(method, url, params=params, json=json, headers=headers,
                                        timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.stats["network errors"] += 1
            raise _Answered(f"{self.name}: {method} {path} failed", detail=type(exc).__name__) from exc

    def _check(self, method: str, path: str, response: requests.Response) -> requests.Response:
        status = response.status_code
        self.stats[str(status)] += 1
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if status == 429:
            raise _Answered(f"{self.name}: {method} {path} rate-limited (429)", response, retry_after=retry_after,
                            rate_limited=True)
        if status in RETRY_STATUSES:
            raise _Answered(f"{self.name}: {method} {path} answered {status}", response,
                            detail=http_reason(response), retry_after=retry_after)
        return response

    def _on_retry(self, exc: Exception, attempt: int, wait: float) -> bool:
        if not isinstance(exc, _Answered) or exc.response is None:
            return False  # a network failure: back off, not counted as a retry of an answer
        self.stats["retries"] += 1
        if exc.rate_limited:
            log.info("%s: 429, waiting %.1f s as the server asked", self.name, wait)
            if self.bucket is not None:
                self.bucket.defer(wait)  # everyone sharing the budget waits, not just this caller
                return True
        return False

    @staticmethod
    def _give_up(exc: Exception, attempts: int) -> TransientError:
        if not isinstance(exc, _Answered):
            return TransientError(redact.scrub(exc))
        detail = f": {exc.detail}" if exc.detail else ""
        return TransientError(f"{exc.what} after {attempts} attempt(s){detail}", retry_after=exc.retry_after)


def error_text(response: requests.Response) -> str:
    """A short, log-safe description of an error response: never the request, and the server's own text
    scrubbed of credentials (a server that echoes the request echoes its Authorization header)."""
    return f"{response.status_code} {http_reason(response)}"  # http_reason scrubs (redact.scrub)
