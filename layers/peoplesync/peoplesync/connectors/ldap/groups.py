"""Groups in a directory: which are in scope, reading them with their members, writing member adds and removes.

- Scope (`groups:` in the system's settings): a subtree (`base_dn`, default the system's), a filter (default per
  flavour: AD `(objectClass=group)`, which includes mail-enabled distribution groups; others
  `(objectClass=groupOfNames)`), and optionally an explicit list of group names (`names`, matched on `cn`).
- Read: one paged search after the accounts' (people are linked before the groups naming them), the same
  attributes, `member` completed range by range (`member;range=0-1499`, AD's MaxValRange); a range that stops
  short fails the read, so a truncated member list removes nobody. Delta: the same change marker as accounts.
- Write: one `modify` per group carrying `MODIFY_ADD` and `MODIFY_DELETE` of member DNs (and a replace of any
  other changed attribute). Adding a member already there or removing one already gone (a delivery made twice,
  another process first) is done, not an error: the server's refusal is answered by re-reading the group's
  members and sending only what is still missing, if anything.
- Exchange distribution lists on premises / hybrid are mail-enabled AD groups (`mail`, `proxyAddresses`,
  `groupType` without the security bit 0x80000000): read and written through the same `member` attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...model import CREATE, GROUP, PERSON, Write
from ...ports import PermanentError, WriteResult
from .dn import dn_key, dn_within, encode, esc, rdn, text, values_of
from .search import Directory, Entry, NotFound

if TYPE_CHECKING:
    from .connector import LdapConnector
    from .settings import GroupSettings

GROUP_CLASSES = {"group", "groupofnames", "groupofuniquenames"}
DEFAULT_FILTER = {"active_directory": "(objectClass=group)"}
DEFAULT_CLASSES = {"active_directory": ["top", "group"]}
# a member add or remove the server refused because it is already done (or the group moved on):
# attributeOrValueExists, noSuchAttribute, entryAlreadyExists (AD: already a member), unwillingToPerform
# (AD: WERR_MEMBER_NOT_IN_GROUP). Each is checked against a fresh read of the members, never assumed.
ALREADY_DONE = {20, 16, 68, 53}


def __getattr__(name: str) -> Any:
    """`GroupSettings`: the pydantic model of `groups:`, imported when asked for (`settings.py`)."""
    if name == "GroupSettings":
        from .settings import GroupSettings

        return GroupSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Groups:
    """One connector's groups (`settings` None: the system reads no groups)."""

    def __init__(self, connector: LdapConnector, settings: GroupSettings | None) -> None:
        self.c = connector
        self.s = settings
        flavor = connector.s.flavor
        self.base = (settings.base_dn if settings and settings.base_dn else None) or connector.s.base_dn
        flt = (settings.filter if settings else None) or DEFAULT_FILTER.get(flavor, "(objectClass=groupOfNames)")
        names = settings.names if settings else []
        if names:
            flt = "(&" + flt + "(|" + "".join(f"(cn={esc(n)})" for n in names) + "))"
        self.filter = flt

    @property
    def enabled(self) -> bool:
        return self.s is not None

    def scope(self) -> list[Any]:
        return [dn_key(self.base), self.filter] if self.s else []

    def within(self, dn: str) -> bool:
        return self.enabled and dn_within(dn, self.base)

    # --- reading ------------------------------------------------------------------------------------------
    def read(self, d: Directory, flt: str | None = None) -> list[Any]:
        """The groups in scope (or those `flt` selects within it: a delta), as group observations."""
        if not self.enabled:
            return []
        entries = d.entries(self.base, flt or self.filter, self.c._read_attrs())
        return [o for o in (self.c._observe(e, GROUP) for e in entries) if o is not None]

    @staticmethod
    def kind_of(raw: dict[str, list[bytes]]) -> str:
        classes = {v.decode("utf-8", "replace").lower() for v in raw.get("objectclass", [])}
        return GROUP if classes & GROUP_CLASSES else PERSON

    def locate(self, d: Directory, key: str, attrs: list[str]) -> list[Entry]:
        """A group by its anchor: the flavour's look-up, and (when groups live outside base_dn) under the
        groups' base too."""
        found = self.c.flavor.locate(d, key, attrs)
        if not found and self.enabled and not dn_within(self.base, self.c.s.base_dn):
            found = d.entries(self.base, f"({self.c.anchor_attr}={esc(key)})", attrs, paged=False)
        return found

    # --- writing ------------------------------------------------------------------------------------------
    def write(self, d: Directory, change: Write) -> WriteResult:
        """Member adds and removes (and any other changed attribute) in one modify of the group."""
        from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

        if change.op == CREATE:
            return self.create(d, change)
        if change.op != "update":
            raise PermanentError(f"{self.c.name}: a group is not {change.op}d by the bridge")
        entry = self._entry(d, change.key or "", [*change.attrs, *change.delta, self.c.marker_attr])
        dn = self._rename(d, entry["dn"], change.attrs)
        changes: dict[str, list[tuple[Any, list[Any]]]] = {
            a: [(MODIFY_REPLACE, v)] for a, (_, v) in self.c._differences(entry["raw"], change.attrs).items()
            if a.lower() != dn_key(dn)[0][0]}
        for attr, delta in change.delta.items():
            ops = [(op, [encode(attr, v) for v in values_of(delta.get(side))])
                   for op, side in ((MODIFY_ADD, "add"), (MODIFY_DELETE, "remove"))]
            if any(values for _, values in ops):
                changes[attr] = [(op, values) for op, values in ops if values]
        if not changes:
            return WriteResult(key=change.key, ref=dn, marker=self.c._marker(entry["raw"]))
        self.c.stats["modifies"] += 1
        ok = d.conn.modify(dn, changes)
        if not ok and (d.conn.result or {}).get("result") in ALREADY_DONE and change.delta:
            changes = self._still_to_do(d, dn, changes, change)
            if not changes:
                return WriteResult(key=change.key, ref=dn, marker=self.c._marker_now(d, dn))
            self.c.stats["modifies"] += 1
            ok = d.conn.modify(dn, changes)
        d.check(ok, f"modify group {dn!r}")
        return WriteResult(key=change.key, ref=dn, marker=self.c._marker_now(d, dn))

    def _rename(self, d: Directory, dn: str, attrs: dict[str, Any]) -> str:
        """A new value of the naming attribute (the group's `cn`) is a rename (modify DN), never a modify,
        which the directory refuses (notAllowedOnRDN). Returns the group's DN after it."""
        naming = dn_key(dn)[0][0]
        new = next((values_of(v) for a, v in attrs.items() if a.lower() == naming), None)
        if not new or dn_key(rdn(naming, new[0]))[0] == dn_key(dn)[0]:
            return dn
        from ldap3.utils.dn import to_dn

        first, *parent = to_dn(dn)  # (escaped commas inside the name are not separators)
        renamed = rdn(first.split("=", 1)[0], new[0])
        self.c.stats["modifies"] += 1
        d.check(d.conn.modify_dn(dn, renamed), f"rename group {dn!r}")
        return ",".join([renamed, *parent])

    def _entry(self, d: Directory, key: str, attrs: list[str]) -> Entry:
        found = self.locate(d, key, attrs)
        if not found:
            raise NotFound(f"{self.c.name}: no group with {self.c.anchor_attr} {key}")
        if not (self.within(found[0]["dn"]) or dn_within(found[0]["dn"], self.c.s.base_dn)):
            raise NotFound(f"{self.c.name}: group {key} is at {found[0]['dn']!r}, outside the groups' base_dn")
        return found[0]

    def _still_to_do(self, d: Directory, dn: str, changes: dict[str, Any], change: Write) -> dict[str, Any]:
        """The refused modify, less the member adds already there and the removes already gone (read now)."""
        from ldap3 import MODIFY_ADD, MODIFY_DELETE

        current = d.entries(dn, "(objectClass=*)", list(change.delta), scope="BASE", paged=False)
        raw = current[0]["raw"] if current else {}
        left: dict[str, Any] = {a: ops for a, ops in changes.items() if a not in change.delta}
        for attr in change.delta:
            have = {dn_key(text(attr, v)) for v in raw.get(attr.lower(), [])}
            ops = []
            for op, values in changes.get(attr, []):
                keep = [v for v in values if (dn_key(str(v)) in have) != (op == MODIFY_ADD)]
                if keep and op in (MODIFY_ADD, MODIFY_DELETE):
                    ops.append((op, keep))
            if ops:
                left[attr] = ops
        return left

    def create(self, d: Directory, change: Write) -> WriteResult:
        """A group named by its `cn` (or the first of rdn_from with a value) in `groups.create_container`."""
        container = self.s.create_container if self.s else None
        if not container:
            raise PermanentError(f"{self.c.name}: creating groups needs groups.create_container")
        name = self.c._new_name(change.attrs)
        attrs = {a: [encode(a, v) for v in values_of(val)] for a, val in change.attrs.items()}
        attrs = {a: v for a, v in attrs.items() if v and a.lower() != "cn"}
        flavor = self.c.s.flavor
        classes = (self.s.object_classes if self.s else None) or DEFAULT_CLASSES.get(flavor, ["top", "groupOfNames"])
        if flavor == "active_directory" and self.s and self.s.group_type is not None:
            attrs["groupType"] = [str(self.s.group_type)]  # (sAMAccountName: the directory makes a unique one)
        dn = f"{rdn('cn', name)},{container}"
        self.c.stats["modifies"] += 1
        added = d.conn.add(dn, classes, {**attrs, "cn": [name]})
        if not added and (d.conn.result or {}).get("result") == 68:  # entryAlreadyExists: a create made twice
            if not d.entries(dn, self.filter, ["cn"], scope="BASE", paged=False, allow_missing_base=True):
                raise PermanentError(f"{self.c.name}: group {dn!r} not created: an entry of that name (or "
                                     f"account name) exists and is not a group in scope")
        else:
            d.check(added, f"create group {dn!r}")
        found = d.entries(dn, "(objectClass=*)", [self.c.anchor_attr, self.c.marker_attr], scope="BASE",
                          paged=False)
        key = text(self.c.anchor_attr, found[0]["raw"][self.c.anchor_attr.lower()][0])
        return WriteResult(key=key, ref=found[0]["dn"], marker=self.c._marker(found[0]["raw"]))
