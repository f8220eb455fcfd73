"""The `genesys_cloud` connector's keys in a system's configuration (its pydantic models, apart from the connector:
a connector built from settings checked before, `checked_settings.py`, never imports them, nor pydantic)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .genesys_props import BATCH, GenesysSettingsProps, _loopback


class GenesysGroupScope(BaseModel):
    """`groups:` in a `genesys_cloud` system: which groups the bridge reads and writes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: list[str] = Field(default_factory=list, description="The groups in scope, by id")
    names: list[str] = Field(default_factory=list, description="The groups in scope, by exact name")
    name_prefix: str | None = Field(None, description="Every group whose name starts with this ('' = all)")
    page_size: int = Field(100, ge=1, le=500, description="Groups, and members, per page when listing")
    batch_size: int = Field(BATCH, ge=1, le=BATCH, description="Member ids per add or remove request (<= 50)")

    @model_validator(mode="after")
    def _some(self) -> GenesysGroupScope:
        if not self.ids and not self.names and self.name_prefix is None:
            raise ValueError("say which groups: ids, names or name_prefix ('' for every group)")
        return self


class GenesysSettings(GenesysSettingsProps, BaseModel):
    """The `genesys_cloud` system keys (besides connector, schedule, credentials, writable, provision)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = Field(None, description="AWS region (us-east-1) or org domain (mypurecloud.com)")
    base_url: str | None = Field(None, description="API base URL instead of a region: the local stand-in")
    login_url: str | None = Field(None, description="OAuth host; default: from region, or base_url")
    page_size: int = Field(500, ge=1, le=500, description="Users per page when listing")
    requests_per_minute: float = Field(300, gt=0, description="Budget shared by every caller of this client")
    budget_store: Literal["process", "dynamodb"] = Field(
        "process", description="Where the budget is kept: this process, or a DynamoDB table (all Lambdas); "
                               "the runtime passes the DynamoDB store in (connectors never build it)")
    budget_table: str | None = Field(None, description="DynamoDB table for budget_store: dynamodb")
    division_id: str | None = Field(None, description="Division new users are created in; default: home")
    locations_by: Literal["name", "id"] = Field("name", description="How the `locations` attribute names them")
    max_retries: int = Field(5, ge=0, le=10, description="Retries of a 429 / 5xx before giving up")
    max_retry_after: float = Field(120, gt=0, description="Longer Retry-After: give the write back to the queue")
    timeout: float = Field(10, gt=0, description="Seconds per HTTP request")
    groups: GenesysGroupScope | None = Field(None, description="Groups in scope (ids, names or name_prefix)")

    @model_validator(mode="after")
    def _where(self) -> GenesysSettings:
        if (self.region is None) == (self.base_url is None):
            raise ValueError("give exactly one of region (the real platform) or base_url (a stand-in)")
        for url in (self.base_url, self.login_url):
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError(f"{url!r} is not an http(s) URL")
                if parts.scheme == "http" and not _loopback(parts.hostname):
                    raise ValueError(f"{url!r}: plain http is allowed only on loopback (a local stand-in)")
        if self.budget_store == "dynamodb" and not self.budget_table:
            raise ValueError("budget_store: dynamodb needs budget_table")
        return self


Settings = GenesysSettings  # the name the registry and configuration checks look for
