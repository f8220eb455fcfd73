"""The whole SCIM protocol: scim2-server's handling over `RepositoryStorage` (every endpoint, filter, PATCH path,
discovery document and RFC 7644 error).

Imported only when a request needs it (`app.ScimApp`): scim2-models and scim2-server cost about half a second
of import and model building at a cold start, which the common User requests (`fast`) do without.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def _without_attribute_docstrings() -> Iterator[None]:
    """scim2-models asks pydantic for attribute docstrings (`use_attribute_docstrings`): `inspect` reads the
    source of every model class, about a third of its import and of building the models from the schema
    documents. They only become field descriptions, which nothing here serves: the discovery documents
    (/Schemas, /ResourceTypes) come from the RFC 7643 JSON the provider is built from, and are the same
    either way (tests/unit/scim/test_scim_fast_path.py compares them). PEOPLESYNC_SCIM_DOCSTRINGS=1 keeps
    them; a pydantic without this internal hook is left alone."""
    from pydantic._internal import _fields

    hook = getattr(_fields, "extract_docstrings_from_cls", None)
    if hook is None or os.environ.get("PEOPLESYNC_SCIM_DOCSTRINGS") == "1":
        yield
        return
    _fields.extract_docstrings_from_cls = lambda cls, use_inspect=False: {}
    try:
        yield
    finally:
        _fields.extract_docstrings_from_cls = hook


with _without_attribute_docstrings():
    from pydantic import ValidationError
    from scim2_models import Context, Error, Resource, ResourceType, SCIMException
    from scim2_server.handler import ScimHandler
    from scim2_server.requests import ScimRequest as _Request
    from scim2_server.responses import ScimResponse as _Response
    from scim2_server.service import ScimService

    from .http import ScimResponse
    from .provider import provider
    from .repository import ScimRepository
    from .storage import RepositoryStorage, ScimWrite


class _Service(ScimService):
    def patch_response(self, base_url: str, resource: Resource[Any], response_parameters: Any) -> _Response:
        """200 with the resource, always: Okta reads the result of a PATCH, Entra accepts 200 or 204."""
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


class FullProtocol:
    """scim2-server answering one request (already authenticated, bounded and made RFC-shaped by `app`)."""

    def __init__(self, repository: ScimRepository, on_write: Callable[[ScimWrite], None] | None,
                 clock: Callable[[], datetime.datetime], lock: threading.RLock) -> None:
        self.storage = RepositoryStorage(repository, on_write, clock=clock, lock=lock)
        with _without_attribute_docstrings():  # the models built from the schema documents, likewise
            self.service = _Service(provider())
        self.handler = _Handler(self.service, self.storage)

    def handle(self, method: str, base_url: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> ScimResponse:
        try:
            out = self.handler.handle(_Request(method=method, base_url=base_url, path=path, query=query,
                                               headers=headers, body=body))
        except SCIMException as exc:
            out = self.service.error_response(exc)
        except ValidationError as exc:  # a body the models refuse outside the request contexts
            out = self.service.error_response(SCIMException.from_error(Error.from_validation_errors(exc)[0]))
        headers_out = {k: v for k, v in out.headers.items() if not (k == "Content-Type" and out.body is None)}
        return ScimResponse(int(out.status), out.body, headers_out)
