"""What differs between kinds of directory, in one object per kind; the connector asks it and never branches.

A flavour holds: the defaults (account filter, object classes of created accounts), the anchor (`objectGUID` as
a GUID string on AD, `entryUUID` elsewhere), the change marker (`uSNChanged` / `entryCSN` / `modifyTimestamp`)
and the delta mode that uses it (see delta.py), how an account reads as active and how deactivate/activate
change it (AD: the `userAccountControl` ACCOUNTDISABLE bit; others: a configured attribute), what a create
adds (AD: created disabled, since the bridge sets no password; others: `sn` when `person` requires it), how an
account is found by its key (AD: a `<GUID=...>` base search; others: an escaped filter under `base_dn`), the
schema's length limits checked before sending (AD), and removals seen by a delta (AD's tombstones).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from ...model import Observation
from ...ports import PermanentError
from .delta import CsnDelta, Delta, UsnDelta
from .dn import dn_within, esc, guid_string
from .search import Directory, Entry

if TYPE_CHECKING:
    from .settings import Settings

ACCOUNTDISABLE = 0x2
NORMAL_ACCOUNT = 0x200
# AD attribute syntaxes whose rangeUpper is a length in characters
_AD_STRING_SYNTAXES = {"2.5.5.12", "2.5.5.4", "2.5.5.5", "2.5.5.6"}
Mods = dict[str, tuple[str, Any]]  # attribute -> ("replace", values)


class Generic:
    """Any LDAPv3 server: `entryUUID` anchor, `modifyTimestamp` deltas, an optional disable attribute."""

    name: ClassVar[str] = "generic"
    anchor: ClassVar[str] = "entryUUID"
    marker: ClassVar[str] = "modifyTimestamp"
    filter: ClassVar[str] = "(objectClass=inetOrgPerson)"
    classes: ClassVar[tuple[str, ...]] = ("top", "person", "organizationalPerson", "inetOrgPerson")

    def __init__(self, settings: Settings, system: str) -> None:
        self.s = settings
        self.system = system
        self.delta: Delta = self._delta()

    def _delta(self) -> Delta:
        return Delta()

    @classmethod
    def check(cls, settings: Settings) -> None:
        """Refuse settings that make no sense for this kind of directory (raises ValueError)."""
        if settings.range_attributes:  # a server without range retrieval answers `member;range=0-1499` with
            # nothing at all: a group would read as empty
            raise ValueError("range_attributes is for Active Directory (range retrieval); other servers return "
                             "multi-valued attributes whole")

    # --- reading ------------------------------------------------------------------------------------------
    @property
    def state_attribute(self) -> str | None:
        """The attribute that says whether an account is disabled (None: every account is active)."""
        return self.s.disable_attribute

    def managed(self) -> set[str]:
        """Attributes the connector manages itself; a mapping may not name them (lower case)."""
        return {self.anchor.lower(), self.marker.lower(), "useraccountcontrol",
                (self.s.disable_attribute or "").lower()}

    def extra_attributes(self) -> list[str]:
        """Asked for besides the mapped attributes: anchor, marker and the disable attribute."""
        return [self.anchor, self.marker, *([self.state_attribute] if self.state_attribute else [])]

    def marker_value(self, raw: bytes) -> Any:
        return raw.decode()

    def active(self, raw: dict[str, list[bytes]]) -> bool:
        if not self.s.disable_attribute:
            return True
        values = [v.decode("utf-8", "replace").lower() for v in raw.get(self.s.disable_attribute.lower(), [])]
        return self.s.disabled_value.lower() not in values

    def removals(self, d: Directory, state: dict[str, Any]) -> list[Observation]:
        """Accounts gone since the cursor's state, when a delta can see them (else the periodic full read)."""
        return []

    # --- writing ------------------------------------------------------------------------------------------
    def switch_attribute(self) -> str:
        """The attribute deactivate/activate change; fails when this directory has none configured."""
        if not self.s.disable_attribute:
            raise PermanentError(f"{self.system}: cannot deactivate or activate: set disable_attribute for this "
                                 f"{self.s.flavor} directory")
        return self.s.disable_attribute

    def switch(self, raw: dict[str, list[bytes]], activate: bool) -> Mods:
        """The change that activates or deactivates this entry ({} when it already is)."""
        attr = self.switch_attribute()
        have = [v.decode("utf-8", "replace") for v in raw.get(attr.lower(), [])]
        if activate:
            want = [self.s.enabled_value] if self.s.enabled_value is not None else []
        else:
            want = [self.s.disabled_value]
        return {} if sorted(have) == sorted(want) else {attr: ("replace", want)}

    def object_classes(self) -> list[str]:
        return list(self.s.object_classes or self.classes)

    def complete_new(self, attrs: dict[str, Any], name: str) -> None:
        """Add what a new account needs besides its mapped attributes (in place)."""
        if "sn" not in {a.lower() for a in attrs} and "person" in [c.lower() for c in self.object_classes()]:
            attrs["sn"] = [name]  # person requires a surname

    def locate(self, d: Directory, key: str, attrs: list[str]) -> list[Entry]:
        """The entries (at most one) whose anchor is `key`."""
        return d.entries(self.s.base_dn, f"({self.anchor}={esc(key)})", attrs, paged=False)

    def check_limits(self, d: Directory, attrs: dict[str, Any], mapped: list[str]) -> None:
        """Refuse, before sending, values the directory's schema would refuse (with the reason)."""


