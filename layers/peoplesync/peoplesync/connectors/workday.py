"""Workday HR connector: a Report-as-a-Service (RaaS) custom report read as JSON or CSV. Read-only.

One GET of the report URL returns every worker in the report's scope (RaaS has no paging and no change feed),
so every read is a full, complete read; the engine's per-record digest skips workers that did not change.
Large reports can be split into several pulls with `parts` (each a set of prompt values, e.g. a range of
hire dates or of organisations), the documented workaround for reports that time out.

Auth comes from the system's secret: {"username", "password"} for HTTP Basic as an Integration System User,
or {"client_id", "client_secret", "refresh_token"} for OAuth 2.0 (the refresh token is exchanged for an
access token at `/ccx/oauth2/{tenant}/token` by the base's `ClientCredentials`, cached per process
until shortly before it expires).

Values: strings as the report gives them (JSON numbers become their text, so JSON and CSV agree), dates in
ISO form (`2024-01-15-08:00` -> `2024-01-15`), multi-instance groups (emergency contacts) addressed by
paths, see `resolve`. Terminated workers are seen as inactive (or removed, `terminated_as: removed`) from the
day after their `Termination_Date`; a future-dated termination leaves them active until then.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from ..model import Observation, Write
from ..ports import READ_ONLY, Capabilities, PermanentError, ReadFailed, ReadResult, SecretsPort, WriteResult
from .base import BaseConnector, ClientCredentials
from .checked_settings import settings_model
from .ratelimit import BucketStore
from .workday_report import (  # the report helpers, imported from here by tests and benches
    clean_entry,
    compile_path,
    iso_value,
    parse_csv_report,
    parse_json_report,
    resolve,
    worker_state,
)

if TYPE_CHECKING:
    from .workday_settings import WorkdaySettings
    from .workday_settings import WorkdaySettings as Settings

log = logging.getLogger(__name__)

Now = Callable[[], datetime]


def __getattr__(name: str) -> Any:
    """`Settings` (and `WorkdaySettings`): the pydantic model, imported when asked for (`workday_settings.py`)."""
    if name in ("Settings", "WorkdaySettings"):
        from .workday_settings import WorkdaySettings

        return WorkdaySettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")




# --- auth -----------------------------------------------------------------------------------------------
def default_token_url(report_url: str) -> str:
    """`https://h/ccx/service/customreport2/{tenant}/...` -> `https://h/ccx/oauth2/{tenant}/token`."""
    parts = urlsplit(report_url)
    segments = [s for s in parts.path.split("/") if s]
    try:
        tenant = segments[segments.index("customreport2") + 1]
    except (ValueError, IndexError):
        raise ValueError("cannot find the tenant in the report URL; set token_url") from None
    return urlunsplit((parts.scheme, parts.netloc, f"/ccx/oauth2/{tenant}/token", "", ""))


def report_auth(secret: Mapping[str, Any], token_url: str, session: Any, timeout: float,
                name: str = "workday") -> tuple[str, Callable[[], dict[str, str]], Callable[[], None] | None]:
    """(kind, headers, reauth) for a Workday secret: HTTP Basic as an Integration System User, or OAuth 2.0
    with a refresh token (`ClientCredentials`, refresh-token grant)."""
    if secret.get("refresh_token"):
        try:
            client_id, client_secret = str(secret["client_id"]), str(secret["client_secret"])
        except KeyError:
            raise PermanentError("an OAuth secret needs client_id, client_secret and refresh_token") from None
        oauth = ClientCredentials(token_url, client_id, client_secret, session=session, timeout=timeout,
                                  refresh_token=str(secret["refresh_token"]), name=name)
        return "oauth", oauth.headers, oauth.invalidate
    if secret.get("username") and secret.get("password") is not None:
        raw = f"{secret['username']}:{secret['password']}".encode()
        basic = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return "basic", lambda: dict(basic), None
    raise PermanentError("the Workday secret needs username and password (Basic) or client_id, "
                         "client_secret and refresh_token (OAuth)")


# --- the connector --------------------------------------------------------------------------------------
class WorkdayConnector(BaseConnector):
    """Read-only: HR is a source. Every read is full and complete (RaaS has no paging and no change feed)."""

    Settings = settings_model("peoplesync.connectors.workday_settings:WorkdaySettings")
    credentials_required = True  # Basic or OAuth: which keys the secret holds decides (`report_auth`)
    writable_by_default = False

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        return READ_ONLY

    @classmethod
    def missing_credentials(cls, secret: Mapping[str, Any], key: str = "credentials") -> list[str]:
        """Basic (username, password) or OAuth (client_id, client_secret, refresh_token): `report_auth`."""
        keys = ("client_id", "client_secret", "refresh_token") if secret.get("refresh_token") else ("username",
                                                                                                   "password")
        return [k for k in keys if secret.get(k) in (None, "")]

    def __init__(self, name: str, settings: WorkdaySettings, attributes: Iterable[str], *,
                 credentials: Mapping[str, Any] | None = None, writable: bool = False,
                 secrets: SecretsPort | None = None, buckets: BucketStore | None = None, now: Now | None = None,
                 session: Any = None, sleep: Callable[[float], None] | None = None) -> None:
        if writable:
            raise PermanentError(f"system {name!r}: a Workday report (RaaS) cannot be written; remove writable")
        super().__init__(name, settings, attributes, writable=False, secrets=secrets, buckets=buckets)
        from .rest import RestClient, new_session

        self.now: Now = now or (lambda: datetime.now(UTC))
        self._http = session or new_session(pool=2)
        token_url = settings.token_url or default_token_url(settings.url)
        self._auth_kind, headers, reauth = report_auth(credentials or {}, token_url, self._http,
                                                       settings.timeout, name=f"workday {name}")
        self._client = RestClient(settings.url, auth=headers, reauth=reauth,
                                  max_retries=settings.max_retries, timeout=settings.timeout,
                                  session=self._http, sleep=sleep, name=f"workday {name}")
        self._dates = frozenset({*settings.date_fields, *(f for f in (settings.hire_date,
                                                                     settings.termination_date) if f)})
        self._paths = [(a, compile_path(a)) for a in self.attributes]
        self._needed = frozenset({settings.key, *(p[0] for _, p in self._paths),
                                  *(f for f in (settings.hire_date, settings.termination_date,
                                                settings.status_field) if f)})
        self.stats: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"WorkdayConnector({self.name!r}, {self.settings.url!r}, auth={self._auth_kind})"

    def _urls(self) -> list[str]:
        s = self.settings
        parts = urlsplit(s.url)
        base = dict(parse_qsl(parts.query, keep_blank_values=True))
        urls = []
        for part in s.parts or [{}]:
            query = {**base, **s.prompts, **part, "format": s.format}
            urls.append(urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")))
        return urls

    def fetch_entries(self) -> list[dict[str, Any]]:
        """Every raw entry of the report (all parts), parsed but not yet cleaned."""
        entries: list[dict[str, Any]] = []
        for url in self._urls():
            response = self._client.request("GET", url)  # a TransientError becomes a ReadFailed in read()
            if response.status_code in (401, 403):
                raise ReadFailed(f"system {self.name!r}: Workday refused the credentials ({response.status_code}); "
                                 f"check the integration user and its access to the report")
            if response.status_code != 200:
                raise ReadFailed(f"system {self.name!r}: the report answered {response.status_code}")
            body = response.content
            if len(body) > self.settings.max_bytes:
                raise ReadFailed(f"system {self.name!r}: the report is larger than max_bytes "
                                 f"({len(body)} > {self.settings.max_bytes}); split it with parts")
            if self.settings.format == "json":
                entries.extend(parse_json_report(body))
            else:
                entries.extend(parse_csv_report(body, self.settings.csv_separator))
        return entries

    def observations(self, entries: Iterable[dict[str, Any]]) -> list[Observation]:
        """Turn report entries into observations (pure apart from the clock): the benchmark's hot loop."""
        s = self.settings
        today = self.now().astimezone(ZoneInfo(s.timezone)).date()
        found: dict[str, Observation] = {}
        no_key = duplicates = 0
        for raw in entries:
            entry = clean_entry(raw, self._dates, self._needed)
            key = entry.get(s.key)
            if key is None or isinstance(key, list | dict):
                no_key += 1
                continue
            key = str(key)
            if key in found:
                duplicates += 1
            active, removed = worker_state(entry, s, today)
            attrs = {a: resolve(entry, p) for a, p in self._paths}
            found[key] = Observation(self.name, key, attrs, active=active, removed=removed)
        if no_key or duplicates:
            log.warning("%s: %d report entries without %s skipped, %d duplicate workers (the last kept)",
                        self.name, no_key, s.key, duplicates)
        self.stats = {"entries": len(found) + no_key + duplicates, "workers": len(found), "no_key": no_key,
                      "duplicates": duplicates}
        return list(found.values())

    def _read_full(self) -> ReadResult:
        return ReadResult(self.observations(self.fetch_entries()), complete=True)

    def _apply(self, change: Write) -> WriteResult:
        raise PermanentError(f"system {self.name!r}: a Workday report (RaaS) is read-only; HR is a source")

    def close(self) -> None:
        self._http.close()


CONNECTOR = WorkdayConnector

__all__ = ["CONNECTOR", "Settings", "WorkdayConnector", "clean_entry", "compile_path", "default_token_url",
           "iso_value", "parse_csv_report", "parse_json_report", "report_auth", "resolve", "worker_state"]
