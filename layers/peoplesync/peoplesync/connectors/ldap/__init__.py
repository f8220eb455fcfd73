"""Active Directory and LDAP directories, through ldap3.

Reads
- Full read: one paged subtree search under `base_dn`, asking only for the mapped attributes (plus the anchor,
  the change marker and the enable/disable attribute). Multi-valued attributes the server returns in ranges
  (`member;range=0-1499`, Active Directory's MaxValRange) are fetched to the end, range by range.
- Delta read, cost proportional to the changes: per flavour, see delta.py (AD: USN above the DC's high-water
  mark plus tombstones; OpenLDAP: entryCSN above contextCSN; others: modifyTimestamp). Neither OpenLDAP nor
  other servers report deletions in a search, so every `full_read_every` a full read (complete=True) lets the
  pipeline see who is gone.
- Anchor (`Observation.key`): `objectGUID` as a GUID string (AD) or `entryUUID`; `ref` is the entry's DN;
  `marker` is `uSNChanged` / `entryCSN` / `modifyTimestamp`.

Writes: one modify per entry, carrying only the given attributes whose values differ from the entry's current
ones (replace, or replace-with-nothing to clear); nothing is sent when nothing differs. Deactivate/activate flip
the `userAccountControl` ACCOUNTDISABLE bit (AD) or set/clear a configured attribute. Creates go into
`create_container`, named by an escaped RDN; AD accounts are created disabled, since the bridge sets no password.

Every difference between Active Directory, OpenLDAP and other servers lives in a flavour object (flavors.py).

Safety: filter values go through `escape_filter_chars`, RDN values through `escape_rdn`; referrals are never
followed (ldap3 `auto_referrals=False`), so no other host ever receives our bind; TLS verifies the server against
`ca_file` unless the loudly named test switch says otherwise; the password is never logged, and is dropped from
the ldap3 connection object right after the bind.

Modules: settings (the configuration keys, pydantic), props (what they derive, without pydantic), dn (DN and
value helpers), search (one connection's searches), delta (marks and cursors), flavors (what differs per
directory), groups, pages, connector (the connector).
"""

from __future__ import annotations

from typing import Any

from .connector import LdapConnector
from .delta import decode_cursor, encode_cursor
from .dn import dn_key, dn_within, guid_string
from .flavors import ActiveDirectory, Generic, OpenLdap, flavor_of
from .search import MANAGE_DSA_IT_OID

CONNECTOR = LdapConnector


def __getattr__(name: str) -> Any:
    """`Settings`: the pydantic model, imported when asked for (`settings.py`): a connector built from settings
    checked before (`checked_settings.py`, a Lambda function's cold start) never imports pydantic."""
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CONNECTOR", "MANAGE_DSA_IT_OID", "ActiveDirectory", "Generic", "LdapConnector", "OpenLdap", "Settings",
           "decode_cursor", "dn_key", "dn_within", "encode_cursor", "flavor_of", "guid_string"]
