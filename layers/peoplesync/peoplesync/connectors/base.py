"""The connector base: what every connector shares, written once (in the spirit of powertools' `BaseProvider`,
whose `get()` does the caching and transformation and leaves only `_get()` to each provider).

- `BaseConnector.read()` is the template every poll goes through, and no connector overrides it:

      with self._session():                      # a connection for the read, released after it
          state = decode(cursor)                 # {"v": cursor_version, "scope": fingerprint(_scope()), ...}
          harvest = _read_delta(state) if state else None   # None: cannot go on from there
          harvest = harvest or _read_full()
      errors -> ReadFailed                       # library errors through _translate(exc)
      ReadResult(observations, encode(harvest.state), complete)

  A cursor from another `cursor_version` or another scope (other attributes, another table, base DN, ...)
  is not trusted: the read is full, which is always safe.
- `from_system(name, system_config, attributes, secrets=, buckets=)` builds a connector from its system's
  configuration: the declared `Settings` validated, the secret resolved and checked for `credential_keys`,
  the rate-limit state store (`buckets`) injected.
- `RetryPolicy`: attempts, exponential backoff with equal jitter, Retry-After honoured (and given back to the
  queue when longer than `max_retry_after`). One object, used by HTTP and LDAP alike.
- `page_all`: follow pages to the end; complete only when every page announced the same total and the
  distinct keys seen equal it (a listing that moved while it was paged may have skipped someone).
- `ClientCredentials`: OAuth bearer tokens per (token URL, client id), cached per process, renewed a margin
  before they expire and at once after a 401.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import random
import threading
import time
import zlib
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, final

from pydantic import BaseModel

from ..model import Write
from ..ports import (
    Connector,
    PeoplesyncError,
    PermanentError,
    ReadFailed,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)

if TYPE_CHECKING:
    from .ratelimit import BucketStore

log = logging.getLogger(__name__)

T = TypeVar("T")

#: keys of a system's configuration that are not the connector's own settings
COMMON_KEYS = frozenset({"connector", "schedule", "writable", "provision", "credentials", "reference"})


# --- retry ------------------------------------------------------------------------------------------------
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


# --- cursors ----------------------------------------------------------------------------------------------
def fingerprint(*parts: Any) -> str:
    """A short, stable digest of what a read covers (JSON of `parts`, keys sorted)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(state: Mapping[str, Any], *, version: int, scope: str, compress: bool = False) -> str:
    """`{"v": version, "scope": scope, **state}` as compact JSON; with `compress`, zlib + base64 behind a
    `z:` prefix (big per-row cursors). `v` and `scope` are the codec's: a state may not use them."""
    if "v" in state or "scope" in state:
        raise ValueError("cursor state may not use the keys 'v' and 'scope'")
    text = json.dumps({"v": version, "scope": scope, **state}, separators=(",", ":"))
    if compress:
        return "z:" + base64.b64encode(zlib.compress(text.encode(), 6)).decode()
    return text


