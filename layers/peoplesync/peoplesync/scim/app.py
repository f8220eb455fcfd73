"""The SCIM webhook as a pure request handler: `ScimApp.handle(ScimRequest) -> ScimResponse`.

One request goes: bearer token (401) -> size and filter bounds (413 / 400) -> vendor quirks made
RFC-shaped (`quirks`) -> scim2-server's protocol handling over `RepositoryStorage` -> the response.
Errors leave in the RFC 7644 §3.12 form. Logs carry method, endpoint, status and scimType: never a
token, a body or a filter (they hold personal data).

Wiring (what the Lambda and `peoplesync serve` do):

    app = build_app(repository, tokens, system="idp", attributes=[...], on_change=enqueue)
    response = app.handle(request)

`on_change(observation)` is called after each accepted write, with the SCIM system's view of the
resource as a peoplesync `Observation` (see `observations`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from scim2_models import Error, Resource, ResourceType, SCIMException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest as _Request
from scim2_server.responses import ScimResponse as _Response
from scim2_server.service import ScimService

from ..model import Observation
from ..ports import TransientError
from . import guard, quirks
from .http import ScimRequest, ScimResponse, error_response
from .observations import observation_from_write
from .provider import provider
from .repository import ScimRepository
from .storage import RepositoryStorage, ScimWrite

log = logging.getLogger("peoplesync.scim")

_RESOURCE_ENDPOINTS = {"users": "User", "groups": "Group"}


class _Service(ScimService):
    def patch_response(self, base_url: str, resource: Resource[Any], response_parameters: Any) -> _Response:
        """200 with the resource, always: Okta reads the result of a PATCH, Entra accepts 200 or 204."""
        from scim2_models import Context

        return self.resource_response(self.publish(base_url, resource), Context.RESOURCE_REPLACEMENT_RESPONSE,
                                      response_parameters)


class _Handler(ScimHandler):
    storage: RepositoryStorage

    def replace_resource(self, resource_type: ResourceType, current: Resource[Any], replacement: Resource[Any],
                         conditions: Any) -> Resource[Any]:
        result = super().replace_resource(resource_type, current, replacement, conditions)
        if result is current:
            self.storage.touch(resource_type, current)
        return result

    def patch_resource(self, resource_type: ResourceType, resource_id: str, patch_op: Any,
                       conditions: Any) -> Resource[Any]:
        current = self.storage.get(resource_type, resource_id)
        assert current.meta is not None
        version = current.meta.version
        patched = self.service.apply_patch(current, patch_op, conditions)
        if patched is None:
            self.storage.touch(resource_type, current)
            return current
        return self.storage.update(resource_type, patched, expected_version=version)


class ScimApp:
    def __init__(self, repository: ScimRepository, tokens: Iterable[str], *,
                 on_write: Callable[[ScimWrite], None] | None = None,
                 max_body_bytes: int = guard.MAX_BODY_BYTES) -> None:
        self.tokens = guard.TokenSet(tokens)
        self.max_body_bytes = max_body_bytes
        self.storage = RepositoryStorage(repository, on_write)
        self.service = _Service(provider())
        self.handler = _Handler(self.service, self.storage)

    def handle(self, request: ScimRequest) -> ScimResponse:
        started = time.perf_counter()
        response = self._handle(request)
        log.info("scim %s %s -> %s%s (%.1f ms)", request.method.upper(), _endpoint(request.path),
                 response.status, f" {response.body.get('scimType')}" if response.body and
                 response.status >= 400 and response.body.get("scimType") else "",
                 (time.perf_counter() - started) * 1000)
        return response

    def _handle(self, request: ScimRequest) -> ScimResponse:
        authorization = request.header("Authorization")
        if not self.tokens.check(authorization):
            return error_response(401, "a valid bearer token is required",
                                  headers={"WWW-Authenticate": guard.challenge(authorization)})
        if len(request.body) > self.max_body_bytes:
            return error_response(413, f"the body exceeds {self.max_body_bytes} bytes")
        method = request.method.upper()
        path = "/" + "/".join(p for p in request.path.split("/") if p)
        try:
            body = self._checked_body(method, path, request)
        except _Refused as refused:
            return refused.response
        try:
            out = self.handler.handle(_Request(method=method, base_url=request.base_url, path=path,
                                               query=dict(request.query), headers=dict(request.headers),
                                               body=body))
        except SCIMException as exc:
            out = self.service.error_response(exc)
        except ValidationError as exc:  # a body the models refuse outside the request contexts
            out = self.service.error_response(SCIMException.from_error(Error.from_validation_errors(exc)[0]))
        except TransientError as exc:
            retry = {"Retry-After": str(int(exc.retry_after or 1))}
            return error_response(503, "the store is busy; retry", headers=retry)
        except Exception as exc:  # a bug: answer 500 without details, log the type only
            log.error("scim %s %s failed: %s", method, _endpoint(path), type(exc).__name__)
            return error_response(500, "internal error")
        return _convert(out)

    def _checked_body(self, method: str, path: str, request: ScimRequest) -> bytes:
        for name in ("attributes", "excludedAttributes", "sortBy", "sortOrder", "startIndex", "count"):
            value = request.query.get(name)
            if value is not None and len(value) > guard.MAX_PARAM_CHARS:
                raise _Refused(error_response(400, f"{name} is too long", "invalidValue"))
        filter_text = request.query.get("filter")
        if filter_text is not None:
            _check_filter(filter_text)
        if "cursor" in request.query:  # RFC 9865 cursor paging: not offered (ServiceProviderConfig says so)
            raise _Refused(error_response(400, "cursor pagination is not supported; page with startIndex and "
                                               "count", "invalidCursor"))
        parts = [p for p in path.split("/") if p]
        if method not in ("POST", "PUT", "PATCH") or not request.body:
            return request.body
        try:
            decoded = json.loads(request.body)
        except (ValueError, RecursionError):
            return request.body  # scim2-server answers invalidSyntax
        if parts and parts[-1] == ".search":
            if isinstance(decoded, dict) and isinstance(decoded.get("filter"), str):
                _check_filter(decoded["filter"])
            return request.body
        type_ = _RESOURCE_ENDPOINTS.get(parts[0].lower()) if parts else None
        if type_ is None:
            return request.body
        resource_id = parts[1] if len(parts) > 1 else None
        fixed = quirks.normalise(method, type_, resource_id, decoded)
        return request.body if fixed is decoded else json.dumps(fixed).encode()


class _Refused(Exception):
    def __init__(self, response: ScimResponse) -> None:
        self.response = response


def _check_filter(text: str) -> None:
    problem = guard.filter_problem(text)
    if problem:
        raise _Refused(error_response(400, problem, "invalidFilter"))


def _convert(out: _Response) -> ScimResponse:
    headers = {k: v for k, v in out.headers.items() if not (k == "Content-Type" and out.body is None)}
    return ScimResponse(int(out.status), out.body, headers)


def _endpoint(path: str) -> str:
    """The path with the resource id left out: ids are safe, but logs group better by endpoint."""
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join(parts[:1] + (["{id}"] if len(parts) > 1 and parts[1] != ".search" else parts[1:2]))


def build_app(repository: ScimRepository, tokens: Iterable[str], *, system: str | None = None,
              attributes: Iterable[str] = (), on_change: Callable[[Observation], None] | None = None,
              **options: Any) -> ScimApp:
    """The webhook wired to the pipeline: each accepted write becomes an Observation for `on_change`."""
    on_write = None
    if on_change is not None:
        if system is None:
            raise ValueError("on_change needs the name of the SCIM system")
        attrs = list(attributes)

        def on_write(write: ScimWrite) -> None:
            observation = observation_from_write(system, write, attrs)
            try:
                on_change(observation)
            except Exception as exc:
                # Stored but not yet handed on: 503 makes the IdP retry, and the retry (a no-op write)
                # hands the same view on again with a newer marker.
                log.error("scim on_change failed: %s", type(exc).__name__)
                raise TransientError("could not hand the change on") from exc

    return ScimApp(repository, tokens, on_write=on_write, **options)

