"""An in-process SCIM webhook over the in-memory repository, and a client that speaks to it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from peoplesync.model import Observation
from peoplesync.scim.app import ScimApp, build_app
from peoplesync.scim.http import ScimRequest, ScimResponse
from peoplesync.scim.repository import MemoryScimRepository

TOKEN = "unit-test-token-0123456789"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ATTRIBUTES = ["userName", "title", "active", "name.givenName", 'emails[type eq "work"].value',
              f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager", "displayName", "members"]


class Client:
    def __init__(self, app: ScimApp, token: str | None = TOKEN) -> None:
        self.app = app
        self.token = token

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> ScimResponse:
        h = {"Content-Type": "application/scim+json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        return self.app.handle(ScimRequest(method, path, query or {}, h, data))

    def get(self, path: str, **query: str) -> ScimResponse:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: Any, **kw: Any) -> ScimResponse:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> ScimResponse:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, *operations: dict[str, Any], **kw: Any) -> ScimResponse:
        return self.call("PATCH", path, {"schemas": [PATCH], "Operations": list(operations)}, **kw)

    def delete(self, path: str, **kw: Any) -> ScimResponse:
        return self.call("DELETE", path, **kw)

    def user(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        schemas = [USER, ENTERPRISE] if ENTERPRISE in attrs else [USER]
        r = self.post("/Users", {"schemas": schemas, "userName": user_name, **attrs})
        assert r.status == 201, r.body
        return r.body

    def group(self, name: str, members: list[str] = ()) -> dict[str, Any]:
        r = self.post("/Groups", {"schemas": [GROUP], "displayName": name,
                                  "members": [{"value": m} for m in members]})
        assert r.status == 201, r.body
        return r.body


@pytest.fixture
def repo() -> MemoryScimRepository:
    return MemoryScimRepository()


@pytest.fixture
def changes() -> list[Observation]:
    return []


@pytest.fixture
def app(repo: MemoryScimRepository, changes: list[Observation]) -> ScimApp:
    return build_app(repo, [TOKEN, "second-valid-token"], system="idp", attributes=ATTRIBUTES,
                     on_change=changes.append)


@pytest.fixture
def client(app: ScimApp) -> Client:
    return Client(app)