def decode_cursor(cursor: str | None, *, version: int, scope: str) -> dict[str, Any] | None:
    """The state a cursor carries, or None when it is absent, unreadable, of another version or of another
    scope (the caller then reads everything)."""
    if not cursor:
        return None
    try:
        text = zlib.decompress(base64.b64decode(cursor[2:])).decode() if cursor.startswith("z:") else cursor
        data = json.loads(text)
    except (ValueError, zlib.error, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("v") != version or data.get("scope") != scope:
        return None
    return {k: v for k, v in data.items() if k not in ("v", "scope")}


@dataclass(slots=True)
class Harvest(ReadResult):
    """What `_read_full` / `_read_delta` return: observations, completeness and the cursor *state* (a
    JSON-able dict; None: no cursor), which the base encodes with version and scope."""

    state: dict[str, Any] | None = None


# --- configuration ----------------------------------------------------------------------------------------
def system_parts(system_config: Any) -> tuple[dict[str, Any], bool | None, str | None]:
    """(the connector's own settings, writable, credentials reference) of a `SystemConfig` or a plain dict."""
    if isinstance(system_config, Mapping):
        raw = {k: v for k, v in system_config.items() if k not in COMMON_KEYS}
        return raw, system_config.get("writable"), system_config.get("credentials")
    return dict(system_config.settings), system_config.writable, system_config.credentials


def secret_name(ref: str) -> str:
    return str(ref).removeprefix("secret:")


# --- the base ---------------------------------------------------------------------------------------------
class BaseConnector(Connector):
    """A connector on the shared base. Subclasses declare `Settings`, `credential_keys` (and
    `credentials_required`), `cursor_version`; implement `_read_full()`, optionally `_read_delta(state)`,
    `_scope()`, `_session()`, `_translate(exc)`, and `_apply(change)`. Their `__init__` takes
    `(name, settings, attributes, *, writable, credentials, secrets, buckets, **options)`."""

    #: the pydantic model of the connector's own keys in a system's configuration
    Settings: ClassVar[type[BaseModel]]
    #: bump when the cursor state's meaning changes: old cursors then give a full read
    cursor_version: ClassVar[int] = 1
    #: compress the cursor (per-row state)
    cursor_compress: ClassVar[bool] = False
    #: keys the credentials secret must hold
    credential_keys: ClassVar[tuple[str, ...]] = ()
    #: must the system name a credentials secret?
    credentials_required: ClassVar[bool] = False
    #: `writable` when the system's configuration does not say
    writable_by_default: ClassVar[bool] = True

    def __init__(self, name: str, settings: Any, attributes: Iterable[str], *, writable: bool = True,
                 credentials: Mapping[str, Any] | None = None, secrets: SecretsPort | None = None,
                 buckets: BucketStore | None = None) -> None:
        """`settings`: a `Settings` (or its dict); `credentials`: the resolved secret, for the subclass to
        take what it needs from (the base keeps nothing of it)."""
        if not isinstance(settings, self.Settings):
            settings = self.Settings.model_validate(settings)
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets)
        self.buckets = buckets

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_system(cls, name: str, system_config: Any, attributes: Iterable[str], *,
                    secrets: SecretsPort | None = None, buckets: BucketStore | None = None,
                    **options: Any) -> Self:
        """The connector of one configured system. `options` go to the constructor (clocks in tests)."""
        raw, writable, ref = system_parts(system_config)
        settings = cls.Settings.model_validate(raw)
        credentials = cls.resolve_credentials(name, ref, secrets)
        return cls(name, settings, attributes,
                   writable=cls.writable_by_default if writable is None else bool(writable),
                   credentials=credentials, secrets=secrets, buckets=buckets, **options)

    @classmethod
    def resolve_credentials(cls, name: str, ref: str | None, secrets: SecretsPort | None) -> dict[str, Any] | None:
        """The secret `ref` names (checked for `credential_keys`), or None when the system names none."""
        holding = f" holding {', '.join(cls.credential_keys)}" if cls.credential_keys else ""
        if not ref:
            if cls.credentials_required:
                raise PermanentError(f"system {name!r}: credentials (secret:<name>{holding}) are required")
            return None
        if secrets is None:
            raise PermanentError(f"system {name!r} names credentials but no secrets store was given")
        secret = dict(secrets.get(secret_name(ref)))
        if any(secret.get(k) in (None, "") for k in cls.credential_keys):
            raise PermanentError(f"system {name!r}: secret {ref!r} must hold {', '.join(cls.credential_keys)}")
        return secret

    # --- the read template ---------------------------------------------------------------------------------
    @final
    def read(self, cursor: str | None = None, *, full: bool = False) -> ReadResult:
        """Read changes since `cursor` (a delta), or everything when `full`, when there is no cursor or the
        cursor is not this read's. Any failure is a `ReadFailed`: nothing may be concluded from it."""
        with self._session():
            try:
                state = None if full else self._decode(cursor)
                harvest = self._read_delta(state) if state is not None else None
                if harvest is None:
                    harvest = self._read_full()
            except ReadFailed:
                raise
            except Exception as exc:
                failure = self._read_failure(exc)
                if failure is None:
                    raise
                raise failure from exc
        state = harvest.state if isinstance(harvest, Harvest) else None
        if state is None and harvest.cursor is not None:
            raise TypeError(f"{type(self).__name__}: return the cursor as Harvest(state=...), not a string")
        return ReadResult(harvest.observations, cursor=self._encode(state), complete=harvest.complete)

    def _read_failure(self, exc: Exception) -> ReadFailed | None:
        err = exc if isinstance(exc, PeoplesyncError) else self._translate(exc)
        if err is None:
            return None
        if isinstance(err, ReadFailed):
            return err
        text = str(err)
        return ReadFailed(text if self.name in text else f"{self.name}: {text}")

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Around one read: open what it needs, release it after (default: nothing)."""
        yield

    def _translate(self, exc: Exception) -> PeoplesyncError | None:
        """A library's error (sqlalchemy, ldap3, requests, OSError) as one of ours; None: not recognised,
        raised as it is. Reads turn whatever this gives into a `ReadFailed`; writes raise it."""
        return None

    def _scope(self) -> str:
        """What a read covers: a cursor taken under another scope is not trusted. Default: the attributes
        and every setting."""
        settings = self.settings.model_dump(mode="json") if isinstance(self.settings, BaseModel) else self.settings
        return json.dumps([self.attributes, settings], sort_keys=True, default=str)

    @abstractmethod
    def _read_full(self) -> ReadResult: ...

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:  # type: ignore[override]
        """Changes since the cursor's `state`; None: cannot go on from it (a full read follows)."""
        return None

    def _decode(self, cursor: str | None) -> dict[str, Any] | None:
        state = decode_cursor(cursor, version=self.cursor_version, scope=fingerprint(self._scope()))
        if cursor and state is None:
            log.info("%s: cursor unreadable, of another version or another scope: full read", self.name)
        return state

    def _encode(self, state: Mapping[str, Any] | None) -> str | None:
        if state is None:
            return None
        return encode_cursor(state, version=self.cursor_version, scope=fingerprint(self._scope()),
                             compress=self.cursor_compress)

    # --- writes ----------------------------------------------------------------------------------------------
    def write(self, change: Write) -> WriteResult:
        try:
            return super().write(change)
        except PeoplesyncError:
            raise
        except Exception as exc:
            err = self._translate(exc)
            if err is None:
                raise
            raise err from exc


