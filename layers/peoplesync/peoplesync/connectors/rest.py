"""HTTP for the connectors that talk to a REST API: one `requests` session, a shared request budget, retries.

Who retries what:
- urllib3's `Retry` (mounted on the session) retries only failures to *connect*: the request never reached
  the server, so it spent none of the server's budget and is always safe to repeat.
- This module retries what the server answered: 429 (after `Retry-After`, which also pauses the shared budget
  for every caller), and 5xx / timeouts (exponential backoff with jitter). Each attempt takes a token from
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
from urllib3.util.retry import Retry

from ..adapters.token_bucket import TokenBucket
from ..ports import TransientError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})


def new_session(pool: int = 16) -> requests.Session:
    session = requests.Session()
    connect_only = Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.2,
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


class RestClient:
    """`request()` = budget, send, retry. `auth()` returns the headers to authenticate with; when the server
    answers 401, `reauth()` is called once (a token revoked or expired early) and the request repeated."""

    def __init__(self, base_url: str, *, bucket: TokenBucket | None = None,
                 auth: Callable[[], dict[str, str]] | None = None, reauth: Callable[[], None] | None = None,
                 max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, timeout: float = 10.0,
                 session: requests.Session | None = None, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None, name: str = "api") -> None:
        self.base_url = base_url.rstrip("/")
        self.bucket = bucket
        self.auth = auth
        self.reauth = reauth
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.session = session or new_session()
        self.sleep = sleep or (bucket.sleep if bucket is not None else time.sleep)
        self.rng = rng or random.Random()
        self.name = name
        self.stats: Counter[str] = Counter()  # requests, status codes, retries: for reports and benches

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                retry_server_errors: bool = True) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        reauthed = False
        attempt = 0
        while True:
            if self.bucket is not None:
                self.bucket.acquire()
            headers = {"Accept": "application/json", **(self.auth() if self.auth else {})}
            self.stats["requests"] += 1
            self.stats[f"{method} requests"] += 1
            try:
                response = self.session.request(method, url, params=params, json=json, headers=headers,
                                                timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.stats["network errors"] += 1
                if not retry_server_errors or attempt >= self.max_retries:
                    raise TransientError(f"{self.name}: {method} {path} failed after {attempt + 1} "
                                         f"attempt(s): {type(exc).__name__}") from exc
                attempt += 1
                self._backoff(attempt)
                continue
            status = response.status_code
            self.stats[str(status)] += 1
            if status == 401 and self.reauth is not None and not reauthed:
                reauthed = True
                self.reauth()
                continue
            if status == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if attempt >= self.max_retries or (wait is not None and wait > self.max_retry_after):
                    raise TransientError(f"{self.name}: {method} {path} rate-limited (429) after "
                                         f"{attempt + 1} attempt(s)", retry_after=wait)
                attempt += 1
                self.stats["retries"] += 1
                wait = wait if wait is not None else self._backoff_delay(attempt)
                log.info("%s: 429, waiting %.1f s as the server asked", self.name, wait)
                if self.bucket is not None:
                    self.bucket.defer(wait)  # everyone sharing the budget waits, not just this caller
                else:
                    self.sleep(wait)
                continue
            if status in RETRY_STATUSES:
                if not retry_server_errors or attempt >= self.max_retries:
                    raise TransientError(f"{self.name}: {method} {path} answered {status} after "
                                         f"{attempt + 1} attempt(s): {_reason(response)}",
                                         retry_after=retry_after_seconds(response.headers.get("Retry-After")))
                attempt += 1
                self.stats["retries"] += 1
                self._backoff(attempt)
                continue
            return response

    def _backoff_delay(self, attempt: int) -> float:
        cap = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return cap / 2 + self.rng.uniform(0, cap / 2)  # "equal jitter": never zero, never in lockstep

    def _backoff(self, attempt: int) -> None:
        self.sleep(self._backoff_delay(attempt))


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body.get("code") or body)[:200]
    return str(body)[:200]


def error_text(response: requests.Response) -> str:
    """A short, log-safe description of an error response (never the request, which may carry secrets)."""
    return f"{response.status_code} {_reason(response)}"
