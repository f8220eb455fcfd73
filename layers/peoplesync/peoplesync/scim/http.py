"""The webhook's request and response, independent of API Gateway, HTTP servers and SCIM libraries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCIM_MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass(slots=True)
class ScimRequest:
    """One HTTP request below the SCIM base path (`path` is e.g. `/Users/2819c223`, never the base itself).

    `base_url` is the SCIM root as the client sees it (used for `meta.location`); `headers` keys are
    compared case-insensitively.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = "http://localhost/scim/v2"

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        values = [v for k, v in self.headers.items() if k.lower() == lowered]
        return ", ".join(values) if values else None


@dataclass(slots=True)
class ScimResponse:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = int(self.status)
        if self.body is not None:
            self.headers.setdefault("Content-Type", SCIM_MEDIA_TYPE)

    def body_bytes(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body, separators=(",", ":")).encode()


def error_response(status: int, detail: str, scim_type: str | None = None,
                   headers: dict[str, str] | None = None) -> ScimResponse:
    """An RFC 7644 §3.12 error. `status` is a string in the body, as the RFC's examples show."""
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return ScimResponse(status, body, dict(headers or {}))
