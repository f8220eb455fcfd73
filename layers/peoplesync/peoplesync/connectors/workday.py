"""Workday HR connector: a Report-as-a-Service (RaaS) custom report read as JSON or CSV. Read-only.

One GET of the report URL returns every worker in the report's scope (RaaS has no paging and no change feed),
so every read is a full, complete read; the engine's per-record digest skips workers that did not change.
Large reports can be split into several pulls with `parts` (each a set of prompt values, e.g. a range of
hire dates or of organisations), the documented workaround for reports that time out.

Auth comes from the system's secret: {"username", "password"} for HTTP Basic as an Integration System User,
or {"client_id", "client_secret", "refresh_token"} for OAuth 2.0 (the refresh token is exchanged for an
access token at `/ccx/oauth2/{tenant}/token`, cached per process until shortly before it expires).

Values: strings as the report gives them (JSON numbers become their text, so JSON and CSV agree), dates in
ISO form (`2024-01-15-08:00` -> `2024-01-15`), multi-instance groups (emergency contacts) addressed by
paths, see `resolve`. Terminated workers are seen as inactive (or removed, `terminated_as: removed`) from the
day after their `Termination_Date`; a future-dated termination leaves them active until then.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..model import Observation, Write
from ..ports import Connector, PermanentError, ReadFailed, ReadResult, SecretsPort, TransientError, WriteResult

log = logging.getLogger(__name__)

Now = Callable[[], datetime]


class Settings(BaseModel):
    """The `workday_raas` connector's keys in a system's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Report URL: https://{host}/ccx/service/customreport2/{tenant}/{owner}/{report}")
    format: Literal["json", "csv"] = Field("json", description="Report output requested (?format=)")
    key: str = Field("Employee_ID", description="Column holding the worker's stable id (the anchor)")
    prompts: dict[str, str] = Field(default_factory=dict, description="Report prompt values (query parameters)")
    parts: list[dict[str, str]] = Field(
        default_factory=list, description="Split the pull: one request per entry, its prompts added to prompts")
    termination_date: str | None = Field("Termination_Date", description="Column with the termination date")
    hire_date: str | None = Field("Hire_Date", description="Column with the (re)hire date")
    status_field: str | None = Field(None, description="Column with the worker status, used without a date")
    inactive_statuses: list[str] = Field(default_factory=lambda: ["Terminated", "Inactive", "0"],
                                         description="status_field values meaning no longer working")
    terminated_as: Literal["inactive", "removed"] = Field(
        "inactive", description="How a terminated worker is reported: disabled, or gone")
    date_fields: list[str] = Field(default_factory=list,
                                   description="Extra columns to parse as dates (MM/DD/YYYY accepted there)")
    timezone: str = Field("UTC", description="Time zone in which 'today' is reckoned for terminations")
    token_url: str | None = Field(None, description="OAuth token endpoint; default from the report URL")
    csv_separator: str = Field("\n", description="CSV: separator of a multi-instance field's values in a cell")
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for the report (they can be slow)")
    max_retries: int = Field(2, ge=0, description="Retries on 429 / 5xx before the read fails")
    max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Refuse a report larger than this")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an http(s) report URL")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


# --- values: dates, groups, paths -----------------------------------------------------------------------
_DATE_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def iso_value(value: str, *, is_date: bool = False) -> str:
    """A Workday date or dateTime in ISO form. Unrecognised text comes back unchanged.

    `2024-01-15`, `2024-01-15-08:00` (Workday XML style), `2024-01-15Z` -> `2024-01-15`;
    `2024-01-15T08:30:00.000-08:00` -> `2024-01-15T16:30:00Z` (UTC); with `is_date`, also `1/15/2024`.
    """
    text = value.strip()
    if not is_date and not (len(text) >= 10 and text[4] == "-" and text[:4].isdigit()):
        return value  # the common case, cheaply: not a date
    m = _DATE_OFFSET.match(text)
    if m:
        return m.group(1)
    if _DATETIME.match(text):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return value
        if is_date:
            return when.date().isoformat()
        if when.tzinfo is None:
            return when.isoformat()
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    if is_date:
        m = _US_DATE.match(text)
        if m:
            try:
                return date(int(m.group(3)), int(m.group(1)), int(m.group(2))).isoformat()
            except ValueError:
                return value
    return value


