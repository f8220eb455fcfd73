"""Attribute paths into a Genesys Cloud user, and the PATCH body that sets them. Pure: no HTTP here.

An attribute name in the configuration is a path into the user object (see docs/genesys.md):

- `name`, `email`, `title`, `department`, `username`, `preferredName`: the top-level string ("" clears);
- `manager`: read from `manager.id`, written as `manager: "<user id>"` ("" clears);
- `addresses[mediaType=PHONE,type=WORK]` (any mediaType / type): that entry's `address` (or `extension`);
  written as the whole `addresses` list, the other entries kept as read;
- `employerInfo.employeeId` (`dateHire`, `employeeType`, `officialName`): that key; written as the whole
  `employerInfo`, the other keys kept;
- `locations`: location names (or ids, `locations_by: id`): one -> a string, several -> a sorted tuple;
  written as `locations: [{id}]`, the notes of kept locations kept;
- `groups`: the group ids (a sorted tuple); read only (group sync writes memberships).

Arrays and objects are replaced whole by a PATCH, so the body always carries every entry the user had, and
only the mapped entries differ: the bridge never changes what it does not map.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TOP_LEVEL = frozenset({"name", "email", "title", "department", "username", "preferredName"})
EMPLOYER_KEYS = frozenset({"employeeId", "employeeType", "dateHire", "officialName"})
MEDIA_TYPES = frozenset({"PHONE", "EMAIL", "SMS"})
CONTACT_TYPES = frozenset({"PRIMARY", "WORK", "WORK2", "WORK3", "WORK4", "HOME", "MOBILE", "MAIN", "OTHER"})
# fields a create (POST) accepts; the rest are set by a PATCH right after it
CREATE_FIELDS = frozenset({"name", "email", "title", "department", "addresses"})

_ADDRESS = re.compile(r"^addresses\[\s*mediaType\s*=\s*(\w+)\s*,\s*type\s*=\s*(\w+)\s*\]$")


@dataclass(frozen=True, slots=True)
class Path:
    attr: str  # as configured
    kind: str  # top | manager | address | employer | locations | groups
    name: str = ""  # top-level field or employerInfo key
    media_type: str = ""
    type: str = ""

    @property
    def field(self) -> str:
        """The top-level user field a PATCH of this path replaces."""
        return {"address": "addresses", "employer": "employerInfo"}.get(self.kind, self.name or self.kind)

    @property
    def expand(self) -> str | None:
        return {"employer": "employerInfo", "locations": "locations", "groups": "groups"}.get(self.kind)


def parse(attr: str) -> Path:
    """Raise ValueError for a path this connector does not know."""
    if attr in TOP_LEVEL:
        return Path(attr, "top", attr)
    if attr == "manager":
        return Path(attr, "manager", "manager")
    if attr in ("locations", "groups"):
        return Path(attr, attr)
    if attr.startswith("employerInfo."):
        key = attr.split(".", 1)[1]
        if key not in EMPLOYER_KEYS:
            raise ValueError(f"unknown employerInfo key {key!r} (known: {', '.join(sorted(EMPLOYER_KEYS))})")
        return Path(attr, "employer", key)
    m = _ADDRESS.match(attr)
    if m:
        media, ctype = m.group(1).upper(), m.group(2).upper()
        if media not in MEDIA_TYPES or ctype not in CONTACT_TYPES:
            raise ValueError(f"{attr!r}: mediaType must be one of {sorted(MEDIA_TYPES)} and type one of "
                             f"{sorted(CONTACT_TYPES)}")
        return Path(attr, "address", media_type=media, type=ctype)
    raise ValueError(f"unknown Genesys Cloud user attribute {attr!r}: use a top-level field "
                     f"({', '.join(sorted(TOP_LEVEL))}), manager, addresses[mediaType=PHONE,type=WORK], "
                     f"employerInfo.<key>, locations or groups")


def parse_all(attrs: Iterable[str]) -> dict[str, Path]:
    paths, problems = {}, []
    for a in attrs:
        try:
            paths[a] = parse(a)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return paths


def expansions(paths: Iterable[Path]) -> tuple[str, ...]:
    return tuple(sorted({p.expand for p in paths if p.expand}))


def _blank(v: Any) -> Any:
    return None if v == "" or v == () or v == [] else v


def _entry(user: Mapping[str, Any], path: Path) -> dict[str, Any] | None:
    for e in user.get("addresses") or ():
        if str(e.get("mediaType", "")).upper() == path.media_type and str(e.get("type", "")).upper() == path.type:
            return e
    return None


def location_ids(user: Mapping[str, Any]) -> list[str]:
    out = []
    for loc in user.get("locations") or ():
        lid = (loc.get("locationDefinition") or {}).get("id") or loc.get("id")
        if lid:
            out.append(str(lid))
    return out


def read(user: Mapping[str, Any], path: Path, location_name: Callable[[str], str | None] | None = None) -> Any:
    """The value of one path, None for blank. `location_name` maps a location id to its name (None: ids)."""
    if path.kind == "top":
        return _blank(user.get(path.name))
    if path.kind == "manager":
        m = user.get("manager")
        return _blank(m.get("id") if isinstance(m, dict) else m)
    if path.kind == "employer":
        return _blank((user.get("employerInfo") or {}).get(path.name))
    if path.kind == "address":
        e = _entry(user, path)
        return None if e is None else _blank(e.get("address") or e.get("extension"))
    if path.kind == "locations":
        names = []
        for loc in user.get("locations") or ():
            lid = (loc.get("locationDefinition") or {}).get("id") or loc.get("id")
            if location_name is None:
                names.append(lid)
            else:
                names.append((loc.get("locationDefinition") or {}).get("name") or location_name(str(lid)) or lid)
        names = sorted(str(n) for n in names if n)
        return None if not names else names[0] if len(names) == 1 else tuple(names)
    if path.kind == "groups":
        return _blank(tuple(sorted(str(g["id"]) for g in user.get("groups") or () if g.get("id"))))
    raise AssertionError(path.kind)


def _same(a: Any, b: Any) -> bool:
    a, b = _blank(a), _blank(b)
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        as_set = lambda v: {str(x) for x in (v if isinstance(v, list | tuple) else (v,))} if v else set()  # noqa: E731
        return as_set(a) == as_set(b)
    return (None if a is None else str(a)) == (None if b is None else str(b))


def patch_body(user: Mapping[str, Any], changes: Mapping[Path, Any],
               location_id: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The fields to PATCH so that every path in `changes` holds its value; {} when the user already does.

    `location_id` turns a configured location value (a name) into the location id; None: values are ids.
    Raises ValueError for a value that cannot be written (an unknown location, a groups write).
    """
    body: dict[str, Any] = {}
    addresses = [dict(e) for e in user.get("addresses") or ()]
    addresses_changed = False
    employer = dict(user.get("employerInfo") or {})
    employer_changed = False
    for path, value in changes.items():
        value = _blank(value)
        if path.kind in ("top", "manager"):
            if not _same(read(user, path), value):
                body[path.name] = "" if value is None else str(value)
        elif path.kind == "employer":
            if not _same(employer.get(path.name), value):
                employer_changed = True
                if value is None:
                    employer.pop(path.name, None)
                else:
                    employer[path.name] = str(value)
        elif path.kind == "address":
            current = _entry({"addresses": addresses}, path)
            if _same(None if current is None else current.get("address") or current.get("extension"), value):
                continue
            addresses_changed = True
            addresses = [e for e in addresses if e is not current]
            if value is not None:
                addresses.append({"address": str(value), "mediaType": path.media_type, "type": path.type})
        elif path.kind == "locations":
            wanted_values = [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
            wanted = [location_id(str(v)) if location_id else str(v) for v in wanted_values]
            have = location_ids(user)
            if set(wanted) != set(have):
                kept = {lid: loc for loc in user.get("locations") or ()
                        for lid in [(loc.get("locationDefinition") or {}).get("id") or loc.get("id")]}
                body["locations"] = [
                    {"id": lid, **({"notes": kept[lid]["notes"]} if kept.get(lid, {}).get("notes") else {})}
                    for lid in sorted(set(wanted))]
        elif path.kind == "groups":
            if not _same(read(user, path), value):
                raise ValueError("groups are read-only on the user: group sync writes memberships")
    if addresses_changed:
        body["addresses"] = addresses
    if employer_changed:
        body["employerInfo"] = employer
    return body


def changed_underneath(before: Mapping[str, Any], after: Mapping[str, Any], paths: Iterable[Path]) -> list[Path]:
    """The paths whose value differs between two reads of the same user."""
    return [p for p in paths if not _same(read(before, p), read(after, p))]


# --- users search (find an account by its match keys) ------------------------------------------------------
SEARCH_PAGE = 25  # at most 100 per page; more than one page of candidates is "several" anyway
SEARCH_VALUE_MAX = 300  # longer values are refused by the search API
# the user fields search is asked on; other paths (phone entries, locations, manager) are checked on the
# users it finds
_SEARCHABLE = frozenset({"top", "employer"})


def search_criteria(match: Mapping[Path, Any]) -> list[dict[str, Any]]:
    """`POST /api/v2/users/search` criteria for these values: one EXACT criterion (ANDed) per searchable path a
    create sets (e-mail, name: what a create that landed holds for sure), or, when none is given, per other
    searchable path (employerInfo.<key>); and active or inactive users only (a deleted user is not an account
    to link). [] when no value can be searched (then nothing is looked up)."""
    searchable = {p: _blank(v) for p, v in match.items() if p.kind in _SEARCHABLE and _blank(v) is not None
                  and not isinstance(v, list | tuple)}
    on_create = {p: v for p, v in searchable.items() if p.field in CREATE_FIELDS}
    chosen = on_create or searchable
    if not chosen or any(len(str(v)) > SEARCH_VALUE_MAX for v in chosen.values()):
        return []
    criteria: list[dict[str, Any]] = [
        {"type": "EXACT", "fields": [p.name if p.kind == "top" else f"employerInfo.{p.name}"], "value": str(v)}
        for p, v in chosen.items()]
    return [*criteria, {"type": "EXACT", "fields": ["state"], "values": ["active", "inactive"]}]


def holds(attrs: Mapping[str, Any], match: Mapping[Path, Any]) -> bool:
    """A user's attributes (as observed) hold every match value: equal (strings without case, as e-mail
    addresses), or blank on a field that only the PATCH after a create sets."""
    for path, wanted in match.items():
        value = _blank(attrs.get(path.attr))
        if value is None and path.field not in CREATE_FIELDS:
            continue
        if not same(value, wanted):
            return False
    return True


def same(read_value: Any, wanted: Any) -> bool:
    """A value read equals a match value, strings compared without case (e-mail addresses)."""
    a, b = _blank(read_value), _blank(wanted)
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return _same(a, b)
