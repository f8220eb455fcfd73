"""Stored SCIM documents without the SCIM libraries: the schemas as data, index keys, writes, published form.

Stdlib only, shared by the protocol's two paths (`fast`, the common User requests answered from the stored
JSON, and `full`, scim2-server over `storage.RepositoryStorage`), so both store, index and publish a resource
the same way. The schemas are the RFC 7643 documents scim2-server ships and builds its models from
(`default-schemas.json`), read as JSON: the fast path cannot drift from the models it stands in for.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import unicodedata
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .repository import INDEXED

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
CASE_INSENSITIVE = {"userName", "displayName"}  # RFC 7643: caseExact false; externalId is caseExact
COMMON_FIRST = ("schemas", "id", "externalId", "meta")  # the order scim2-models dumps a resource in
META_ORDER = ("resourceType", "created", "lastModified", "location", "version")


@dataclass(slots=True, frozen=True)
class ScimWrite:
    """One accepted write, as the repository now holds it. `doc` is None when `removed`."""

    type: str
    id: str
    doc: dict[str, Any] | None
    seq: int
    removed: bool = False


def comparable(attr: str, value: str) -> str:
    """The form an indexed value is stored and looked up in (scim2-models' default comparison key)."""
    value = unicodedata.normalize("NFC", value)
    return unicodedata.normalize("NFC", value.lower()) if attr in CASE_INSENSITIVE else value


def index_keys(type_: str, doc: dict[str, Any]) -> dict[str, str]:
    return {a: comparable(a, doc[a]) for a in INDEXED.get(type_, ()) if isinstance(doc.get(a), str)}


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def version_number(etag: str | None) -> int | None:
    if not etag:
        return None
    digits = etag.strip().removeprefix("W/").strip('"')
    return int(digits) if digits.isdigit() else -1


# --- the schemas, as data ---------------------------------------------------------------------------------
def _resource_file(name: str) -> Path:
    """A JSON document of scim2-server's package, found without importing the package (its import costs)."""
    spec = importlib.util.find_spec("scim2_server")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scim2-server is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / name


@lru_cache(maxsize=1)
def schemas() -> dict[str, dict[str, dict[str, Any]]]:
    """{schema URN: {attribute name: its definition}}, in the documents' order."""
    docs = json.loads(_resource_file("default-schemas.json").read_text(encoding="utf-8"))
    return {d["id"]: {a["name"]: a for a in d.get("attributes", [])} for d in docs}


def published(doc: dict[str, Any], location: str, etag: str) -> dict[str, Any]:
    """A stored User as the protocol answers it: `meta.location` and `meta.version` set, the attributes in the
    order scim2-models dumps them (common ones, the core schema's, then the extension's)."""
    core, ext = schemas()[CORE_USER], schemas()[ENTERPRISE]
    meta = {**(doc.get("meta") or {}), "location": location, "version": etag}
    out: dict[str, Any] = {k: doc[k] for k in COMMON_FIRST[:3] if k in doc}
    out["meta"] = {k: meta[k] for k in META_ORDER if k in meta}
    for name, definition in core.items():
        if name in doc:
            out[name] = _ordered(doc[name], definition)
    if isinstance(doc.get(ENTERPRISE), dict):
        out[ENTERPRISE] = {n: _ordered(doc[ENTERPRISE][n], d) for n, d in ext.items() if n in doc[ENTERPRISE]}
    for k, v in doc.items():  # nothing else is stored by the fast path; kept rather than lost if it were
        out.setdefault(k, v)
    return out


def _ordered(value: Any, definition: dict[str, Any]) -> Any:
    subs = [s["name"] for s in definition.get("subAttributes", [])]
    if not subs:
        return value
    if isinstance(value, list):
        return [_ordered(v, definition) for v in value]
    if isinstance(value, dict):
        return {**{s: value[s] for s in subs if s in value}, **value}
    return value
