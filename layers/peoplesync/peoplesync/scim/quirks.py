"""What the major identity providers send that a strict RFC 7643/7644 reader refuses, made RFC-shaped.

Pure functions over decoded JSON; the protocol layer sees only the corrected body. Each rewrite is one a
vendor documents, and none can lose data (the two that drop something drop what is never stored):

Microsoft Entra ID
- `op` capitalised (`"Replace"`): lower-cased.
- `"active": "False"` / `"True"` as strings: made booleans (in a path, a path-less value, a POST or PUT).
- the manager as a bare id (`"value": "26118915-..."` on the `...:User:manager` path, or `"manager": "id"`
  in the extension object): made `{"value": id}`.
- a path-less `replace` whose keys are paths with a value filter (`emails[type eq "work"].value`): each
  such key becomes an operation with that path (dotted and extension-URN keys are RFC 7644 already).
- group creation carrying extra schema URNs (`http://schemas.microsoft.com/.../ADSCIM/2.0/Group`):
  schema URNs the service does not know, and for which the body carries no attributes, are left out.
- member removal with a value (`{"op":"Remove","path":"members","value":[{"value":"id"}]}`) and an add
  whose filter matches nothing (`emails[type eq "work"].value` on a user without one) are handled by the
  scim2-models policy (`remove_value_as_filter=apply`, `unmatched_path_filter=create`), not here.

Okta
- `groups` in a User POST/PUT (read-only: membership is managed through /Groups): left out.
- `password` in a User POST/PUT: left out; the bridge never stores or forwards passwords.
- a path-less replace carrying the resource's own `id` (group rename: `{"id": ..., "displayName": ...}`):
  `id`, `schemas` and `meta` are left out of the value (they are read-only; a different id is refused).
"""

from __future__ import annotations

from typing import Any

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
KNOWN_SCHEMAS = {
    "User": {"urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE},
    "Group": {"urn:ietf:params:scim:schemas:core:2.0:Group"},
}
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_READ_ONLY_IN_VALUE = ("id", "schemas", "meta")


class QuirkError(ValueError):
    """A body that cannot be corrected; reported as 400 with `scim_type`."""

    def __init__(self, detail: str, scim_type: str = "invalidValue") -> None:
        super().__init__(detail)
        self.scim_type = scim_type


def normalise(method: str, resource_type: str, resource_id: str | None, body: Any) -> Any:
    """The body as an RFC-abiding client would have sent it. Anything not a JSON object is left alone."""
    if not isinstance(body, dict):
        return body
    if method == "PATCH":
        return _patch(resource_id, body)
    if method in ("POST", "PUT"):
        return _resource(resource_type, body)
    return body


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _manager(value: Any) -> Any:
    return {"value": value} if isinstance(value, str) else value


def _resource(resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    known = KNOWN_SCHEMAS.get(resource_type)
    schemas = body.get("schemas")
    if known and isinstance(schemas, list):
        body["schemas"] = [s for s in schemas if not isinstance(s, str) or s in known or s in body]
    if resource_type == "User":
        body.pop("groups", None)
        body.pop("password", None)
        if "active" in body:
            body["active"] = _bool(body["active"])
        ext = body.get(ENTERPRISE)
        if isinstance(ext, dict) and "manager" in ext:
            body[ENTERPRISE] = {**ext, "manager": _manager(ext["manager"])}
    return body


def _is_manager_path(path: str) -> bool:
    p = path.strip().lower()
    return p == "manager" or p == f"{ENTERPRISE.lower()}:manager"


def _patch(resource_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    key = next((k for k in body if k.lower() == "operations"), None)
    ops = body.get(key) if key else None
    if not isinstance(ops, list):
        return body
    out: list[Any] = []
    for op in ops:
        out.extend(_operation(resource_id, op))
    if key is not None and key != "Operations":
        body.pop(key, None)
    body["Operations"] = out
    return body


def _operation(resource_id: str | None, op: Any) -> list[Any]:
    if not isinstance(op, dict):
        return [op]
    op = dict(op)
    if isinstance(op.get("op"), str):
        op["op"] = op["op"].strip().lower()
    path = op.get("path")
    if isinstance(path, str) and path.strip():
        if path.strip().lower() == "active" and "value" in op:
            op["value"] = _bool(op["value"])
        elif _is_manager_path(path) and "value" in op:
            op["value"] = _manager(op["value"])
        return [op]
    value = op.get("value")
    if op.get("op") not in ("add", "replace") or not isinstance(value, dict):
        return [op]
    value = dict(value)
    for k in _READ_ONLY_IN_VALUE:
        if k in value and (k != "id" or value[k] == resource_id):
            del value[k]
    if "active" in value:
        value["active"] = _bool(value["active"])
    ext = value.get(ENTERPRISE)
    if isinstance(ext, dict) and "manager" in ext:
        value[ENTERPRISE] = {**ext, "manager": _manager(ext["manager"])}
    split = []
    for k in [k for k in value if isinstance(k, str) and ("[" in k or _is_manager_path(k))]:
        v = value.pop(k)
        split.append({"op": op["op"], "path": k, "value": _manager(v) if _is_manager_path(k) else v})
    kept = [{**op, "value": value}] if value or not split else []
    return kept + split