def _text(v: Any) -> Any:
    """A report scalar as text (JSON numbers -> their text, so JSON and CSV reports agree)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return v


def clean_entry(entry: dict[str, Any], date_fields: frozenset[str] = frozenset(),
                only: frozenset[str] | None = None) -> dict[str, Any]:
    """One report entry with scalars as text, dates in ISO form, blanks as absent; groups kept as lists.
    With `only`, just those fields (the ones a read needs) are kept."""
    out: dict[str, Any] = {}
    for k, v in entry.items():
        if only is not None and k not in only:
            continue
        if isinstance(v, list):
            items = [clean_entry(i, date_fields) if isinstance(i, dict) else i for i in v]
            out[k] = [i for i in items if i not in ({}, None, "")]
        elif isinstance(v, dict):
            out[k] = clean_entry(v, date_fields)
        elif v is None or v == "":
            continue
        else:
            v = _text(v)
            out[k] = iso_value(v, is_date=k in date_fields) if isinstance(v, str) else v
    return out


_PATH = re.compile(r"^(?P<field>[^\[\]]+?)(?:\[(?P<sel>[^\]]*)\](?:\.(?P<sub>[^\[\]]+))?)?$")


def compile_path(path: str) -> tuple[str, str | None, str | None]:
    """(field, selector, subfield) of an attribute path; see `resolve`."""
    m = _PATH.match(path)
    if m is None:
        return path, None, None
    return m.group("field"), m.group("sel"), m.group("sub")


def resolve(entry: dict[str, Any], path: str | tuple[str, str | None, str | None]) -> Any:
    """The value a mapped attribute names in one (cleaned) entry. None when blank or absent.

    `Work_Email`                                -> the field's value
    `Emergency_Contacts_group[].Phone`          -> every contact's phone, a tuple (multi-valued)
    `Emergency_Contacts_group[0].Name`          -> the first contact's name
    `Emergency_Contacts_group[Relationship=Spouse].Phone` -> the first Spouse's phone (case-insensitive)
    `Emergency_Contacts_group`                  -> each contact as compact JSON, a tuple
    """
    field, sel, sub = compile_path(path) if isinstance(path, str) else path
    value = entry.get(field)
    if sel is None:
        if isinstance(value, list):
            return tuple(_as_json(i) for i in value) or None
        return value
    items = value if isinstance(value, list) else ([value] if isinstance(value, dict) else [])
    if sel.strip() == "":
        picked = [i.get(sub) if isinstance(i, dict) else i for i in items] if sub else [_as_json(i) for i in items]
        return tuple(p for p in picked if p is not None) or None
    item: Any = None
    if sel.strip().isdigit():
        index = int(sel)
        item = items[index] if index < len(items) else None
    else:
        name, _, wanted = sel.partition("=")
        for candidate in items:
            if isinstance(candidate, dict) and str(candidate.get(name.strip(), "")).lower() == wanted.strip().lower():
                item = candidate
                break
    if item is None:
        return None
    if sub:
        return item.get(sub) if isinstance(item, dict) else None
    return _as_json(item)


def _as_json(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":")) if isinstance(item, dict) else str(item)


# --- report bodies --------------------------------------------------------------------------------------
def parse_json_report(body: bytes | str) -> list[dict[str, Any]]:
    """`{"Report_Entry": [...]}` -> the entries. An empty object is an empty report; anything else without
    `Report_Entry` is not a report (ReadFailed)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ReadFailed(f"the report is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReadFailed("the report is not a JSON object")
    if "Report_Entry" not in data:
        if not data:
            return []
        raise ReadFailed(f"the report has no Report_Entry (keys: {sorted(data)[:5]})")
    entries = data["Report_Entry"]
    if isinstance(entries, dict):  # a single entry, as XML-to-JSON converters sometimes give
        entries = [entries]
    if not isinstance(entries, list):
        raise ReadFailed("Report_Entry is not a list")
    return [e for e in entries if isinstance(e, dict)]


def parse_csv_report(body: bytes | str, separator: str = "\n") -> list[dict[str, Any]]:
    """A CSV report with a header row. A column named `Group.Sub` is a subfield of a multi-instance group:
    its cell holds one value per instance joined by `separator`; the instances are rebuilt by position."""
    text = body.decode("utf-8-sig") if isinstance(body, bytes) else body.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    entries: list[dict[str, Any]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        entry: dict[str, Any] = {}
        groups: dict[str, dict[str, list[str]]] = {}
        for name, cell in zip(header, row, strict=False):
            group, dot, sub = name.partition(".")
            if dot:
                groups.setdefault(group, {})[sub] = cell.split(separator) if cell != "" else []
            elif cell != "":
                entry[name] = cell
        for group, subs in groups.items():
            count = max((len(v) for v in subs.values()), default=0)
            entry[group] = [{s: vals[i] for s, vals in subs.items() if i < len(vals) and vals[i] != ""}
                            for i in range(count)]
        entries.append(entry)
    return entries


# --- who is still working -------------------------------------------------------------------------------
def worker_state(entry: dict[str, Any], settings: Settings, today: date) -> tuple[bool, bool]:
    """(active, removed) for one cleaned entry.

    A termination date decides when present: from the day after it (the last day worked) the worker is
    terminated; a future date leaves them active until then; a hire date after it is a rehire (active).
    Without a date, `status_field` decides against `inactive_statuses`.
    """
    terminated = False
    term = _as_date(entry.get(settings.termination_date)) if settings.termination_date else None
    if term is not None:
        hired = _as_date(entry.get(settings.hire_date)) if settings.hire_date else None
        terminated = today > term and not (hired is not None and hired > term)
    elif settings.status_field:
        status = str(entry.get(settings.status_field, "")).strip().lower()
        terminated = status in {s.lower() for s in settings.inactive_statuses}
    if not terminated:
        return True, False
    return False, settings.terminated_as == "removed"


def _as_date(v: Any) -> date | None:
    if not isinstance(v, str):
        return None
    try:
        return date.fromisoformat(iso_value(v, is_date=True)[:10])
    except ValueError:
        return None


# --- auth -----------------------------------------------------------------------------------------------
_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}  # (token_url, client_id) -> (token, expires at)
_TOKENS_LOCK = threading.Lock()


def default_token_url(report_url: str) -> str:
    """`https://h/ccx/service/customreport2/{tenant}/...` -> `https://h/ccx/oauth2/{tenant}/token`."""
    parts = urlsplit(report_url)
    segments = [s for s in parts.path.split("/") if s]
    try:
        tenant = segments[segments.index("customreport2") + 1]
    except (ValueError, IndexError):
        raise ValueError("cannot find the tenant in the report URL; set token_url") from None
    return urlunsplit((parts.scheme, parts.netloc, f"/ccx/oauth2/{tenant}/token", "", ""))


class _Auth:
    def __init__(self, secret: dict[str, Any], token_url: str, session: Any, timeout: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.token_url = token_url
        self.session = session
        self.timeout = timeout
        self.clock = clock
        if secret.get("refresh_token"):
            try:
                self.client_id = str(secret["client_id"])
                self.client_secret = str(secret["client_secret"])
            except KeyError:
                raise PermanentError("an OAuth secret needs client_id, client_secret and refresh_token") from None
            self.refresh_token = str(secret["refresh_token"])
            self.kind = "oauth"
        elif secret.get("username") and secret.get("password") is not None:
            raw = f"{secret['username']}:{secret['password']}".encode()
            self._basic = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
            self.kind = "basic"
        else:
            raise PermanentError("the Workday secret needs username and password (Basic) or client_id, "
                                 "client_secret and refresh_token (OAuth)")

    def headers(self) -> dict[str, str]:
        if self.kind == "basic":
            return dict(self._basic)
        cache_key = (self.token_url, self.client_id)
        with _TOKENS_LOCK:
            cached = _TOKENS.get(cache_key)
        if cached is None or cached[1] <= self.clock():
            cached = self._fetch()
        return {"Authorization": f"Bearer {cached[0]}"}

    def reauth(self) -> None:
        if self.kind == "oauth":
            with _TOKENS_LOCK:
                _TOKENS.pop((self.token_url, self.client_id), None)

    def _fetch(self) -> tuple[str, float]:
        import requests

        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            response = self.session.post(self.token_url, data=form, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise TransientError(f"Workday token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ReadFailed(f"Workday refused the refresh token ({response.status_code}); check the API client "
                             f"and its refresh token")
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise ReadFailed("Workday's token answer has no access_token") from None
        lifetime = float(body.get("expires_in") or 3600)
        entry = (token, self.clock() + max(30.0, lifetime - 60.0))
        if body.get("refresh_token") and body["refresh_token"] != self.refresh_token:
            # a rotated refresh token cannot be saved back (Secrets Manager is read here); keep it in memory
            log.warning("Workday rotated the refresh token; update the secret (kept for this process only)")
            self.refresh_token = str(body["refresh_token"])
        with _TOKENS_LOCK:
            _TOKENS[(self.token_url, self.client_id)] = entry
        return entry


# --- the connector --------------------------------------------------------------------------------------
class WorkdayConnector(Connector):
    def __init__(self, name: str, settings: Settings, attributes: Iterable[str], *, secret: dict[str, Any],
                 writable: bool = False, secrets: SecretsPort | None = None, now: Now | None = None,
                 session: Any = None, sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets)
        from .rest import RestClient, new_session

        self.now: Now = now or (lambda: datetime.now(UTC))
        self._session = session or new_session(pool=2)
        token_url = settings.token_url or default_token_url(settings.url)
        self._auth = _Auth(secret, token_url, self._session, settings.timeout)
        self._client = RestClient(settings.url, auth=self._auth.headers, reauth=self._auth.reauth,
                                  max_retries=settings.max_retries, timeout=settings.timeout,
                                  session=self._session, sleep=sleep, name=f"workday {name}")
        self._dates = frozenset({*settings.date_fields, *(f for f in (settings.hire_date,
                                                                     settings.termination_date) if f)})
        self._paths = [(a, compile_path(a)) for a in self.attributes]
        self._needed = frozenset({settings.key, *(p[0] for _, p in self._paths),
                                  *(f for f in (settings.hire_date, settings.termination_date,
                                                settings.status_field) if f)})
        self.stats: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"WorkdayConnector({self.name!r}, {self.settings.url!r}, auth={self._auth.kind})"

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
            try:
                response = self._client.request("GET", url)
            except TransientError as exc:
                raise ReadFailed(f"system {self.name!r}: {exc}") from None
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
        obs = self.observations(self.fetch_entries())
        return ReadResult(obs, cursor=None, complete=True)

    def _apply(self, change: Write) -> WriteResult:
        raise PermanentError(f"system {self.name!r}: a Workday report (RaaS) is read-only; HR is a source")

    def close(self) -> None:
        self._session.close()


def build(name: str, system_config: Any, attributes: Iterable[str], secrets: SecretsPort | None, *,
          now: Now | None = None) -> WorkdayConnector:
    settings = Settings.model_validate(system_config.settings)
    ref = system_config.credentials
    if not ref or secrets is None:
        raise PermanentError(f"system {name!r}: credentials (secret:<name>) are required for a Workday report")
    secret = secrets.get(str(ref).removeprefix("secret:"))
    if system_config.writable:
        raise PermanentError(f"system {name!r}: a Workday report (RaaS) cannot be written; remove writable")
    return WorkdayConnector(name, settings, attributes, secret=secret, writable=False, secrets=secrets, now=now)
