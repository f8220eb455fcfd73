"""Microsoft Graph (Entra ID) as a peoplesync system (`connector: graph`): users read so that people link, and
Microsoft 365 and security groups whose membership the bridge reads and writes (`graph_groups.py`).

Users: `GET /users/delta?$select=id,accountEnabled,<mapped attributes>` (any user property: userPrincipalName,
mail, employeeId, displayName, jobTitle, ...). The first round is the full read; its `@odata.deltaLink` is the
cursor, and the next poll reads only the users that changed (each read again whole, in `$batch`es of 20, since
a delta entry may carry only the properties that changed). A user's key is its object id, the form group
members take; `active` is `accountEnabled`. Users are read only: writing profiles through Graph is not done
(a user write is refused, naming the reason).

Token: client credentials against `login_url/<tenant>/oauth2/v2.0/token` (`graph_api.GraphCredentials`, no
MSAL: see there and docs/graph.md). Requests share a token bucket (`requests_per_minute`) and one retry policy
(429 with Retry-After, 5xx), as the other HTTP connectors do. Configuration, permissions, simplifications:
docs/graph.md.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..model import GROUP, Observation, Write
from ..ports import (
    Capabilities,
    PermanentError,
    ReadFailed,
    ReadPage,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)
from ..retry import RetryPolicy
from . import graph_pages
from .base import BaseConnector, Harvest
from .graph_api import BATCH_LIMIT, GraphApi, graph_error
from .graph_groups import GraphGroups
from .ratelimit import BucketStore, TokenBucket, process_store

log = logging.getLogger(__name__)

#: mapped attributes that are not user properties (group ones): never in a users $select
NOT_USER = frozenset({"members", "description", "groupTypes", "mailEnabled", "securityEnabled"})
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# a filter that selects mail-enabled groups other than Microsoft 365 ones: Graph cannot write their members
_MAIL_ENABLED = re.compile(r"mailEnabled\s+eq\s+true", re.IGNORECASE)


class GraphGroupScope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: list[str] = Field(default_factory=list, description="Groups in scope by object id")
    filter: str | None = Field(None, description="Groups in scope by a Graph $filter (resolved at each full read), "
                                                 "e.g. groupTypes/any(c:c eq 'Unified')")
    read_only: bool = Field(False, description="Only read these groups (allows distribution lists in scope)")

    @model_validator(mode="after")
    def _check(self) -> GraphGroupScope:
        if not self.ids and not self.filter:
            raise ValueError("say which groups: ids, or a filter")
        f = self.filter or ""
        if not self.read_only and _MAIL_ENABLED.search(f) and "unified" not in f.lower():
            raise ValueError("this filter selects distribution lists or mail-enabled security groups (mailEnabled "
                             "eq true, not Microsoft 365 groups): Microsoft Graph cannot change their members. "
                             "Write them in Active Directory (hybrid), convert them to Microsoft 365 groups, or use "
                             "Exchange Online PowerShell (not done by peoplesync); set read_only: true to only "
                             "read them (docs/graph.md)")
        return self


class GraphSettings(BaseModel):
    """The `graph` system keys (besides connector, schedule, credentials, writable, provision)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(description="The Entra ID tenant (directory) id or domain")
    graph_url: str = Field("https://graph.microsoft.com/v1.0", description="Graph root; a stand-in's locally")
    login_url: str = Field("https://login.microsoftonline.com", description="Token host; a stand-in's locally")
    groups: GraphGroupScope | None = Field(None, description="Groups in scope; none: users only")
    page_size: int = Field(999, ge=1, le=999, description="$top of listings (Graph allows 1..999)")
    batch_size: int = Field(BATCH_LIMIT, ge=1, le=BATCH_LIMIT, description="Requests per $batch (Graph: <= 20)")
    requests_per_minute: float = Field(6000, gt=0, description="Budget shared by every caller of this client")
    budget_store: Literal["process", "dynamodb"] = Field(
        "process", description="Where the budget is kept: this process, or a DynamoDB table (all Lambdas); "
                               "the runtime passes the DynamoDB store in (connectors never build it)")
    budget_table: str | None = Field(None, description="DynamoDB table for budget_store: dynamodb")
    max_retries: int = Field(5, ge=0, le=10, description="Retries of a 429 / 5xx before giving up")
    max_retry_after: float = Field(120, gt=0, description="Longer Retry-After: give the write back to the queue")
    timeout: float = Field(30, gt=0, description="Seconds per HTTP request")

    @field_validator("graph_url", "login_url")
    @classmethod
    def _url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(f"{url!r}: plain http is allowed only on loopback (a local stand-in)")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _budget(self) -> GraphSettings:
        if self.budget_store == "dynamodb" and not self.budget_table:
            raise ValueError("budget_store: dynamodb needs budget_table")
        return self


