"""The Microsoft Graph calls the `graph` connector makes, over `requests`: the client-credentials token, listings
followed by `@odata.nextLink`, delta rounds followed to their `@odata.deltaLink`, and `$batch`.

Why not MSAL: the client-credentials grant is one form POST, which `ClientCredentials` (base) already caches
per process and renews before expiry and after a 401. MSAL would add ~35 ms of imports at every cold start
(measured with `python3 -X importtime`, after `requests`; docs/graph.md), three dependencies (msal, PyJWT,
cryptography) to the Lambda layer, and an instance-discovery request to login.microsoftonline.com before the
first token, which a loopback stand-in cannot answer without switching it off.

Errors: Graph's `{"error": {"code", "message", "innerError"}}` envelope (`graph_error`). A 429 (Retry-After)
or a 5xx is retried by the shared `RestClient` / `RetryPolicy`, for the `$batch` request itself and for each
request inside one (`batch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import redact
from ..ports import PermanentError, ReadFailed, TransientError
from ..retry import RetryPolicy
from .base import ClientCredentials
from .ratelimit import TokenBucket
from .rest import RestClient, new_session, retry_after_seconds

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"  # the only scope the client-credentials grant takes
BATCH_LIMIT = 20  # requests in one $batch: Graph's documented maximum
MAX_PAGES = 100_000


class GraphCredentials(ClientCredentials):
    """Microsoft identity platform tokens: client id and secret in the form (not HTTP Basic), with the
    `/.default` scope. Caching, renewal and refusals are the base's."""

    def _request(self) -> Any:
        import requests

        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret,
                "scope": GRAPH_SCOPE}
        try:
            return self.session.post(self.token_url, data=data, timeout=self.timeout,
                                     headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise TransientError(f"{self.name}: token request failed: {type(exc).__name__}") from None


def graph_error(response: Any) -> str:
    """`<status> <code>: <message>` from Graph's error envelope (scrubbed, at most 300 characters)."""
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        err = None
    if isinstance(err, dict):
        text = f"{err.get('code')}: {err.get('message')}"
    elif isinstance(err, str):  # the token endpoint's {"error": "invalid_client", "error_description": ...}
        text = err
    else:
        text = response.text
    return f"{response.status_code} {redact.scrub(text)[:300]}"


class GraphApi:
    def __init__(self, graph_url: str, token_url: str, client_id: str, client_secret: str, *,
                 bucket: TokenBucket | None, policy: RetryPolicy, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] | None = None, timeout: float = 30.0, name: str = "graph",
                 batch_size: int = BATCH_LIMIT) -> None:
        session = new_session()
        self.root = graph_url.rstrip("/")
        self.name = name
        self.policy = policy
        self.batch_size = min(batch_size, BATCH_LIMIT)
        self.sleep = sleep or time.sleep
        self.credentials = GraphCredentials(token_url, client_id, client_secret, session=session, clock=clock,
                                            timeout=timeout, default_life=3599, name=name)
        self.http = RestClient(self.root, bucket=bucket, auth=self.credentials.headers,
                               reauth=self.credentials.invalidate, session=session, sleep=self.sleep,
                               timeout=timeout, name=name, policy=policy)

    # --- reads -----------------------------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, *, delta: bool = False) -> dict[str, Any]:
        response = self.http.request("GET", path, params=params)
        if delta and response.status_code == 410:  # the delta token expired: Graph asks for a resync
            raise _Expired()
        if response.status_code != 200:
            raise ReadFailed(f"{self.name}: GET {_short(path)}: {graph_error(response)}")
        body = response.json()
        if not isinstance(body, dict):
            raise ReadFailed(f"{self.name}: GET {_short(path)}: not a JSON object")
        return body

    def pages(self, path: str, params: dict[str, Any] | None = None, *,
              delta: bool = False) -> Iterator[dict[str, Any]]:
        """Each page of a listing, following `@odata.nextLink` (opaque: sent as it is, without our parameters)
        until a page has none. A page that fails, or has no `value` list, is a `ReadFailed`: the listing
        stopped short, and nothing may be concluded from what came before."""
        url: str | None = path
        first = True
        for _ in range(MAX_PAGES):
            if url is None:
                return
            body = self.get(url, params if first else None, delta=delta)
            first = False
            if not isinstance(body.get("value"), list):
                raise ReadFailed(f"{self.name}: GET {_short(url)}: a page without `value` (truncated?)")
            yield body
            url = body.get("@odata.nextLink")
        raise ReadFailed(f"{self.name}: {_short(path)}: more than {MAX_PAGES} pages; refusing to go on")

    def listing(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [item for page in self.pages(path, params) for item in page["value"]]

    def delta(self, url: str, params: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One delta round: every entry until the `@odata.deltaLink`, and that link (for the next round).
        None instead of entries and link: the link has expired (410 Gone / a resync asked): read in full."""
        entries: list[dict[str, Any]] = []
        try:
            for page in self.pages(url, params, delta=True):
                entries += page["value"]
                if "@odata.deltaLink" in page:
                    return entries, str(page["@odata.deltaLink"])
        except _Expired:
            return [], None
        raise ReadFailed(f"{self.name}: a delta round ended without a deltaLink")

    # --- $batch ----------------------------------------------------------------------------------------------
    def batch(self, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Send these requests (`{id, method, url, body?}`) in `$batch`es of at most 20; each id -> its response
        `{status, headers, body}`. An inner 429 or 5xx is sent again (in the next batch) after the longest
        Retry-After among them, by the same `RetryPolicy` as every request; after its last attempt a
        `TransientError` carrying the Retry-After. Other answers are returned for the caller to judge."""
        done: dict[str, dict[str, Any]] = {}
        pending = list(requests)
        attempt = 1
        while pending:
            retry: list[dict[str, Any]] = []
            waits: list[float] = []
            for i in range(0, len(pending), self.batch_size):
                chunk = pending[i:i + self.batch_size]
                for req, answer in zip(chunk, self._send_batch(chunk), strict=True):
                    status = int(answer.get("status") or 0)
                    if status == 429 or status >= 500:
                        retry.append(req)
                        after = retry_after_seconds(_header(answer, "Retry-After"))
                        if after is not None:
                            waits.append(after)
                    else:
                        done[req["id"]] = answer
            if not retry:
                break
            after = max(waits) if waits else None
            if attempt >= self.policy.attempts or (after is not None and after > self.policy.max_retry_after):
                raise TransientError(f"{self.name}: {len(retry)} request(s) of a $batch still throttled or failing "
                                     f"after {attempt} attempt(s)", retry_after=after)
            wait = self.policy.delay(attempt, after)
            self.http.stats["batch retries"] += 1
            if self.http.bucket is not None and after is not None:
                self.http.bucket.defer(wait)  # the throttle applies to everyone sharing the budget
            else:
                self.sleep(wait)
            attempt += 1
            pending = retry
        return done

    def _send_batch(self, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One `POST /$batch`; the responses in the order of `chunk` (Graph may answer them in any order)."""
        body = {"requests": [{k: v for k, v in {"id": r["id"], "method": r["method"], "url": r["url"],
                                                "body": r.get("body"),
                                                "headers": {"Content-Type": "application/json"}
                                                if "body" in r else None}.items() if v is not None}
                             for r in chunk]}
        response = self.http.request("POST", "/$batch", json=body)
        if response.status_code != 200:
            raise PermanentError(f"{self.name}: $batch: {graph_error(response)}")
        answers = {str(a.get("id")): a for a in response.json().get("responses") or ()}
        missing = [r["id"] for r in chunk if r["id"] not in answers]
        if missing:  # an answer we cannot place: treat as a failure of that request, to be sent again
            log.warning("%s: $batch answered without %d of its requests", self.name, len(missing))
        return [answers.get(r["id"], {"id": r["id"], "status": 503, "headers": {}}) for r in chunk]


class _Expired(Exception):
    """A delta link the service no longer accepts."""


def _header(answer: dict[str, Any], name: str) -> str | None:
    for k, v in (answer.get("headers") or {}).items():
        if k.lower() == name.lower():
            return str(v)
    return None


def _short(url: str) -> str:
    """A URL for a message: no query string (a skip token is long and says nothing)."""
    return url.split("?", 1)[0]
