"""The common User requests answered from the stored JSON, without scim2-models: a cold start's first request.

What an IdP sends most (Entra ID, Okta): `GET /Users?filter=userName eq "..."`, `POST /Users`, `GET`/`PUT`/
`DELETE /Users/{id}`, a page of `GET /Users?startIndex=..&count=..` (Okta's import), and a `PATCH` of plain
attributes (`active`, `title`, `name.givenName`, the enterprise `department` or `manager`). Anything else, or
anything unusual about one of these (another query parameter, a conditional header, an attribute outside the
plain ones, a filtered PATCH path, a value of another type, a missing resource, a taken userName, a stored
resource holding more than plain values) returns None *before any write*, and `app` hands the request to the
whole protocol (`full`, scim2-server), which answers it with its RFC 7644 error or result. So this path only
ever answers what scim2-server would answer the same way: `tests/unit/scim/test_scim_fast_path.py` replays
generated requests through both paths and compares status, headers, body, what was stored and what was
handed on.

Documents are validated against the same RFC 7643 schema documents scim2-server builds its models from
(`documents.schemas()`); only string and boolean values of readWrite attributes are taken here.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from ..ports import VersionConflict
from . import documents
from .documents import (
    CORE_USER,
    ENTERPRISE,
    LIST_RESPONSE,
    ScimWrite,
    comparable,
    index_keys,
    published,
    schemas,
    timestamp,
)
from .http import ScimResponse
from .repository import ResourceNotFound, ScimRepository, Stored, UniquenessConflict

USER = "User"
MAX_RESULTS = 200  # provider.MAX_RESULTS: what ServiceProviderConfig announces (scim2-server bounds count to it)
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_PLAIN = {"string": str, "boolean": bool}
_CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
_EQ = re.compile(r'\s*(userName|externalId)\s+eq\s+("(?:[^"\\]|\\.)*")\s*', re.I)
_EXT_PATH = re.compile(re.escape(ENTERPRISE) + r":(\w+)")


class _Decline(Exception):
    """Not a request this path answers: the whole protocol will."""


class FastPath:
    def __init__(self, repository: ScimRepository, emit: Callable[[ScimWrite], None],
                 clock: Callable[[], datetime.datetime], forget: Callable[[str, str], None]) -> None:
        self.repository = repository
        self.emit = emit
        self.clock = clock
        self.forget = forget  # drops a resource from the whole protocol's cache, if it was built

    def handle(self, method: str, parts: list[str], query: dict[str, str], headers: dict[str, str],
               body: Any, base_url: str) -> ScimResponse | None:
        """The response, or None when the whole protocol must answer (nothing was written then)."""
        if not parts or parts[0] != "Users" or len(parts) > 2 or any(h.lower() in _CONDITIONAL for h in headers):
            return None
        try:
            if len(parts) == 1:
                if method == "GET":
                    return self._search(query, base_url)
                if method == "POST" and not query:
                    return self._create(body, base_url)
                return None
            if query or parts[1].startswith("."):
                return None
            id_ = parts[1]
            if method == "GET":
                return self._read(self._get(id_), base_url, 200)
            if method == "DELETE":
                return self._delete(self._get(id_))
            if method == "PUT":
                return self._replace(self._get(id_), body, base_url)
            if method == "PATCH":
                return self._patch(self._get(id_), body, base_url)
        except _Decline:
            return None
        return None

    # --- requests -----------------------------------------------------------------------------------------
    def _get(self, id_: str) -> Stored:
        stored = self.repository.get(USER, id_)
        if stored is None or not _plain_document(stored.raw):
            raise _Decline  # missing (its 404 is the whole protocol's), or holding what only the models know
        return stored

    def _read(self, stored: Stored, base_url: str, status: int, extra: dict[str, str] | None = None
              ) -> ScimResponse:
        if not _plain_document(stored.raw):
            raise _Decline  # e.g. a manager.$ref the whole protocol stored: it publishes references as URLs
        location = f"{base_url.rstrip('/')}/Users/{stored.id}"
        headers = {"Content-Location": location, "ETag": stored.etag, **(extra or {})}
        return ScimResponse(status, published(stored.doc, location, stored.etag), headers)

    def _search(self, query: dict[str, str], base_url: str) -> ScimResponse:
        if "filter" not in query:
            return self._page(query, base_url)
        m = _EQ.fullmatch(query.get("filter", "")) if set(query) <= {"filter", "startIndex", "count"} else None
        count = query.get("count", str(MAX_RESULTS))
        # Okta asks `&startIndex=1&count=100` with its filter: the first page, which is all of it
        if m is None or query.get("startIndex", "1") != "1" or not count.isdigit() or \
                not 1 <= int(count) <= MAX_RESULTS:
            raise _Decline
        attr = "userName" if m[1].lower() == "username" else "externalId"
        value = json.loads(m[2])
        if not isinstance(value, str):
            raise _Decline
        wanted = comparable(attr, value)
        found = [s for s in self.repository.find(USER, attr, wanted)
                 if comparable(attr, str(s.doc.get(attr, ""))) == wanted]
        resources = [self._read(s, base_url, 200).body for s in found[:int(count)]]
        return ScimResponse(200, {"schemas": [LIST_RESPONSE], "totalResults": len(found), "startIndex": 1,
                                  "itemsPerPage": len(resources), "Resources": resources})

    def _page(self, query: dict[str, str], base_url: str) -> ScimResponse:
        """A page of everyone (Okta's import: `?startIndex=1&count=100`), in the repository's id order."""
        start, count = query.get("startIndex", "1"), query.get("count", "")
        if set(query) - {"startIndex", "count"} or not (start.isdigit() and count.isdigit()) or \
                int(start) < 1 or not 1 <= int(count) <= MAX_RESULTS:
            raise _Decline
        first = int(start) - 1
        page = [self._read(s, base_url, 200).body
                for s in itertools.islice(self.repository.list(USER), first, first + int(count))]
        return ScimResponse(200, {"schemas": [LIST_RESPONSE], "totalResults": self.repository.count(USER),
                                  "startIndex": int(start), "itemsPerPage": len(page), "Resources": page})

    def _create(self, body: Any, base_url: str) -> ScimResponse:
        doc = _user(body)
        moment = timestamp(self.clock())
        doc["id"] = documents.new_id()
        doc["meta"] = {"resourceType": USER, "created": moment, "lastModified": moment}
        try:
            stored = self.repository.create(USER, doc["id"], doc, index_keys(USER, doc))
        except UniquenessConflict:
            raise _Decline from None  # the whole protocol answers 409 with its own words
        self.emit(ScimWrite(USER, stored.id, stored.doc, stored.seq))
        response = self._read(stored, base_url, 201)
        response.headers["Location"] = response.headers["Content-Location"]
        return response

    def _delete(self, current: Stored) -> ScimResponse:
        try:
            stored = self.repository.delete(USER, current.id, current.version)
        except (ResourceNotFound, VersionConflict):
            raise _Decline from None
        self.forget(USER, current.id)
        self.emit(ScimWrite(USER, stored.id, None, stored.seq, True))
        return ScimResponse(204)

    def _replace(self, current: Stored, body: Any, base_url: str) -> ScimResponse:
        if isinstance(body, dict) and body.get("id", current.id) == current.id:
            body = {k: v for k, v in body.items() if k != "id"}  # readOnly: the path's id is the id
        doc = _user(body)
        return self._write(current, doc, base_url)

    def _patch(self, current: Stored, body: Any, base_url: str) -> ScimResponse:
        if not isinstance(body, dict) or set(body) != {"schemas", "Operations"} or \
                body["schemas"] != [PATCH_SCHEMA] or not isinstance(body["Operations"], list) or \
                not body["Operations"]:
            raise _Decline
        doc = current.doc
        changed = False  # as scim2-models tells it: did any operation change the resource on its way
        for op in body["Operations"]:
            before = json.dumps(doc, sort_keys=True)
            _apply(doc, op)
            changed = changed or json.dumps(doc, sort_keys=True) != before
        doc.pop("meta", None)
        doc.pop("id", None)
        return self._write(current, doc, base_url, changed)

    def _write(self, current: Stored, doc: dict[str, Any], base_url: str, changed: bool | None = None
               ) -> ScimResponse:
        """Store `doc` (id and meta left out) over `current`, or only mark the write when nothing changed
        (`changed` None: a replacement, which changes nothing if equal but for the order of multi-valued
        entries)."""
        old = current.doc
        meta = old.get("meta") or {}
        doc["id"] = current.id
        if changed is None:
            changed = _unordered({**doc, "meta": None}) != _unordered({**old, "meta": None})
        if not changed:
            try:
                stored = self.repository.touch(USER, current.id, current.version)
            except (ResourceNotFound, VersionConflict):
                raise _Decline from None
            self.emit(ScimWrite(USER, stored.id, stored.doc, stored.seq))
            return self._read(stored, base_url, 200)
        doc["meta"] = {**meta, "lastModified": timestamp(self.clock()), "resourceType": USER}
        try:
            stored = self.repository.replace(USER, current.id, doc, index_keys(USER, doc), current.version)
        except (ResourceNotFound, VersionConflict, UniquenessConflict):
            raise _Decline from None
        self.forget(USER, current.id)
        self.emit(ScimWrite(USER, stored.id, stored.doc, stored.seq))
        return self._read(stored, base_url, 200)


@functools.lru_cache(maxsize=4096)
def _plain_document(raw: str) -> bool:
    """Whether a stored User holds only what this path would have stored (so publishing it is a copy)."""
    try:
        doc = json.loads(raw)
        _user({k: v for k, v in doc.items() if k not in ("id", "meta")})
    except _Decline:
        return False
    return True


# --- validation: what this path takes ---------------------------------------------------------------------
def _user(body: Any) -> dict[str, Any]:
    """A User document of plain values, exactly as the models would store it; else _Decline."""
    if not isinstance(body, dict) or not isinstance(body.get("userName"), str):
        raise _Decline
    has_ext = ENTERPRISE in body
    if body.get("schemas") != ([CORE_USER, ENTERPRISE] if has_ext else [CORE_USER]):
        raise _Decline
    core = schemas()[CORE_USER]
    doc: dict[str, Any] = {"schemas": list(body["schemas"])}
    for name, value in body.items():
        if name in ("schemas", ENTERPRISE):
            continue
        if name == "externalId":
            doc[name] = _plain(value, {"type": "string"})
        elif name in core and name not in ("password", "groups"):
            doc[name] = _attribute(value, core[name])
        else:
            raise _Decline
    if has_ext:
        ext = body[ENTERPRISE]
        if not isinstance(ext, dict) or not ext:
            raise _Decline
        definitions = schemas()[ENTERPRISE]
        doc[ENTERPRISE] = {n: _attribute(v, definitions[n]) if n in definitions else _decline()
                           for n, v in ext.items()}
    return doc


def _decline() -> Any:
    raise _Decline


def _plain(value: Any, definition: dict[str, Any]) -> Any:
    kind = _PLAIN.get(definition.get("type", ""))
    if kind is None or type(value) is not kind or value == "" or definition.get("mutability") not in \
            (None, "readWrite"):
        raise _Decline
    canonical = definition.get("canonicalValues")
    if canonical and value not in canonical:
        raise _Decline
    return value


def _attribute(value: Any, definition: dict[str, Any]) -> Any:
    if definition.get("mutability") not in (None, "readWrite"):
        raise _Decline
    if definition.get("multiValued"):
        if not isinstance(value, list) or not value:
            raise _Decline
        entries = [_complex(v, definition) for v in value]
        if sum(1 for e in entries if e.get("primary") is True) > 1:
            raise _Decline
        return entries
    if definition.get("type") == "complex":
        return _complex(value, definition)
    return _plain(value, definition)


def _complex(value: Any, definition: dict[str, Any]) -> dict[str, Any]:
    subs = {s["name"]: s for s in definition.get("subAttributes", [])}
    if definition.get("type") != "complex" or not isinstance(value, dict) or not value:
        raise _Decline
    return {k: _plain(v, subs[k]) if k in subs else _decline() for k, v in value.items()}


# --- PATCH: plain attributes only ---------------------------------------------------------------------------
def _apply(doc: dict[str, Any], op: Any) -> None:
    if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove") or \
            not set(op) <= {"op", "path", "value"}:
        raise _Decline
    path, kind = op.get("path"), op["op"]
    if path is None:
        value = op.get("value")
        if kind == "remove" or not isinstance(value, dict) or not value:
            raise _Decline
        for key, v in value.items():
            if key == ENTERPRISE:
                if not isinstance(v, dict) or not v:
                    raise _Decline
                for sub, w in v.items():
                    _set(doc, f"{ENTERPRISE}:{sub}", "replace", w)
            else:
                _set(doc, key, kind, v)
        return
    if not isinstance(path, str) or (kind == "remove") == ("value" in op):
        raise _Decline
    _set(doc, path, kind, op.get("value"))


def _set(doc: dict[str, Any], path: str, kind: str, value: Any) -> None:
    """One plain attribute set (add/replace) or removed, on `doc`; a path this path does not take: _Decline."""
    ext = _EXT_PATH.fullmatch(path)
    if ext:
        definition = schemas()[ENTERPRISE].get(ext[1])
        if definition is None or ENTERPRISE not in doc["schemas"]:
            raise _Decline
        container = doc.setdefault(ENTERPRISE, {})
        name = ext[1]
    else:
        head, _, sub = path.partition(".")
        top = schemas()[CORE_USER].get(head)
        if top is None or top.get("multiValued") or (sub and top.get("type") != "complex") or \
                (not sub and top.get("type") == "complex"):
            raise _Decline
        if sub:
            definition = next((s for s in top.get("subAttributes", []) if s["name"] == sub), None)
            container, name = doc.setdefault(head, {}), sub
        else:
            definition, container, name = top, doc, head
        if definition is None:
            raise _Decline
    if definition.get("type") == "complex":  # the enterprise manager: {"value": id} replaces it whole
        if kind == "remove" or not isinstance(value, dict) or set(value) != {"value"} or \
                not set(container.get(name) or {}) <= {"value"}:
            raise _Decline
        container[name] = _complex(value, definition)
    elif kind == "remove":
        if definition.get("mutability") not in (None, "readWrite") or name == "userName":
            raise _Decline
        container.pop(name, None)
    else:
        container[name] = _plain(value, definition)
    for key in (ENTERPRISE, "name"):
        if doc.get(key) == {}:
            doc.pop(key)


def _unordered(value: Any) -> Any:
    """A form that compares equal whatever the order of multi-valued entries (RFC 7643 §2.4)."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_unordered(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value
