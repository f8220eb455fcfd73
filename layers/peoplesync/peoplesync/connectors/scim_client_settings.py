"""The `scim_client` connector's keys in a system's configuration (its pydantic model, apart from the connector: a
connector built from settings checked before, `checked_settings.py`, never imports it, nor pydantic)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .scim_client import CORE_USER, ENTERPRISE_USER


class ScimClientSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="The SCIM base URL, e.g. https://api.example.com/scim/v2")
    resource: str = Field("Users", description="The resource endpoint under base_url")
    page_size: int = Field(100, ge=1, le=1000, description="Resources per page when listing")
    requests_per_minute: float = Field(600, gt=0, description="Request budget of this client")
    max_retries: int = Field(5, ge=0, le=10)
    timeout: float = Field(10, gt=0)
    schemas: list[str] = Field(default_factory=lambda: [CORE_USER, ENTERPRISE_USER],
                               description="Schemas a created user declares")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        from .genesys import _loopback

        m = re.match(r"^(https?)://([^/:]+|\[[^\]]+\])", v)
        if m is None:
            raise ValueError("must be an http(s) URL")
        if m.group(1) == "http" and not _loopback(m.group(2).strip("[]")):
            raise ValueError("plain http is allowed only on loopback (a local test server)")
        return v.rstrip("/")


Settings = ScimClientSettings
