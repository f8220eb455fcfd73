"""The `scim` connector: an identity provider that pushes users and groups to the SCIM webhook.

Push-only and read-only (SPEC, seeds/002): the IdP's mapped attributes overwrite the other systems when it
syncs a user; nothing is ever written back to it. The webhook (`peoplesync.scim`) stores the IdP's view and
hands each accepted write to the pipeline as an `Observation` built here.

Configuration (the system's own keys, validated by `Settings`):

    systems:
      idp:
        connector: scim
        tokens: secret:peoplesync/scim-tokens   # {"tokens": ["<current>", "<next>"]}: several valid at once
        base_path: /scim/v2                     # the API Gateway route prefix the IdP is given
    fields:
      department: {source: idp, map: {cloud: department,
                   idp: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}}
      email.work: {source: idp, map: {idp: 'emails[type eq "work"].value', ...}}

Attribute names are SCIM paths: `userName`, `title`, `active`, `externalId`, `name.givenName`,
`emails[type eq "work"].value`, `phoneNumbers[type eq "mobile"].value`, `addresses[type eq "work"].locality`,
`<enterprise URN>:department`, `<enterprise URN>:manager` (the manager's SCIM id), and for groups
`displayName`, `members` (the members' SCIM ids, a set).

Identity: the observation key is the SCIM `id`. It is assigned by the webhook, never changes, and is what
the IdP itself addresses every later request by (and what a manager or a group member refers to), while
`externalId` is optional (Okta does not always send it) and `userName` changes with renames. Map
`externalId` or `userName` as a field to match people on it.
Marker: the resource's write sequence (every accepted write moves it on, even one that changed nothing),
so each IdP sync is a fresh observation and a late, out-of-order delivery is recognisably older.

This module imports the standard library and pydantic only: the reconcile function loads it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..model import GROUP, PERSON, Observation, Value, Write
from ..ports import PermanentError, ReadResult, SecretsPort, WriteResult
from .base import BaseConnector

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
KINDS = {"User": PERSON, "Group": GROUP}
GROUP_ATTRS = {"displayname", "members", "externalid", "id"}  # what a Group carries (RFC 7643 §4.2)


class ScimInboundSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: str | None = Field(
        None, description='secret:<name> holding the accepted bearer tokens: {"tokens": ["...", "..."]}. '
                          "Default: the system's credentials")
    base_path: str = Field("/scim/v2", description="The path prefix the SCIM endpoints are served under")
    max_body_bytes: int = Field(1_048_576, ge=1024, le=6_291_456,
                                description="Largest request body accepted (API Gateway's cap is 6 MiB)")


Settings = ScimInboundSettings  # the name the registry and configuration checks look for


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


def token_list(secret: Any) -> list[str]:
    """The bearer tokens a secret holds: {"tokens": [...]}, {"token": "..."}, a list, or one per line."""
    if isinstance(secret, Mapping):
        secret = secret.get("tokens", secret.get("token", []))
    if isinstance(secret, str):
        secret = secret.replace(",", "\n").splitlines()
    return [str(t).strip() for t in secret or [] if str(t).strip()]


# --- the connector ---------------------------------------------------------------------------------------
class ScimInboundConnector(BaseConnector):
    """Push-only: a poll reads the webhook's stored view when given its repository (a full, complete read:
    what the IdP deleted is gone), and nothing otherwise. Writes are refused: nothing goes back to the IdP."""

    Settings = ScimInboundSettings
    writable_by_default = False

    def __init__(self, name: str, settings: ScimInboundSettings, attributes: Iterable[str], *,
                 secrets: SecretsPort | None = None, repository: Any = None, **_: Any) -> None:
        super().__init__(name, settings, attributes, writable=False, secrets=secrets)
        self.paths = parse_attributes(self.attributes)
        self.repository = repository

    def _read_full(self) -> ReadResult:
        if self.repository is None:
            return ReadResult([], complete=False)
        observations = [observation_from_resource(self.name, s.doc, self.paths, marker=s.seq)
                        for type_ in ("User", "Group") for s in self.repository.list(type_)]
        return ReadResult(observations, complete=True)

    def _apply(self, change: Write) -> WriteResult:
        raise PermanentError(f"system {self.name!r} is a SCIM identity provider: nothing is written back to it")

    @classmethod
    def resolve_credentials(cls, name: str, ref: str | None, secrets: SecretsPort | None) -> dict[str, Any] | None:
        """The credentials are the tokens the IdP must present: the webhook reads them, the connector never."""
        return None


CONNECTOR = ScimInboundConnector
