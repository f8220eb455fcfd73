"""SCIM resources as peoplesync observations: what the webhook hands on and what the `scim` connector reads.

The IdP's view of a resource becomes an `Observation` of the SCIM system (`connector: scim`, see
`peoplesync.connectors.scim_inbound` for its configuration). Attribute names are SCIM paths: `userName`, `title`,
`active`, `externalId`, `name.givenName`, `emails[type eq "work"].value`, `phoneNumbers[type eq "mobile"].value`,
`addresses[type eq "work"].locality`, `<enterprise URN>:department`, `<enterprise URN>:manager` (the manager's SCIM
id), and for groups `displayName`, `members` (the members' SCIM ids, a set).

Identity: the observation key is the SCIM `id`; marker: the resource's write sequence (the connector's docstring
says why). This module imports the standard library and the model only: the reconcile function loads it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model import GROUP, PERSON, Observation, Value

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
KINDS = {"User": PERSON, "Group": GROUP}
GROUP_ATTRS = {"displayname", "members", "externalid", "id"}  # what a Group carries (RFC 7643 §4.2)


# --- attribute paths -------------------------------------------------------------------------------------
_FILTER = re.compile(r'\s*(\w+)\s+eq\s+("(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?)\s*', re.I)
_PATH = re.compile(r"^(?:(?P<urn>urn:[^\[\]]+):)?(?P<attr>[A-Za-z][\w$-]*)"
                   r"(?:\[(?P<filter>[^\]]*)\])?(?:\.(?P<sub>[A-Za-z][\w$-]*))?$")


@dataclass(frozen=True, slots=True)
class AttributePath:
    """A parsed SCIM attribute path: [urn:]attr[filter][.sub], filters being `eq` terms joined by `and`."""

    text: str
    urn: str | None
    attr: str
    conditions: tuple[tuple[str, Any], ...]
    sub: str | None

    @classmethod
    def parse(cls, text: str) -> AttributePath:
        m = _PATH.match(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not a SCIM attribute path this connector reads")
        conditions: list[tuple[str, Any]] = []
        if m["filter"] is not None:
            for term in re.split(r"\s+and\s+", m["filter"].strip(), flags=re.I):
                t = _FILTER.fullmatch(term)
                if not t:
                    raise ValueError(f"{text!r}: only `sub eq value` terms joined by `and` are read, not {term!r}")
                conditions.append((t[1], json.loads(t[2].lower() if t[2][0] != '"' else t[2])))
        return cls(text, m["urn"], m["attr"], tuple(conditions), m["sub"])

    def read(self, doc: Mapping[str, Any]) -> Value:
        container: Any = doc
        if self.urn and not self.urn.lower().startswith("urn:ietf:params:scim:schemas:core:"):
            container = _get(doc, self.urn)
            if not isinstance(container, Mapping):
                return None
        value = _get(container, self.attr)
        if isinstance(value, list):
            entries = [e for e in value if self._selected(e)]
            if self.sub is None and not self.conditions:
                values = [e.get("value") if isinstance(e, Mapping) else e for e in entries]
                return tuple(sorted({_scalar(v) for v in values if v is not None}, key=str))
            entries.sort(key=lambda e: not (isinstance(e, Mapping) and e.get("primary") is True))
            value = entries[0] if entries else None
        elif self.conditions:
            return None
        if isinstance(value, Mapping):
            value = _get(value, self.sub or "value")
        elif self.sub is not None:
            return None
        return _scalar(value)

    def _selected(self, entry: Any) -> bool:
        if not self.conditions:
            return True
        if not isinstance(entry, Mapping):
            return False
        for name, wanted in self.conditions:
            got = _get(entry, name)
            if isinstance(wanted, str) and isinstance(got, str):
                if got.lower() != wanted.lower():  # type values are compared case-insensitively (RFC 7643)
                    return False
            elif got != wanted:
                return False
        return True


def _get(container: Mapping[str, Any], name: str) -> Any:
    if name in container:
        return container[name]
    lowered = name.lower()
    return next((v for k, v in container.items() if k.lower() == lowered), None)


def _scalar(value: Any) -> Value:
    if value is None or isinstance(value, str | int | float | bool):
        return None if value == "" else value
    return json.dumps(value, sort_keys=True)


def parse_attributes(attributes: Iterable[str]) -> dict[str, AttributePath]:
    return {a: AttributePath.parse(a) for a in attributes}


# --- observations ----------------------------------------------------------------------------------------
def observation_from_resource(system: str, resource_json: Mapping[str, Any] | str | bytes,
                              attributes: Iterable[str] | Mapping[str, AttributePath],
                              marker: int | None = None) -> Observation:
    """The peoplesync view of one SCIM resource: only the mapped attributes (None when blank); unmapped
    ones are not even looked at (SPEC 9). `marker` defaults to the version number in `meta.version`."""
    doc = json.loads(resource_json) if isinstance(resource_json, str | bytes) else resource_json
    paths = attributes if isinstance(attributes, Mapping) else parse_attributes(attributes)
    meta = doc.get("meta") or {}
    kind = KINDS.get(str(meta.get("resourceType") or ""), GROUP if "members" in doc or
                     "urn:ietf:params:scim:schemas:core:2.0:Group" in (doc.get("schemas") or []) else PERSON)
    if marker is None:
        digits = str(meta.get("version") or "").removeprefix("W/").strip('"')
        marker = int(digits) if digits.isdigit() else None
    # one attribute list may serve both kinds: each kind reads only the attributes its schema has
    attrs = {name: path.read(doc) for name, path in paths.items()
             if (path.attr.lower() in GROUP_ATTRS and not path.urn) == (kind == GROUP)
             or (kind == PERSON and path.attr.lower() in ("displayname", "externalid", "id") and not path.urn)}
    return Observation(system=system, key=str(doc["id"]), attrs=attrs, active=doc.get("active") is not False,
                       marker=marker, kind=kind)


def observation_from_write(system: str, write: Any, attributes: Iterable[str] | Mapping[str, AttributePath]
                           ) -> Observation:
    """From the webhook's `ScimWrite` (type, id, doc, seq, removed)."""
    if write.removed:
        return Observation(system=system, key=write.id, attrs={}, active=False, removed=True, marker=write.seq,
                           kind=KINDS.get(write.type, PERSON))
    return observation_from_resource(system, write.doc, attributes, marker=write.seq)
