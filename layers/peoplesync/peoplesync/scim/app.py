"""The SCIM webhook as a pure request handler: `ScimApp.handle(ScimRequest) -> ScimResponse`.

One request goes: bearer token (401) -> size and filter bounds (413 / 400) -> vendor quirks made
RFC-shaped (`quirks`) -> the common User requests from the stored JSON (`fast`), or else scim2-server's
protocol handling over `RepositoryStorage` (`full`, imported at the first request that needs it: a cold
start whose first request is a common one never pays for scim2-models) -> the response.
Errors leave in the RFC 7644 §3.12 form. Logs carry method, endpoint, status and scimType: never a
token, a body or a filter (they hold personal data).

Wiring (what the Lambda and `peoplesync serve` do):

    app = build_app(repository, tokens, system="idp", attributes=[...], on_change=enqueue)
    response = app.handle(request)

`on_change(observation)` is called after each accepted write, with the SCIM system's view of the
resource as a peoplesync `Observation` (see `observations`).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..model import Observation
from ..ports import TransientError
from . import documents, guard, quirks
from .documents import ScimWrite
from .fast import FastPath
from .http import ScimRequest, ScimResponse, error_response
from .observations import observation_from_write
from .repository import ScimRepository

if TYPE_CHECKING:
    from .full import FullProtocol

log = logging.getLogger("peoplesync.scim")

_RESOURCE_ENDPOINTS = {"users": "User", "groups": "Group"}


class ScimApp:
    """`fast=False` sends every request through the whole protocol (the tests compare the two paths)."""

    def __init__(self, repository: ScimRepository, tokens: Iterable[str], *,
                 on_write: Callable[[ScimWrite], None] | None = None,
                 max_body_bytes: int = guard.MAX_BODY_BYTES, fast: bool = True,
                 clock: Callable[[], datetime.datetime] | None = None) -> None:
        self.tokens = guard.TokenSet(tokens)
        self.max_body_bytes = max_body_bytes
        self.repository = repository
        self.on_write = on_write
        self.clock = clock or documents.now
        self._lock = threading.RLock()  # one operation at a time in this process, whichever path takes it
        self._full: FullProtocol | None = None
        self.fast = FastPath(repository, self._emit, self.clock, self._forget) if fast else None

    @property
    def full(self) -> FullProtocol:
        """scim2-server over the repository, built (and its libraries imported) at the first request that
        needs it."""
        if self._full is None:
            from .full import FullProtocol

            self._full = FullProtocol(self.repository, self.on_write, self.clock, self._lock)
        return self._full

    def _emit(self, write: ScimWrite) -> None:
        if self.on_write is not None:
            self.on_write(write)

    def _forget(self, type_: str, id_: str) -> None:
        if self._full is not None:
            self._full.storage.forget(type_, id_)

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
            return self._answer(method, path, request, body)
        except TransientError as exc:
            retry = {"Retry-After": str(int(exc.retry_after or 1))}
            return error_response(503, "the store is busy; retry", headers=retry)
        except Exception as exc:  # a bug: answer 500 without details, log the type only
            log.error("scim %s %s failed: %s", method, _endpoint(path), type(exc).__name__)
            return error_response(500, "internal error")

    def _answer(self, method: str, path: str, request: ScimRequest, body: bytes) -> ScimResponse:
        query, headers = dict(request.query), dict(request.headers)
        if self.fast is not None and _json_or_none(request.header("Content-Type")):
            try:
                decoded = json.loads(body) if body else None
            except (ValueError, RecursionError):
                decoded = _UNREADABLE
            if decoded is not _UNREADABLE:
                with self._lock:
                    answer = self.fast.handle(method, [p for p in path.split("/") if p], query, headers,
                                              decoded, request.base_url)
                if answer is not None:
                    return answer
        return self.full.handle(method, request.base_url, path, query, headers, body)

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


_UNREADABLE = object()


def _json_or_none(content_type: str | None) -> bool:
    """A body the protocol reads as JSON (no Content-Type, or a JSON one); anything else gets its 415 there."""
    if not content_type:
        return True
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


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

