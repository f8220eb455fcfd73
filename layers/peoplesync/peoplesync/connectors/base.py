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
The helpers live in `retry.py`, `cursor.py`, `paging.py` and `oauth.py` and are imported from here.
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self, final

from .. import redact
from ..model import Write
from ..ports import (
    Connector,
    PeoplesyncError,
    PermanentError,
    ReadFailed,
    ReadPage,
    ReadResult,
    SecretsPort,
    WriteResult,
)
from ..retry import Retry, RetryPolicy
from .checked_settings import CheckedSettings, checked_settings
from .cursor import decode_cursor, encode_cursor, fingerprint
from .oauth import ClientCredentials, forget_tokens, http_reason
from .paging import Page, Paged, page_all

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .ratelimit import BucketStore

log = logging.getLogger(__name__)

#: keys of a system's configuration that are not the connector's own settings
COMMON_KEYS = frozenset({"connector", "schedule", "writable", "provision", "credentials", "reference"})


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
    `(name, settings, attributes, *, writable, credentials, secrets, buckets, **options)`. (`_session` is a
    method: a connector keeps its HTTP session or connection under another name.)"""

    #: the pydantic model of the connector's own keys in a system's configuration (or, imported when first
    #: read, `checked_settings.settings_model("module:Class")`)
    Settings: ClassVar[type[BaseModel]]
    #: the mixin holding the model's properties, for settings rebuilt from a check made before
    #: (`checked_settings.py`); the model declares it too
    settings_props: ClassVar[type | None] = None
    #: bump when the cursor state's meaning changes: old cursors then give a full read
    cursor_version: ClassVar[int] = 1
    #: compress the cursor (per-row state)
    cursor_compress: ClassVar[bool] = False
    #: keys the credentials secret must hold
    credential_keys: ClassVar[tuple[str, ...]] = ()
    #: must the system name a credentials secret?
    credentials_required: ClassVar[bool] = False
    #: the connector's own settings that name a secret besides `credentials` (`validate` checks them too)
    secret_settings: ClassVar[tuple[str, ...]] = ()
    # `writable_by_default` and `capabilities(settings)`: see `ports.Connector`

    def __init__(self, name: str, settings: Any, attributes: Iterable[str], *, writable: bool = True,
                 credentials: Mapping[str, Any] | None = None, secrets: SecretsPort | None = None,
                 buckets: BucketStore | None = None) -> None:
        """`settings`: a `Settings` (or its dict); `credentials`: the resolved secret, for the subclass to
        take what it needs from (the base keeps nothing of it)."""
        if not isinstance(settings, CheckedSettings) and not isinstance(settings, self.Settings):
            settings = self.Settings.model_validate(settings)
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets)
        self.buckets = buckets

    # --- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_system(cls, name: str, system_config: Any, attributes: Iterable[str], *,
                    secrets: SecretsPort | None = None, buckets: BucketStore | None = None,
                    checked: Mapping[str, Any] | None = None, **options: Any) -> Self:
        """The connector of one configured system. `options` go to the constructor (clocks in tests).
        `checked`: its settings as `Settings` checked them before (`checked_settings.plain`: no pydantic)."""
        raw, writable, ref = system_parts(system_config)
        settings = (cls.Settings.model_validate(raw) if checked is None
                    else checked_settings(dict(checked), cls.settings_props))
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
        if cls.missing_credentials(secret):
            raise PermanentError(f"system {name!r}: secret {ref!r} must hold {', '.join(cls.credential_keys)}")
        return secret

    @classmethod
    def missing_credentials(cls, secret: Mapping[str, Any], key: str = "credentials") -> list[str]:
        """The keys this connector needs that `secret` lacks (or holds empty); `validate` names them. `key`:
        the system's key that named the secret (`credentials`, or one of `secret_settings`)."""
        return [k for k in cls.credential_keys if secret.get(k) in (None, "")]

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
            except Exception as exc:
                failure = self._read_failure(exc)
                if failure is None:
                    raise
                # from None: the library's own text (a statement, a DN, a URL) stays out of tracebacks and
                # logs; `_translate` is where a connector says what of it may be shown
                raise failure from None
        state = harvest.state if isinstance(harvest, Harvest) else None
        if state is None and harvest.cursor is not None:
            raise TypeError(f"{type(self).__name__}: return the cursor as Harvest(state=...), not a string")
        return ReadResult(harvest.observations, cursor=self._encode(state), complete=harvest.complete,
                          confirm=harvest.confirm and not harvest.complete)

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """The read in pages, each with the position to go on from (`start`) and whether it is the last.
        Default: the whole `read()` as one page (a connector that can page natively overrides this)."""
        result = self.read(cursor, full=full)
        yield ReadPage.whole(result)

    def _guarded(self, op: Callable[[], Any]) -> Any:
        """`op()` (a part of a read), its failure a `ReadFailed` as in `read()`: the library's errors translated
        and scrubbed. For reads taken in parts (`read_pages`, `read_keys`)."""
        try:
            return op()
        except Exception as exc:
            failure = self._read_failure(exc)
            if failure is None:
                raise
            raise failure from None

    def _read_failure(self, exc: Exception) -> ReadFailed | None:
        """A read's failure as a `ReadFailed` naming the system; None: not recognised (raised as it is)."""
        if isinstance(exc, PeoplesyncError):
            return self._as_read_failure(exc)
        err = self._translate(exc)
        return None if err is None else self._as_read_failure(err)

    def _as_read_failure(self, err: PeoplesyncError) -> ReadFailed:
        """Named after the system, and scrubbed of credentials (`redact.scrub`): the text goes to the poll's
        report and the logs."""
        text = str(err)
        clean = redact.scrub(text if self.name in text or isinstance(err, ReadFailed) else f"{self.name}: {text}")
        return err if isinstance(err, ReadFailed) and clean == text else ReadFailed(clean)

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Around one read: open what it needs, release it after (default: nothing)."""
        yield

    def _translate(self, exc: Exception) -> PeoplesyncError | None:
        """A library's error (sqlalchemy, ldap3, requests, OSError) as one of ours, with only what may be
        shown (no password, no statement); None: not recognised, raised as it is. Reads turn whatever this
        gives into a `ReadFailed`; writes raise it. The library's exception is not chained."""
        return None

    def _scope(self) -> str:
        """What a read covers: a cursor taken under another scope is not trusted. Default: the attributes
        and every setting."""
        settings = self.settings.model_dump(mode="json") if hasattr(self.settings, "model_dump") else self.settings
        return json.dumps([self.attributes, settings], sort_keys=True, default=str)

    @abstractmethod
    def _read_full(self) -> ReadResult: ...

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
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
            raise err from None


# --- paging -----------------------------------------------------------------------------------------------


__all__ = ["COMMON_KEYS", "BaseConnector", "ClientCredentials", "Harvest", "Page", "Paged", "Retry", "RetryPolicy",
           "decode_cursor", "encode_cursor", "fingerprint", "forget_tokens", "http_reason", "page_all",
           "secret_name", "system_parts"]