# --- paging -----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Page(Generic[T]):
    """One page: its items, the total the server announced (None: it did not), and what to ask for next
    (None: this was the last page)."""

    items: list[T]
    total: int | None = None
    next: Any = None


@dataclass(slots=True)
class Paged(Generic[T]):
    items: list[T]
    complete: bool
    totals: tuple[int, ...] = ()


def page_all(fetch: Callable[[Any], Page[T]], key: Callable[[T], str], *, first: Any = 1,
             max_pages: int = 100_000, name: str = "listing") -> Paged[T]:
    """Every item of a paged listing, `fetch(token)` page after page from `first` until a page has no `next`.

    Items are kept by `key` (a later copy wins). The listing is complete only when every page announced a
    total, all the same, and the distinct keys equal it: offsets and page numbers shift when items are added
    or removed meanwhile, so someone may have been skipped, and an incomplete listing proves no one gone."""
    found: dict[str, T] = {}
    totals: list[int] = []
    unannounced = False
    token, pages = first, 0
    while token is not None:
        if pages >= max_pages:
            raise ReadFailed(f"{name}: more than {max_pages} pages; refusing to go on")
        page = fetch(token)
        pages += 1
        if page.total is None:
            unannounced = True
        else:
            totals.append(int(page.total))
        for item in page.items:
            found[key(item)] = item
        token = page.next
    distinct = set(totals)
    complete = not unannounced and len(distinct) == 1 and len(found) == totals[0]
    if not complete and not unannounced:
        log.warning("%s: the listing changed while it was paged (totals %s, %d distinct items seen)", name,
                    sorted(distinct), len(found))
    return Paged(list(found.values()), complete, tuple(totals))


# --- OAuth ------------------------------------------------------------------------------------------------
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}  # (token url, client id) -> (token, renew at)
_TOKENS_LOCK = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token (tests; a rotated secret)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


def http_reason(response: Any) -> str:
    """The short reason an error response gives (message, detail or code), at most 200 characters."""
    try:
        body = response.json()
    except ValueError:
        return str(response.text)[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body.get("code") or body)[:200]
    return str(body)[:200]


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
        if self.refresh_token and rotated and rotated != self.refresh_token:
            # a rotated refresh token cannot be saved back (the secret is only read here): kept in memory
            log.warning("%s: the refresh token was rotated; update the secret (kept for this process)", self.name)
            self.refresh_token = str(rotated)
        life = float(body.get("expires_in") or self.default_life)
        self.fetched += 1
        return token, self.clock() + life - min(self.max_margin, life * 0.1)
