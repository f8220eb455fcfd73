"""The `graph` connector's keys in a system's configuration (its pydantic models, apart from the connector: a
connector built from settings checked before, `checked_settings.py`, never imports them, nor pydantic)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .graph import _loopback
from .graph_api import BATCH_LIMIT

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
