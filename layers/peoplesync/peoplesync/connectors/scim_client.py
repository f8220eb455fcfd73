"""Outbound SCIM 2.0 (RFC 7643 / 7644): any SCIM service provider as a target (`connector: scim_client`).

The bridge acts as the SCIM *client* here: Genesys Cloud's own SCIM API, most SaaS applications, another
identity store. It creates users (POST), changes only the mapped attributes that the write names (PATCH, one
operation each), deactivates with `active: false` and reads users back page by page (`startIndex`/`count`).

Attribute names are SCIM attribute paths:
- `userName`, `title`, `displayName`, `externalId`, `name.givenName` (sub-attribute);
- `emails[type eq "work"].value`, `phoneNumbers[type eq "mobile"].value` (one element of a multi-valued
  attribute, chosen by a filter `sub eq "x"`; `.value` is the default sub-attribute);
- `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department` (an extension attribute: the schema
  URN, a colon, the attribute), `...:User:manager.value` (the manager's id in that provider).
Replacing a filtered element that does not exist yet is refused by RFC 7644 (400 `noTarget`); the PATCH is
then sent again with that element added instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model import ACTIVATE, CREATE, DEACTIVATE, DELETE, UPDATE, Observation, Write
from ..ports import AlreadyExists, PermanentError, ReadFailed, ReadPage, ReadResult, SecretsPort, WriteResult
from . import resumable
from .base import BaseConnector, Page, page_all
from .checked_settings import settings_model
from .ratelimit import BucketStore, TokenBucket, process_store

if TYPE_CHECKING:
    from .scim_client_settings import ScimClientSettings

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_JSON = "application/scim+json"

_PATH = re.compile(r'^(?P<attr>[A-Za-z$][\w$-]*)(?:\[\s*(?P<fk>\w+)\s+eq\s+"(?P<fv>[^"]*)"\s*\])?'
                   r'(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$')


def __getattr__(name: str) -> Any:
    """`Settings` (and `ScimClientSettings`): the pydantic model, imported when asked for
    (`scim_client_settings.py`)."""
    if name in ("Settings", "ScimClientSettings"):
        from .scim_client_settings import ScimClientSettings

        return ScimClientSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")




@dataclass(frozen=True, slots=True)
class ScimPath:
    attr: str
    schema: str | None  # an extension URN, None for the core schema
    name: str
    filter_key: str | None = None
    filter_value: str | None = None
    sub: str | None = None

    def container(self, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        return doc.get(self.schema) or {} if self.schema else doc

    @property
    def patch_path(self) -> str:
        head = f"{self.schema}:{self.name}" if self.schema else self.name
        if self.filter_key:
            head += f'[{self.filter_key} eq "{self.filter_value}"]'
        return f"{head}.{self.sub}" if self.sub else head


def parse_path(attr: str) -> ScimPath:
    schema, rest = None, attr
    if attr.lower().startswith("urn:"):
        schema, _, rest = attr.rpartition(":")
        if "." in schema.rsplit(":", 1)[-1] and ":" not in rest:
            pass
        if not schema:
            raise ValueError(f"{attr!r}: an extension attribute is <schema URN>:<attribute>")
    m = _PATH.match(rest)
    if m is None:
        raise ValueError(f"{attr!r} is not a SCIM attribute path this connector supports")
    sub = m.group("sub") or ("value" if m.group("fk") else None)
    return ScimPath(attr, schema, m.group("attr"), m.group("fk"), m.group("fv"), sub)


def _find(items: Any, path: ScimPath) -> dict[str, Any] | None:
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and str(item.get(path.filter_key or "", "")).lower() == \
                str(path.filter_value).lower():
            return dict(item)
    return None


def read_path(doc: Mapping[str, Any], path: ScimPath) -> Any:
    value: Any = path.container(doc).get(path.name)
    if path.filter_key:
        value = _find(value, path)
    if path.sub and isinstance(value, Mapping):
        value = value.get(path.sub)
    elif path.sub:
        value = None
    if isinstance(value, list):
        return tuple(sorted(str(v.get("value", v)) if isinstance(v, Mapping) else str(v) for v in value)) or None
    return None if value == "" else value


def set_path(doc: dict[str, Any], path: ScimPath, value: Any) -> None:
    """Put a value into a resource being created."""
    if value is None:
        return
    target = doc.setdefault(path.schema, {}) if path.schema else doc
    if path.filter_key:
        items = target.setdefault(path.name, [])
        item = next((i for i in items if str(i.get(path.filter_key)).lower() == str(path.filter_value).lower()),
                    None)
        if item is None:
            item = {path.filter_key: path.filter_value}
            items.append(item)
        item[path.sub or "value"] = value
    elif path.sub:
        target.setdefault(path.name, {})[path.sub] = value
    else:
        target[path.name] = list(value) if isinstance(value, tuple) else value


def _marker(resource: Mapping[str, Any]) -> int | None:
    """meta.version as a number when the provider counts (W/"7"); opaque versions give no marker."""
    m = re.fullmatch(r'(?:W/)?"?(\d+)"?', str((resource.get("meta") or {}).get("version") or ""))
    return int(m.group(1)) if m else None


class ScimClientConnector(BaseConnector):
    Settings = settings_model("peoplesync.connectors.scim_client_settings:ScimClientSettings")
    credential_keys = ("token",)
    credentials_required = True

    def __init__(self, name: str, settings: ScimClientSettings, attributes: Iterable[str], *,
                 credentials: Mapping[str, Any] | None = None, writable: bool = True,
                 secrets: SecretsPort | None = None, buckets: BucketStore | None = None,
                 **rest_options: Any) -> None:
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets, buckets=buckets)
        from .rest import RestClient

        self._token = str((credentials or {}).get("token") or "")
        if not self._token:
            raise PermanentError(f"system {name!r}: credentials holding token (a bearer token) are required")
        try:
            self.paths = {a: parse_path(a) for a in self.attributes}
        except ValueError as exc:
            raise PermanentError(f"system {name!r}: {exc}") from None
        bucket = TokenBucket(f"scim:{settings.base_url}", settings.requests_per_minute,
                             store=buckets or process_store())
        self.http = RestClient(settings.base_url, bucket=bucket, auth=self._auth, max_retries=settings.max_retries,
                               timeout=settings.timeout, name=f"scim {name}", **rest_options)
        self.http.session.headers["Content-Type"] = SCIM_JSON

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    @property
    def _endpoint(self) -> str:
        return f"/{self.settings.resource}"

    # --- reads -----------------------------------------------------------------------------------------
    def _read_full(self) -> ReadResult:
        """Every resource, `startIndex`/`count` page after page; complete when the distinct ids add up to
        `totalResults` on every page (RFC 7644 3.4.2.4: the listing may move while it is paged)."""
        listing = page_all(self._page, key=lambda r: str(r["id"]), name=f"{self.name} {self.settings.resource}")
        return ReadResult([self.observe(r) for r in listing.items], complete=listing.complete,
                          confirm=not listing.complete)  # the listing moved: re-read who it did not list

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """Native pages (`resumable.py`, by `startIndex`) when `page_size` is given: a position another
        invocation goes on from. Failures are `ReadFailed`, as `read`'s are."""
        if page_size is None:
            yield from super().read_pages(cursor, full=full, page_size=page_size, start=start)
            return
        with self._session():
            try:
                yield from resumable.read_pages(self._page, 1, lambda r: str(r["id"]), self.observe, page_size,
                                                start)
            except Exception as exc:
                failure = self._read_failure(exc)
                if failure is None:
                    raise
                raise failure from None

    def _page(self, start: int) -> Page[dict[str, Any]]:
        response = self.http.request("GET", self._endpoint,
                                     params={"startIndex": start, "count": self.settings.page_size})
        if response.status_code != 200:
            raise ReadFailed(f"{self.name}: list {self.settings.resource}: {_err(response)}")
        body = response.json()
        resources = list(body.get("Resources") or [])
        total = None if body.get("totalResults") is None else int(body["totalResults"])
        after = start + len(resources)
        return Page(resources, total, after if resources and (total is None or after <= total) else None)

    def read_keys(self, keys: list[str]) -> ReadResult:
        """These resources as they are now (`GET /<resource>/{id}` each; a push re-asserts against this read);
        one that is gone (404) is observed as removed."""
        out = []
        for key in dict.fromkeys(keys):
            response = self.http.request("GET", f"{self._endpoint}/{key}")
            if response.status_code == 404:
                out.append(Observation(self.name, key, {}, active=False, removed=True))
            elif response.status_code != 200:
                raise ReadFailed(f"{self.name}: read {key}: {_err(response)}")
            else:
                out.append(self.observe(response.json()))
        return ReadResult(out)

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one resource holding these values, by one filtered `GET` (RFC 7644 3.4.2.2: `userName eq "x"`,
        `emails[type eq "work" and value eq "x"]`, ANDed), then checked against every value (strings without
        case): what a create refused as `uniqueness` collided with. None: none, several, or a value that is no
        string (no filter is built for it)."""
        terms = []
        for attr, value in match.items():
            path = self.paths.get(attr)
            if path is None or not isinstance(value, str) or path.schema or (path.sub and not path.filter_key):
                return None
            quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            terms.append(f'{path.name}[{path.filter_key} eq "{path.filter_value}" and {path.sub} eq {quoted}]'
                         if path.filter_key else f"{path.name} eq {quoted}")
        if not terms:
            return None
        response = self.http.request("GET", self._endpoint, params={"filter": " and ".join(terms), "count": 2})
        if response.status_code != 200:
            raise ReadFailed(f"{self.name}: look-up: {_err(response)}")
        found = [self.observe(r) for r in response.json().get("Resources") or ()
                 if all(str(read_path(r, self.paths[a]) or "").casefold() == str(v).casefold()
                        for a, v in match.items())]
        return found[0] if len(found) == 1 else None

    def observe(self, resource: Mapping[str, Any]) -> Observation:
        attrs = {a: read_path(resource, p) for a, p in self.paths.items()}
        return Observation(self.name, str(resource["id"]), attrs, active=resource.get("active", True) is not False,
                           marker=_marker(resource))

    # --- writes ----------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        if change.op == CREATE:
            return self._create(change)
        if not change.key:
            raise PermanentError(f"{self.name}: {change.op} needs the resource id")
        url = f"{self._endpoint}/{change.key}"
        if change.op == DELETE:
            response = self.http.request("DELETE", url)
            if response.status_code not in (200, 204, 404):
                raise PermanentError(f"{self.name}: delete {change.key}: {_err(response)}")
            return WriteResult(change.key)
        if change.op in (DEACTIVATE, ACTIVATE):
            ops = [{"op": "replace", "path": "active", "value": change.op == ACTIVATE}]
        elif change.op == UPDATE:
            ops = [self._op(self.paths[a], v) for a, v in change.attrs.items()]
        else:
            raise PermanentError(f"{self.name}: unknown operation {change.op!r}")
        if not ops:
            return WriteResult(change.key)
        response = self._patch(url, ops)
        if response.status_code == 400 and _scim_type(response) == "noTarget" and change.op == UPDATE:
            # a filtered element (emails[type eq "work"]) that is not there yet: read the resource, then add
            # the missing elements and replace the others (RFC 7644 3.5.2.3 refuses to replace nothing)
            current = self.http.request("GET", url)
            if current.status_code != 200:
                raise PermanentError(f"{self.name}: read {change.key}: {_err(current)}")
            doc = current.json()
            ops = [op for a, v in change.attrs.items()
                   if (op := self._op_for(self.paths[a], v, doc)) is not None]
            response = self._patch(url, ops) if ops else current
        if response.status_code in (200, 204):
            values = {a: read_path(response.json(), self.paths[a]) for a in change.attrs} \
                if response.status_code == 200 and response.content else {}
            return WriteResult(change.key, values=values)
        if response.status_code == 404:
            raise PermanentError(f"{self.name}: {change.key} does not exist")
        raise PermanentError(f"{self.name}: PATCH {change.key}: {_err(response)}")

    def _patch(self, url: str, ops: list[dict[str, Any]]) -> Any:
        return self.http.request("PATCH", url, json={"schemas": [PATCH_OP], "Operations": ops})

    @staticmethod
    def _op(path: ScimPath, value: Any) -> dict[str, Any]:
        if value is None:
            target = path.patch_path.rsplit(".", 1)[0] if path.filter_key else path.patch_path
            return {"op": "remove", "path": target}
        return {"op": "replace", "path": path.patch_path, "value": list(value) if isinstance(value, tuple)
                else value}

    @classmethod
    def _op_for(cls, path: ScimPath, value: Any, doc: Mapping[str, Any]) -> dict[str, Any] | None:
        if not path.filter_key or _find(path.container(doc).get(path.name), path) is not None:
            return cls._op(path, value)
        if value is None:
            return None  # nothing there to remove
        head = f"{path.schema}:{path.name}" if path.schema else path.name
        return {"op": "add", "path": head,
                "value": [{path.filter_key: path.filter_value, path.sub or "value": value}]}

    def _create(self, change: Write) -> WriteResult:
        doc: dict[str, Any] = {"schemas": list(self.settings.schemas)}
        for a, v in change.attrs.items():
            set_path(doc, self.paths[a], v)
        if not doc.get("userName"):
            raise PermanentError(f"{self.name}: creating a user needs userName (mapped and set)")
        # not repeated after a 5xx: the user may exist, and a second POST would answer 409 uniqueness
        response = self.http.request("POST", self._endpoint, json=doc, retry_server_errors=False)
        if response.status_code == 409:
            raise AlreadyExists(f"{self.name}: userName {doc['userName']!r} is taken: {_err(response)}")
        if response.status_code not in (200, 201):
            raise PermanentError(f"{self.name}: create: {_err(response)}")
        created = response.json()
        return WriteResult(str(created["id"]), values={a: read_path(created, self.paths[a]) for a in change.attrs})


def _scim_type(response: Any) -> str | None:
    try:
        return response.json().get("scimType")
    except ValueError:
        return None


def _err(response: Any) -> str:
    from .rest import error_text

    return error_text(response)


CONNECTOR = ScimClientConnector