class OpenLdap(Generic):
    """OpenLDAP: `entryCSN` deltas above the suffix's `contextCSN` (syncprov)."""

    name: ClassVar[str] = "openldap"
    marker: ClassVar[str] = "entryCSN"

    def _delta(self) -> Delta:
        return CsnDelta()


class ActiveDirectory(Generic):
    """Active Directory (and Samba AD): GUID anchor, USN deltas with tombstones, userAccountControl."""

    name: ClassVar[str] = "active_directory"
    anchor: ClassVar[str] = "objectGUID"
    marker: ClassVar[str] = "uSNChanged"
    filter: ClassVar[str] = "(&(objectCategory=person)(objectClass=user))"
    classes: ClassVar[tuple[str, ...]] = ("top", "person", "organizationalPerson", "user")

    usn: UsnDelta
    _limits: dict[str, int] | None = None  # the schema's rangeUpper per attribute, read once

    def _delta(self) -> Delta:
        self.usn = UsnDelta(self.system)
        return self.usn

    @classmethod
    def check(cls, settings: Settings) -> None:  # (range retrieval is AD's own: allowed here)
        if settings.disable_attribute:
            raise ValueError("disable_attribute is for other LDAP servers; AD uses userAccountControl")

    @property
    def state_attribute(self) -> str | None:
        return "userAccountControl"

    def marker_value(self, raw: bytes) -> Any:
        return int(raw.decode())

    def active(self, raw: dict[str, list[bytes]]) -> bool:
        uac = raw.get("useraccountcontrol")
        return not (int(uac[0]) & ACCOUNTDISABLE) if uac else True

    def switch_attribute(self) -> str:
        return "userAccountControl"

    def switch(self, raw: dict[str, list[bytes]], activate: bool) -> Mods:
        current = int((raw.get("useraccountcontrol") or [b"512"])[0])
        new = current & ~ACCOUNTDISABLE if activate else current | ACCOUNTDISABLE
        return {} if new == current else {"userAccountControl": ("replace", [str(new)])}

    def complete_new(self, attrs: dict[str, Any], name: str) -> None:
        # created disabled: the bridge sets no password, and AD must not enable a password-less account
        attrs["userAccountControl"] = [str(NORMAL_ACCOUNT | ACCOUNTDISABLE)]

    def locate(self, d: Directory, key: str, attrs: list[str]) -> list[Entry]:
        try:
            guid = str(uuid.UUID(key))
        except ValueError:
            raise PermanentError(f"{self.system}: {key!r} is not an objectGUID") from None
        return d.entries(f"<GUID={guid}>", "(objectClass=*)", attrs, scope="BASE", paged=False,
                         allow_missing_base=True)

    def _root(self, d: Directory) -> dict[str, list[str]]:
        return self.usn.rootdse or d.root()

    def removals(self, d: Directory, state: dict[str, Any]) -> list[Observation]:
        """Tombstones in Deleted Objects changed since the mark, whose last parent was in scope."""
        from ldap3.protocol.microsoft import show_deleted_control

        domain = (self._root(d).get("defaultnamingcontext") or [""])[0]
        flt = f"(&(objectClass=user)(isDeleted=TRUE)(uSNChanged>={int(state['usn']) + 1}))"
        gone = []
        for e in d.entries(f"CN=Deleted Objects,{domain}", flt, ["objectGUID", "uSNChanged", "lastKnownParent"],
                           controls=[show_deleted_control(criticality=True)], allow_missing_base=True):
            raw = e["raw"]
            parent = (raw.get("lastknownparent") or [b""])[0].decode("utf-8", "replace")
            if not raw.get("objectguid") or not parent or not dn_within(parent, self.s.base_dn):
                continue
            gone.append(Observation(self.system, guid_string(raw["objectguid"][0]), {}, active=False, removed=True,
                                    marker=int(raw["usnchanged"][0]) if raw.get("usnchanged") else None))
        return gone

    def check_limits(self, d: Directory, attrs: dict[str, Any], mapped: list[str]) -> None:
        """AD refuses values longer than the schema's rangeUpper; say which attribute and why, before sending."""
        if self._limits is None:
            self._limits = self._read_limits(d, mapped)
        for attr, values in attrs.items():
            limit = self._limits.get(attr.lower())
            for v in values if isinstance(values, list) else [values]:
                if limit is not None and isinstance(v, str) and len(v) > limit:
                    raise PermanentError(f"{self.system}: {attr} is {len(v)} characters; the directory allows "
                                         f"{limit}")

    def _read_limits(self, d: Directory, mapped: list[str]) -> dict[str, int]:
        schema = (self._root(d).get("schemanamingcontext") or [""])[0]
        names = {a.lower() for a in mapped}
        if not schema or not names:
            return {}
        flt = "(|" + "".join(f"(lDAPDisplayName={esc(a)})" for a in sorted(names)) + ")"
        limits = {}
        for e in d.entries(schema, flt, ["lDAPDisplayName", "rangeUpper", "attributeSyntax"], scope="SUBTREE"):
            raw = e["raw"]
            syntax = (raw.get("attributesyntax") or [b""])[0].decode()
            if raw.get("rangeupper") and syntax in _AD_STRING_SYNTAXES:
                limits[raw["ldapdisplayname"][0].decode().lower()] = int(raw["rangeupper"][0])
        return limits


FLAVORS: dict[str, type[Generic]] = {f.name: f for f in (ActiveDirectory, OpenLdap, Generic)}


def flavor_of(name: str) -> type[Generic]:
    return FLAVORS[name]
