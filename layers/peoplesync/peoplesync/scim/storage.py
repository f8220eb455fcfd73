"""scim2-server's storage interface over a `ScimRepository`: documents in, validated resources out.

The repository keeps plain JSON; this adapter turns it into scim2-models resources (cached per id and
version, so a warm function validates each stored resource once), answers searches (an `eq` on an indexed
attribute is a lookup, anything else walks the type), stamps `meta`, and reports each accepted write to
`on_write` after the repository took it.
"""

from __future__ import annotations

import datetime
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from scim2_models import (
    NotFoundException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator
from scim2_server.storage import ScimStorage, SearchPage

from ..ports import VersionConflict
from . import documents
from .documents import ScimWrite, comparable, index_keys
from .documents import version_number as _version_number
from .provider import model_for
from .repository import INDEXED, ResourceNotFound, ScimRepository, Stored, UniquenessConflict

_CACHE_LIMIT = 50_000


class RepositoryStorage(ScimStorage):
    supports_cursors = False

    def __init__(self, repository: ScimRepository, on_write: Callable[[ScimWrite], None] | None = None,
                 clock: Callable[[], datetime.datetime] = documents.now, serialise: bool = True,
                 lock: threading.RLock | None = None) -> None:
        self.repository = repository
        self.on_write = on_write
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[int, Resource[Any]]] = {}
        # One operation at a time in this process: a PATCH reads, applies and writes without a local race.
        # Across processes (Lambda), the repository's version condition catches the race.
        self._lock = (lock or threading.RLock()) if serialise else None

    @contextmanager
    def operation(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    def forget(self, type_: str, id_: str) -> None:
        """Written by the other path (`fast`): the cached resource, if any, is no longer the stored one."""
        self._cache.pop((type_, id_), None)

    # --- conversions ------------------------------------------------------------------------------------
    def _resource(self, stored: Stored) -> Resource[Any]:
        """The validated resource of a stored document; shared (from the cache): callers must not change it."""
        key = (stored.type, stored.id)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stored.version:
            return hit[1]
        doc = stored.doc
        doc.setdefault("meta", {})["version"] = stored.etag
        resource = model_for(stored.type).model_validate(doc)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (stored.version, resource)
        return resource

    @staticmethod
    def _doc(resource: Resource[Any]) -> dict[str, Any]:
        doc = resource.model_dump()
        doc.pop("password", None)  # never stored (RFC 7643 §4.1.1: returned never)
        meta = doc.get("meta") or {}
        meta.pop("location", None)
        meta.pop("version", None)  # the repository's counter is the version
        return doc

    def _emit(self, stored: Stored, removed: bool = False) -> None:
        if self.on_write is not None:
            self.on_write(ScimWrite(stored.type, stored.id, None if removed else stored.doc, stored.seq, removed))

    # --- ScimStorage ------------------------------------------------------------------------------------
    def get(self, resource_type: ResourceType, resource_id: str, *,
            response_parameters: ResponseParameters[Any] | None = None) -> Resource[Any]:
        stored = self.repository.get(str(resource_type.name), resource_id)
        if stored is None:
            raise NotFoundException(detail=f"{resource_type.name} {resource_id} not found")
        return self._resource(stored).model_copy(deep=True)

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        type_ = str(resource_type.name)
        now = self.clock()
        doc = self._doc(resource)
        doc["id"] = documents.new_id()
        doc["meta"] = {"resourceType": type_, "created": documents.timestamp(now),
                       "lastModified": documents.timestamp(now)}
        try:
            stored = self.repository.create(type_, doc["id"], doc, index_keys(type_, doc))
        except UniquenessConflict as exc:
            raise UniquenessException(detail=str(exc)) from None
        self._emit(stored)
        return self._resource(stored).model_copy(deep=True)

    def update(self, resource_type: ResourceType, resource: Resource[Any], *,
               expected_version: str | None = None) -> Resource[Any]:
        type_ = str(resource_type.name)
        doc = self._doc(resource)
        doc.setdefault("meta", {})["lastModified"] = documents.timestamp(self.clock())
        doc["meta"]["resourceType"] = type_
        _dedupe_members(doc)
        try:
            stored = self.repository.replace(type_, str(resource.id), doc, index_keys(type_, doc),
                                             _version_number(expected_version))
        except UniquenessConflict as exc:
            raise UniquenessException(detail=str(exc)) from None
        except ResourceNotFound:
            raise NotFoundException(detail=f"{type_} {resource.id} not found") from None
        except VersionConflict:
            raise PreconditionFailedException(detail=f"{type_} {resource.id} changed meanwhile") from None
        self._emit(stored)
        return self._resource(stored).model_copy(deep=True)

    def touch(self, resource_type: ResourceType, resource: Resource[Any]) -> None:
        """An accepted write that changed nothing: still an IdP sync of this resource (see repository)."""
        try:
            stored = self.repository.touch(str(resource_type.name), str(resource.id),
                                           _version_number(resource.meta.version if resource.meta else None))
        except ResourceNotFound:
            raise NotFoundException(detail=f"{resource_type.name} {resource.id} not found") from None
        except VersionConflict:
            raise PreconditionFailedException(detail=f"{resource_type.name} {resource.id} changed meanwhile") \
                from None
        self._emit(stored)

    def delete(self, resource_type: ResourceType, resource_id: str, *,
               expected_version: str | None = None) -> None:
        type_ = str(resource_type.name)
        try:
            stored = self.repository.delete(type_, resource_id, _version_number(expected_version))
        except ResourceNotFound:
            raise NotFoundException(detail=f"{type_} {resource_id} not found") from None
        except VersionConflict:
            raise PreconditionFailedException(detail=f"{type_} {resource_id} changed meanwhile") from None
        self._cache.pop((type_, resource_id), None)
        self._emit(stored, removed=True)

    def search(self, resource_types: list[ResourceType], search_request: SearchRequest[Any], *,
               position: Any = None) -> SearchPage:
        scim_filter = search_request.filter
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        if scim_filter is None and search_request.sort_by is None and len(resource_types) == 1:
            # A plain listing (Okta's import pages through everyone): the repository's id order is the
            # page order, so only the page itself is turned into resources.
            name = str(resource_types[0].name)
            page = [self._resource(s) for s in itertools.islice(self.repository.list(name), start, stop)]
            return SearchPage(self.repository.count(name), page)
        found: list[Resource[Any]] = []
        for rt in resource_types:
            found += [r for r in self._candidates(str(rt.name), scim_filter)
                      if scim_filter is None or _matches(scim_filter, r)]
        descending = search_request.sort_by is not None and \
            search_request.sort_order == SearchRequest.SortOrder.descending
        if search_request.sort_by is not None:
            try:
                found.sort(key=lambda r: _sort_key(search_request, r), reverse=descending)
            except TypeError:  # values of mixed types (a multi-valued attribute): order by their text
                found.sort(key=lambda r: tuple(map(str, _sort_key(search_request, r))), reverse=descending)
        return SearchPage(len(found), found[start:stop])

    def _candidates(self, type_: str, scim_filter: ScimFilter[Any] | None) -> Iterator[Resource[Any]]:
        lookup = _lookup(type_, scim_filter.ast) if scim_filter is not None else None
        stored = self.repository.find(type_, *lookup) if lookup else self.repository.list(type_)
        for s in stored:
            yield self._resource(s)


def _matches(scim_filter: ScimFilter[Any], resource: Resource[Any]) -> bool:
    try:
        return scim_filter.match(resource)
    except (TypeError, ValueError):  # a comparison the attribute's type cannot make matches nothing
        return False


def _lookup(type_: str, node: Any) -> tuple[str, str] | None:
    """(attr, value) when the filter requires an indexed attribute to equal a string, else None."""
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        for term in node.terms:
            found = _lookup(type_, term)
            if found:
                return found
        return None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    path = node.attr_path
    if path.sub_attr is not None or (path.uri and not path.uri.endswith(f":core:2.0:{type_}")):
        return None
    attr = next((a for a in INDEXED.get(type_, ()) if a.lower() == path.attr.lower()), None)
    return (attr, comparable(attr, node.value)) if attr else None


def _sort_key(search_request: SearchRequest[Any], resource: Resource[Any]) -> tuple[bool, Any, str]:
    value = search_request.sort_value(resource)
    return value is None, value if value is not None else "", str(resource.id)


def _dedupe_members(doc: dict[str, Any]) -> None:
    """One entry per member: Okta re-adds members it already sent (RFC 7644 §3.5.2.1: no duplicate)."""
    members = doc.get("members")
    if not isinstance(members, list):
        return
    by_value: dict[Any, dict[str, Any]] = {}
    for m in members:
        if isinstance(m, dict):
            key = (m.get("value"), m.get("type"))
            by_value[key] = {**by_value.get(key, {}), **m}
    doc["members"] = list(by_value.values())