Settings = GraphSettings


class GraphConnector(BaseConnector):
    Settings = GraphSettings
    credential_keys = ("client_id", "client_secret")
    credentials_required = True
    cursor_version = 1

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        """Group membership is written; users are only read, and nothing is created, disabled or deleted."""
        return Capabilities(True, False, False, False, {
            "create": "the graph connector creates neither users nor groups: create them in Entra ID",
            "deactivate": "users are only read through Microsoft Graph", "delete": "users are only read"})

    def __init__(self, name: str, settings: GraphSettings, attributes: Iterable[str], *,
                 credentials: Mapping[str, Any] | None = None, writable: bool = True,
                 secrets: SecretsPort | None = None, buckets: BucketStore | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None) -> None:
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets, buckets=buckets)
        client_id, client_secret = (str((credentials or {}).get(k) or "") for k in self.credential_keys)
        if not client_id or not client_secret:
            raise PermanentError(f"system {name!r}: credentials holding client_id and client_secret are required")
        bad = [a for a in self.attributes if not _PROPERTY.match(a)]
        if bad:
            raise PermanentError(f"system {name!r}: {bad} are not Graph property names")
        self.user_attrs = [a for a in self.attributes if a not in NOT_USER]
        self.bucket = TokenBucket(f"graph:{settings.tenant_id}:{client_id}", settings.requests_per_minute,
                                  store=buckets or process_store(), clock=clock, sleep=sleep or time.sleep)
        policy = RetryPolicy.with_retries(settings.max_retries, max_retry_after=settings.max_retry_after,
                                          rng=rng or random.Random())
        self.api = GraphApi(settings.graph_url, f"{settings.login_url}/{settings.tenant_id}/oauth2/v2.0/token",
                            client_id, client_secret, bucket=self.bucket, policy=policy, clock=clock, sleep=sleep,
                            timeout=settings.timeout, name=name, batch_size=settings.batch_size)
        g = settings.groups
        self.groups = None if g is None else GraphGroups(
            name, self.api, self.attributes, ids=g.ids, filter=g.filter, page_size=settings.page_size,
            writable=writable and not g.read_only)

    # --- reads -------------------------------------------------------------------------------------------------
    def _read_full(self) -> ReadResult:
        entries, link = self.api.delta("/users/delta", {"$select": self.user_select()})
        if link is None:
            raise ReadFailed(f"{self.name}: a first users/delta round was refused as expired")
        observations = [self.observe_user(u) for u in entries if "@removed" not in u]
        state: dict[str, Any] = {"users": link}
        if self.groups is not None:
            groups, state["groups"] = self.groups.read_full()
            observations += groups
        return Harvest(observations, complete=True, state=state)

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
        if not state.get("users"):
            return None
        entries, link = self.api.delta(str(state["users"]))
        if link is None or (self.groups is not None and "groups" not in state):
            return None  # expired, or groups came into scope since: read in full
        removed = {str(u["id"]) for u in entries if "@removed" in u}
        changed = sorted({str(u["id"]) for u in entries} - removed)
        observations = [Observation(self.name, uid, {}, active=False, removed=True) for uid in sorted(removed)]
        observations += self._users(changed)
        new: dict[str, Any] = {"users": link}
        if self.groups is not None:
            delta = self.groups.read_delta(state["groups"])
            if delta is None:
                return None
            groups, new["groups"] = delta
            observations += groups
        return Harvest(observations, complete=False, state=new)

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """A full round in native pages (`graph_pages.py`) when `page_size` is given; a delta read (a cursor
        and no position) is one page, as `read` gives it."""
        delta = not full and start is None and self._decode(cursor) is not None
        if page_size is None or delta:
            yield from super().read_pages(cursor, full=full, page_size=page_size, start=start)
            return
        with self._session():
            try:
                yield from graph_pages.read_pages(self, page_size, start)
            except Exception as exc:
                failure = self._read_failure(exc)
                if failure is None:
                    raise
                raise failure from None

    def encode_state(self, state: dict[str, Any]) -> str | None:
        return self._encode(state)

    def _users(self, ids: list[str]) -> list[Observation]:
        """These users read again whole (a delta entry may hold only what changed); a 404 is a user gone."""
        select = self.user_select()
        answers = self.api.batch([{"id": uid, "method": "GET", "url": f"/users/{uid}?$select={select}"}
                                  for uid in ids])
        out = []
        for uid in ids:
            answer = answers[uid]
            if answer.get("status") == 404:
                out.append(Observation(self.name, uid, {}, active=False, removed=True))
            elif answer.get("status") != 200 or not isinstance(answer.get("body"), dict):
                raise ReadFailed(f"{self.name}: GET /users/{uid}: {answer.get('status')}")
            else:
                out.append(self.observe_user(answer["body"]))
        return out

    def read_keys(self, keys: list[str]) -> ReadResult:
        """Users and groups read again now. A key that is no user (404) may be a group's: a group is never
        mistaken for a removed user."""
        out = []
        try:
            for obs in self._users(sorted(set(keys))):
                if obs.removed and self.groups is not None:
                    group = self.groups.reread(obs.key)
                    obs = obs if group.removed else group
                out.append(obs)
        except (TransientError, PermanentError) as exc:  # outside the read template: said as a read failure
            raise ReadFailed(f"{self.name}: {exc}") from None
        return ReadResult(out, complete=False)

    def user_select(self) -> str:
        return ",".join(dict.fromkeys(["id", "accountEnabled", *self.user_attrs]))

    def observe_user(self, user: Mapping[str, Any]) -> Observation:
        attrs = {a: _blank(user.get(a)) for a in self.user_attrs}
        return Observation(self.name, str(user["id"]), attrs, active=user.get("accountEnabled") is not False)

    # --- writes ------------------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        if change.kind == GROUP:
            if self.groups is None:
                raise PermanentError(f"{self.name}: group writes need `groups:` in this system's settings")
            if not self.groups.writable:
                raise PermanentError(f"{self.name}: groups are read_only in this system's settings")
            return self.groups.apply(change)
        raise PermanentError(f"{self.name}: writing users through Microsoft Graph is not supported (users are read "
                             f"so that people link); map user fields with this system as a source only")

    def _translate(self, exc: Exception) -> Any:
        import requests

        if isinstance(exc, requests.RequestException):  # reads turn it into a ReadFailed; writes are retried
            return TransientError(f"{self.name}: {type(exc).__name__}")
        return None


def _blank(value: Any) -> Any:
    if isinstance(value, list):  # a multi-valued property (businessPhones, proxyAddresses): a tuple
        return tuple(value) or None
    return None if value == "" else value


def _loopback(host: str) -> bool:
    from ipaddress import ip_address

    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


__all__ = ["CONNECTOR", "GraphConnector", "GraphSettings", "Settings", "graph_error"]

CONNECTOR = GraphConnector
