"""OAuth 2.0 bearer tokens cached per process and client, shared by Workday and Genesys Cloud (and any
connector with a token endpoint). Re-exported by `base.py`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import redact
from ..ports import PermanentError, TransientError

log = logging.getLogger(__name__)

_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}  # (token url, client id) -> (token, renew at)
_TOKENS_LOCK = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token (tests; a rotated secret)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


def http_reason(response: Any) -> str:
    """The short reason an error response gives (message, detail or code), at most 200 characters, scrubbed
    of credentials (a server may echo the request, Authorization header included: `redact.scrub`)."""
    try:
        body = response.json()
    except ValueError:
        return redact.scrub(response.text)[:200]
    if isinstance(body, dict):
        body = body.get("message") or body.get("detail") or body.get("code") or body
    return redact.scrub(body)[:200]


class ClientCredentials:
    """Bearer tokens for one OAuth client, cached per process by (token URL, client id) so that warm
    invocations and every connector of the client share them. A new token is requested a margin before
    the old one expires (10% of its life, at most `max_margin`), or at once after `invalidate()` (a 401).

    Grant: `client_credentials` (client id and secret as HTTP Basic), or `refresh_token` when one is given
    (client id and secret in the form, as Workday wants). A rotated refresh token is kept for the process.
    Refusals are `PermanentError`s, an unreachable or overloaded endpoint a `TransientError`."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, session: Any,
                 clock: Callable[[], float] = time.time, timeout: float = 10.0, refresh_token: str | None = None,
                 default_life: float = 3600.0, max_margin: float = 300.0, name: str = "oauth") -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.refresh_token = refresh_token
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.default_life = default_life
        self.max_margin = max_margin
        self.name = name
        self.key = (token_url, client_id)
        self.fetched = 0
        redact.register(client_secret, refresh_token)
        redact.register_basic(client_id, client_secret)

    def headers(self) -> dict[str, str]:
        with _TOKENS_LOCK:  # held while fetching: concurrent callers wait for one token, not one each
            entry = _TOKENS.get(self.key)
            if entry is None or entry[1] <= self.clock():
                entry = _TOKENS[self.key] = self._fetch()
            return {"Authorization": f"Bearer {entry[0]}"}

    def invalidate(self) -> None:
        with _TOKENS_LOCK:
            _TOKENS.pop(self.key, None)

    def _request(self) -> Any:
        import requests

        kwargs: dict[str, Any] = {"timeout": self.timeout, "headers": {"Accept": "application/json"}}
        if self.refresh_token:
            kwargs["data"] = {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                              "client_id": self.client_id, "client_secret": self._secret}
        else:
            kwargs["data"] = {"grant_type": "client_credentials"}
            kwargs["auth"] = (self.client_id, self._secret)
        try:
            return self.session.post(self.token_url, **kwargs)
        except requests.RequestException as exc:
            raise TransientError(f"{self.name}: token request failed: {type(exc).__name__}") from None

    def _fetch(self) -> tuple[str, float]:
        response = self._request()
        status = response.status_code
        if status >= 500 or status == 429:
            raise TransientError(f"{self.name}: token request answered {status}")
        if status != 200:
            raise PermanentError(f"{self.name}: OAuth client {self.client_id!r} was refused a token "
                                 f"({status} {http_reason(response)}); check the client and its secret")
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise PermanentError(f"{self.name}: the token answer has no access_token") from None
        rotated = body.get("refresh_token")
        redact.register(token, rotated)
        if self.refresh_token and rotated and rotated != self.refresh_token:
            # a rotated refresh token cannot be saved back (the secret is only read here): kept in memory
            log.warning("%s: the refresh token was rotated; update the secret (kept for this process)", self.name)
            self.refresh_token = str(rotated)
        life = float(body.get("expires_in") or self.default_life)
        self.fetched += 1
        return token, self.clock() + life - min(self.max_margin, life * 0.1)
