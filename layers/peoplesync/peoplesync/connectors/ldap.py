"""Active Directory and LDAP directories, through ldap3.

Reads
- Full read: one paged subtree search under `base_dn`, asking only for the mapped attributes (plus the anchor,
  the change marker and the enable/disable attribute). Multi-valued attributes the server returns in ranges
  (`member;range=0-1499`, Active Directory's MaxValRange) are fetched to the end, range by range.
- Delta read, cost proportional to the changes:
  Active Directory: `(uSNChanged>=N+1)` above the high-water mark `highestCommittedUSN` taken at the previous
  poll, plus the tombstones in `CN=Deleted Objects` (show-deleted control) for removals. USNs are local to one
  domain controller database, so the cursor carries that database's `invocationId`: a different DC, or the
  same DC restored from backup, fails the check and the poll falls back to a full read.
  OpenLDAP: `(entryCSN>W)` with W the suffix's `contextCSN` read before the previous search (syncprov moves
  contextCSN past a CSN only once every earlier write has committed, so nothing slips under the mark); without
  contextCSN, the newest entryCSN seen, less a small overlap. Other LDAP servers: `modifyTimestamp`, less the
  same overlap (writes can commit out of order and timestamps have one-second resolution).
  Neither reports deletions in a search, so every `full_read_every` a full read (complete=True) lets the
  pipeline see who is gone.
- Anchor (`Observation.key`): `objectGUID` as a GUID string (AD) or `entryUUID`; `ref` is the entry's DN;
  `marker` is `uSNChanged` / `entryCSN` / `modifyTimestamp`.

Writes: one modify per entry, carrying only the given attributes whose values differ from the entry's current
ones (replace, or replace-with-nothing to clear); nothing is sent when nothing differs. Deactivate/activate flip
the `userAccountControl` ACCOUNTDISABLE bit (AD) or set/clear a configured attribute. Creates go into
`create_container`, named by an escaped RDN; AD accounts are created disabled, since the bridge sets no password.

Safety: filter values go through `escape_filter_chars`, RDN values through `escape_rdn`; referrals are never
followed (ldap3 `auto_referrals=False`), so no other host ever receives our bind; TLS verifies the server against
`ca_file` unless the loudly named test switch says otherwise; the password is never logged, and is dropped from
the ldap3 connection object right after the bind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..model import ACTIVATE, CREATE, DEACTIVATE, DELETE, UPDATE, Observation, Write
from ..ports import (
    Connector,
    PeoplesyncError,
    PermanentError,
    ReadFailed,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)

log = logging.getLogger("peoplesync.ldap")

Flavor = Literal["active_directory", "openldap", "generic"]

ACCOUNTDISABLE = 0x2
NORMAL_ACCOUNT = 0x200
PAGED_OID = "1.2.840.113556.1.4.319"
SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
MANAGE_DSA_IT_OID = "2.16.840.1.113730.3.4.2"
# Concurrent writes can commit out of CSN / timestamp order: each delta re-reads this much before the mark.
OVERLAP = timedelta(seconds=5)
BINARY_ATTRIBUTES = {"objectsid", "thumbnailphoto", "jpegphoto", "usercertificate", "photo", "msexchmailboxguid"}
# AD attribute syntaxes whose rangeUpper is a length in characters
_AD_STRING_SYNTAXES = {"2.5.5.12", "2.5.5.4", "2.5.5.5", "2.5.5.6"}
# result codes worth retrying; every other failure is the request's own fault
_TRANSIENT_CODES = {3, 11, 51, 52, 80}  # timeLimitExceeded, adminLimitExceeded, busy, unavailable, other

_DEFAULTS: dict[str, dict[str, Any]] = {
    "active_directory": {
        "anchor": "objectGUID", "marker": "uSNChanged", "delta": "usn",
        "filter": "(&(objectCategory=person)(objectClass=user))",
        "classes": ["top", "person", "organizationalPerson", "user"],
    },
    "openldap": {
        "anchor": "entryUUID", "marker": "entryCSN", "delta": "csn",
        "filter": "(objectClass=inetOrgPerson)",
        "classes": ["top", "person", "organizationalPerson", "inetOrgPerson"],
    },
    "generic": {
        "anchor": "entryUUID", "marker": "modifyTimestamp", "delta": "timestamp",
        "filter": "(objectClass=inetOrgPerson)",
        "classes": ["top", "person", "organizationalPerson", "inetOrgPerson"],
    },
}

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def _seconds(text: str) -> int:
    m = _DURATION.match(text)
    if not m:
        raise ValueError("a duration such as 30m, 6h or 7d (0 = every poll is a full read)")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class Settings(BaseModel):
    """The `ldap` connector's keys in a system's configuration (see docs/ldap.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="ldaps://host[:port] or ldap://host[:port] (then use start_tls)")
    flavor: Flavor = "generic"
    base_dn: str = Field(description="Where the accounts live; only this subtree is read or written")
    user_filter: str | None = Field(None, description="LDAP filter selecting accounts (default per flavor)")
    start_tls: bool = Field(False, description="Upgrade an ldap:// connection with StartTLS before binding")
    ca_file: str | None = Field(None, description="PEM file of the CA that signed the server's certificate")
    tls_server_name: str | None = Field(None, description="Name expected in the server certificate when it "
                                                          "differs from the URL's host")
    insecure_skip_tls_verify_for_tests_only: bool = Field(
        False, description="NEVER in production: accept any server certificate and allow binding in clear")
    page_size: int = Field(500, ge=1, le=100_000, description="Entries per page (servers may cap it lower)")
    connect_timeout: float = Field(10, gt=0)
    timeout: float = Field(60, gt=0, description="Seconds to wait for one response")
    retries: int = Field(2, ge=0, le=10, description="Reconnect-and-retry attempts after a dropped connection")
    create_container: str | None = Field(None, description="DN where accounts are created (none: never create)")
    object_classes: list[str] | None = Field(None, description="objectClass values of created accounts")
    rdn_attribute: str = Field("cn", description="Naming attribute of created accounts")
    rdn_from: list[str] = Field(default_factory=lambda: ["cn", "displayName", "uid", "sAMAccountName", "mail",
                                                         "employeeID", "employeeNumber"],
                                description="Mapped attributes tried, in order, to name a created account")
    disable_attribute: str | None = Field(None, description="Non-AD: attribute marking an account disabled")
    disabled_value: str = Field("TRUE", description="Value of disable_attribute meaning disabled")
    enabled_value: str | None = Field(None, description="Value written on activate (none: remove the attribute)")
    full_read_every: str = Field("24h", description="How often a poll is a full read that detects removals")
    range_attributes: list[str] = Field(default_factory=list, description="Multi-valued attributes to ask for "
                                        "in ranges from the first request (AD fetches ranges anyway)")
    range_size: int = Field(1500, ge=1, description="Values per range request")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlparse(v)
        if u.scheme not in ("ldap", "ldaps") or not u.hostname or u.path not in ("", "/") or u.query:
            raise ValueError("must be ldaps://host[:port] or ldap://host[:port], with nothing after the host")
        return v

    @field_validator("base_dn", "create_container")
    @classmethod
    def _dn(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                dn_key(v)
            except ValueError as exc:
                raise ValueError(f"not a valid DN: {exc}") from None
        return v

    @field_validator("user_filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith("(") and v.endswith(")")):
            raise ValueError("an LDAP filter in parentheses, e.g. (objectClass=inetOrgPerson)")
        return v

    @field_validator("full_read_every")
    @classmethod
    def _every(cls, v: str) -> str:
        _seconds(v)
        return v

    @model_validator(mode="after")
    def _transport(self) -> Settings:
        if urlparse(self.url).scheme == "ldap" and not self.start_tls \
                and not self.insecure_skip_tls_verify_for_tests_only:
            raise ValueError("ldap:// without start_tls would send the password in clear: use ldaps:// or "
                             "start_tls: true")
        if self.flavor == "active_directory" and self.disable_attribute:
            raise ValueError("disable_attribute is for other LDAP servers; AD uses userAccountControl")
        return self

    # derived ---------------------------------------------------------------------------------------------
    def flavored(self, key: str) -> Any:
        return _DEFAULTS[self.flavor][key]

    @property
    def filter(self) -> str:
        return self.user_filter or self.flavored("filter")

    @property
    def full_read_seconds(self) -> int:
        return _seconds(self.full_read_every)


# --- small pure helpers ---------------------------------------------------------------------------------------
def guid_string(raw: bytes) -> str:
    """objectGUID bytes (little-endian fields, as AD stores them) -> 'c01b15a2-3d3f-4ad8-887e-4935688a653c'."""
    return str(uuid.UUID(bytes_le=raw))


def _unescape_dn_value(v: str) -> str:
    out, i = bytearray(), 0
    while i < len(v):
        ch = v[i]
        if ch == "\\" and i + 1 < len(v):
            pair = v[i + 1:i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += v[i + 1].encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _split_unescaped(text: str, seps: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch in seps:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def dn_key(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN in comparable form: attribute types and values case-folded, escapes resolved (\\, and \\2C alike).
    Multi-valued RDNs (a=1+b=2) are flattened in order; a DN that does not parse raises ValueError."""
    out = []
    for rdn in _split_unescaped(dn, ",;"):
        if not rdn.strip():
            raise ValueError(f"empty RDN in {dn!r}")
        for ava in _split_unescaped(rdn, "+"):
            attr, eq, value = ava.partition("=")
            if not eq or not attr.strip():
                raise ValueError(f"not attribute=value: {ava!r}")
            value = value.lstrip()
            while value.endswith(" ") and not value.endswith("\\ "):  # an escaped trailing space stays
                value = value[:-1]
            out.append((attr.strip().lower(), _unescape_dn_value(value).lower()))
    return tuple(out)


def dn_within(dn: str, base: str) -> bool:
    d, b = dn_key(dn), dn_key(base)
    return len(d) >= len(b) and d[len(d) - len(b):] == b


def _text(attr: str, raw: bytes) -> str:
    if attr.lower() == "objectguid" and len(raw) == 16:
        return guid_string(raw)
    if attr.lower() in BINARY_ATTRIBUTES:
        return base64.b64encode(raw).decode()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode()


def _values_of(value: Any) -> list[str]:
    """A value as the engine hands it -> the list of LDAP values to store (empty list = clear)."""
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    out = []
    for item in items:
        if item is None or item == "":
            continue
        if isinstance(item, bool):
            out.append("TRUE" if item else "FALSE")
        else:
            out.append(str(item))
    return out


def _csn_minus(csn: str, delta: timedelta) -> str:
    """An entryCSN (20240101120000.123456Z#000000#000#000000) moved back by delta; unreadable: unchanged."""
    try:
        stamp = datetime.strptime(csn[:22], "%Y%m%d%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return csn
    return (stamp - delta).strftime("%Y%m%d%H%M%S.%fZ") + "#000000#000#000000"


def _stamp_minus(ts: str, delta: timedelta) -> str:
    """A GeneralizedTime (20240101120000Z, maybe with fractions) moved back by delta."""
    try:
        stamp = datetime.strptime(ts[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return ts
    return (stamp - delta).strftime("%Y%m%d%H%M%S") + "Z"


def encode_cursor(data: dict[str, Any]) -> str:
    return "ldap1:" + base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any] | None:
    if not cursor.startswith("ldap1:"):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor[6:].encode()))
    except (ValueError, binascii.Error):
        return None
    return data if isinstance(data, dict) else None


class _NotFound(PermanentError):
    """No account with that anchor (in base_dn)."""


class _Dropped(Exception):
    """The connection broke (server restart, idle timeout, network): reconnect and try again."""


# --- the connector --------------------------------------------------------------------------------------------
class LdapConnector(Connector):
    default_reference = "dn"

    def __init__(self, name: str, settings: Settings, attributes: list[str], *, writable: bool = True,
                 bind_dn: str | None = None, password: str | None = None, secrets: SecretsPort | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets)
        self.s: Settings = settings
        self._bind_dn = bind_dn
        self._password = password  # kept here only; never logged, never in a repr
        self.clock = clock
        self._conn: Any = None
        self._rootdse: dict[str, list[str]] | None = None
        self._limits: dict[str, int] | None = None
        self.anchor_attr: str = settings.flavored("anchor")
        self.marker_attr: str = settings.flavored("marker")
        special = {self.anchor_attr.lower(), self.marker_attr.lower(), "useraccountcontrol",
                   (settings.disable_attribute or "").lower()}
        clash = [a for a in self.attributes if a.lower() in special]
        if clash:
            raise ValueError(f"system {name!r}: {clash} are managed by the ldap connector and cannot be mapped")
        # what the last operations cost, for tests and benchmarks
        self.stats: dict[str, int] = {"entries": 0, "searches": 0, "modifies": 0, "binds": 0, "referrals": 0}
        if settings.insecure_skip_tls_verify_for_tests_only:
            log.warning("system %s: TLS CERTIFICATE VERIFICATION IS OFF (insecure_skip_tls_verify_for_tests_only)."
                        " Never use this outside tests.", name)

    def __repr__(self) -> str:
        return f"LdapConnector({self.name!r}, url={self.s.url!r}, base_dn={self.s.base_dn!r})"

    # --- connection ---------------------------------------------------------------------------------------
    def _open(self) -> Any:
        import ssl

        from ldap3 import NONE, SYNC, Connection, Server, Tls
        from ldap3.core.exceptions import LDAPException

        u = urlparse(self.s.url)
        use_ssl = u.scheme == "ldaps"
        port = u.port or (636 if use_ssl else 389)
        if self.s.insecure_skip_tls_verify_for_tests_only:
            tls = Tls(validate=ssl.CERT_NONE)
        else:
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.s.ca_file,
                      valid_names=[self.s.tls_server_name] if self.s.tls_server_name else None)
        server = Server(u.hostname, port=port, use_ssl=use_ssl, tls=tls, get_info=NONE,
                        connect_timeout=self.s.connect_timeout)
        conn = Connection(server, user=self._bind_dn, password=self._password, client_strategy=SYNC,
                          auto_referrals=False, auto_range=False, return_empty_attributes=False,
                          raise_exceptions=False, receive_timeout=self.s.timeout, read_only=not self.writable)
        try:
            conn.open()
            if self.s.start_tls and not use_ssl and not conn.start_tls():
                raise TransientError(f"{self.name}: StartTLS refused: {conn.result.get('description')}")
            ok = conn.bind()
        except LDAPException as exc:
            conn.password = None
            _quiet_unbind(conn)
            raise self._transient(f"cannot connect to {u.hostname}:{port}", exc) from None
        conn.password = None  # ldap3's repr prints it; we rebind with a new connection, so it is not needed
        self.stats["binds"] += 1
        if not ok:
            result = dict(conn.result or {})
            _quiet_unbind(conn)
            raise TransientError(f"{self.name}: bind as {self._bind_dn!r} refused: {result.get('description')} "
                                 f"{self._scrub(str(result.get('message', '')))}".strip())
        return conn

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _quiet_unbind(conn)

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _transient(self, what: str, exc: Exception) -> TransientError:
        return TransientError(f"{self.name}: {what}: {type(exc).__name__}: {self._scrub(str(exc))}")

    def _retrying(self, op: Callable[[Any], Any]) -> Any:
        """Run op(connection); if the connection dropped, reconnect and run it again (ops are idempotent)."""
        from ldap3.core.exceptions import LDAPCommunicationError, LDAPResponseTimeoutError

        last: Exception | None = None
        for attempt in range(self.s.retries + 1):
            try:
                return op(self._connection())
            except (LDAPCommunicationError, LDAPResponseTimeoutError, _Dropped, OSError) as exc:
                last = exc
                log.warning("%s: connection lost (%s); reconnecting (attempt %d of %d)", self.name,
                            type(exc).__name__, attempt + 1, self.s.retries + 1)
                self.close()
                if attempt < self.s.retries:
                    time.sleep(min(0.2 * 2 ** attempt, 2.0))
            except TransientError as exc:
                last = exc
                self.close()
                if attempt < self.s.retries:
                    time.sleep(min(0.2 * 2 ** attempt, 2.0))
        assert last is not None
        if isinstance(last, TransientError):
            raise last
        raise self._transient("connection lost and could not be restored", last)

    # --- low-level searches -------------------------------------------------------------------------------
    def _search(self, conn: Any, base: str, flt: str, attrs: list[str], *, scope: str = "SUBTREE",
                controls: list[Any] | None = None, paged: bool = True,
                allow_missing_base: bool = False) -> Iterator[dict[str, Any]]:
        """Paged search; yields entries (dn + raw attributes). Referrals are counted and never followed."""
        from ldap3 import BASE, DEREF_NEVER, SUBTREE

        cookie: Any = None
        while True:
            self.stats["searches"] += 1
            conn.search(base, flt, search_scope=SUBTREE if scope == "SUBTREE" else BASE, attributes=attrs,
                        dereference_aliases=DEREF_NEVER, controls=controls,
                        paged_size=self.s.page_size if paged else None, paged_cookie=cookie)
            result = conn.result or {}
            code = result.get("result")
            if code is None:
                raise _Dropped("no result")
            if code == 32 and allow_missing_base:
                return
            if code == 10:
                raise ReadFailed(f"{self.name}: the server referred the search for {base!r} elsewhere; referrals "
                                 f"are not followed (point base_dn at this server's own data)")
            if code == 4:
                raise ReadFailed(f"{self.name}: the server's size limit cut the search short; raise the limit "
                                 f"for the bind account (OpenLDAP: limits ... size.prtotal=unlimited)")
            if code != 0:
                err = ReadFailed if code not in _TRANSIENT_CODES else TransientError
                raise err(f"{self.name}: search of {base!r} failed: {result.get('description')} "
                          f"{result.get('message', '')}".strip())
            for entry in conn.response or []:
                if entry.get("type") == "searchResEntry":
                    yield entry
                elif entry.get("type") == "searchResRef":
                    self.stats["referrals"] += 1
            cookie = (((result.get("controls") or {}).get(PAGED_OID) or {}).get("value") or {}).get("cookie")
            if not paged or not cookie:
                return

    def _entries(self, conn: Any, base: str, flt: str, attrs: list[str], **kw: Any) -> list[dict[str, Any]]:
        """All matching entries with ranged attributes completed: [{'dn': ..., 'raw': {lower attr: [bytes]}}]."""
        out = []
        for entry in self._search(conn, base, flt, attrs, **kw):
            out.append({"dn": entry["dn"], "raw": self._complete_ranges(conn, entry)})
        self.stats["entries"] += len(out)
        return out

    def _complete_ranges(self, conn: Any, entry: dict[str, Any]) -> dict[str, list[bytes]]:
        raw: dict[str, list[bytes]] = {}
        for name, values in entry["raw_attributes"].items():
            attr, _, rng = name.partition(";range=")
            key = attr.lower()
            raw.setdefault(key, []).extend(values)
            high = rng.partition("-")[2]
            while rng and high != "*":
                start = int(high) + 1
                wanted = f"{attr};range={start}-{start + self.s.range_size - 1}"
                found = list(self._search(conn, entry["dn"], "(objectClass=*)", [wanted], scope="BASE",
                                          paged=False))
                more = found[0]["raw_attributes"] if found else {}
                names = [n for n in more if n.lower().startswith(f"{key};range=")]
                if not names:
                    break
                raw[key].extend(more[names[0]])
                high = names[0].partition(";range=")[2].partition("-")[2]
        return raw

    def _root(self, conn: Any) -> dict[str, list[str]]:
        attrs = ["defaultNamingContext", "namingContexts", "schemaNamingContext", "dsServiceName",
                 "highestCommittedUSN", "subschemaSubentry"]
        found = list(self._search(conn, "", "(objectClass=*)", attrs, scope="BASE", paged=False))
        raw = found[0]["raw_attributes"] if found else {}
        return {k.lower(): [v.decode("utf-8", "replace") for v in vals] for k, vals in raw.items()}

    # --- reading ------------------------------------------------------------------------------------------
    def _read_attrs(self) -> list[str]:
        ranged = {a.lower() for a in self.s.range_attributes}
        attrs = [f"{a};range=0-{self.s.range_size - 1}" if a.lower() in ranged else a for a in self.attributes]
        extra = [self.anchor_attr, self.marker_attr]
        if self.s.flavor == "active_directory":
            extra.append("userAccountControl")
        elif self.s.disable_attribute:
            extra.append(self.s.disable_attribute)
        return attrs + extra

    def read(self, cursor: str | None = None, *, full: bool = False) -> ReadResult:
        """One poll: one connection, closed at the end. Any failure is a ReadFailed (nothing is concluded)."""
        paused = gc.isenabled()
        gc.disable()  # tens of thousands of acyclic dicts: the cyclic collector would rescan them ~2x the read
        try:
            return super().read(cursor, full=full)
        except ReadFailed:
            raise
        except PeoplesyncError as exc:
            raise ReadFailed(str(exc)) from None
        finally:
            if paused:
                gc.enable()
            self.close()

    def read_keys(self, keys: list[str]) -> ReadResult | None:
        """Re-read these accounts now (one base search each); one no longer in base_dn is reported removed."""

        def run(conn: Any) -> ReadResult:
            observations = []
            for key in keys:
                try:
                    entry = self._locate(conn, key, self._read_attrs())
                except _NotFound:
                    observations.append(Observation(self.name, key, {}, active=False, removed=True))
                    continue
                obs = self._observe(entry)
                if obs is not None:
                    observations.append(obs)
            return ReadResult(observations)

        try:
            return self._retrying(run)
        except PeoplesyncError as exc:
            raise ReadFailed(str(exc)) from None
        finally:
            self.close()

    def _scope_id(self) -> str:
        u = urlparse(self.s.url)
        text = json.dumps([u.hostname, self.s.flavor, dn_key(self.s.base_dn), self.s.filter,
                           sorted(a.lower() for a in self.attributes), self.s.disable_attribute])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _read_full(self) -> ReadResult:
        def run(conn: Any) -> ReadResult:
            mark = self._mark_before(conn)
            entries = self._entries(conn, self.s.base_dn, self.s.filter, self._read_attrs())
            observations = [o for o in map(self._observe, entries) if o is not None]
            cursor = self._cursor_after(mark, observations, full_at=self.clock())
            return ReadResult(observations, cursor=cursor, complete=True)

        return self._retrying(run)

    def _read_delta(self, cursor: str) -> ReadResult:
        data = decode_cursor(cursor)
        if data is None or data.get("scope") != self._scope_id() or data.get("mode") != self.s.flavored("delta"):
            log.info("%s: cursor unreadable or from another configuration: full read", self.name)
            return self._read_full()
        if self.clock() - float(data.get("full_at", 0)) >= self.s.full_read_seconds:
            log.info("%s: periodic full read (full_read_every=%s)", self.name, self.s.full_read_every)
            return self._read_full()

        def run(conn: Any) -> ReadResult | None:
            mark = self._mark_before(conn)
            if data["mode"] == "usn":
                if mark.get("inv") != data.get("inv") or int(mark["usn"]) < int(data["usn"]):
                    log.warning("%s: the domain controller's database is not the one the cursor came from "
                                "(another DC, or restored from backup): full read", self.name)
                    return None
                flt = f"(&{self.s.filter}(uSNChanged>={int(data['usn']) + 1}))"
            elif data["mode"] == "csn" and data.get("exact"):
                # contextCSN only passes a CSN once every earlier one is committed: strictly above it is exact
                since = _esc(str(data["csn"]))
                flt = f"(&{self.s.filter}(entryCSN>={since})(!(entryCSN={since})))"
            elif data["mode"] == "csn":
                since = _csn_minus(str(data["csn"]), OVERLAP)
                flt = f"(&{self.s.filter}(entryCSN>={_esc(since)}))"
            else:
                since = _stamp_minus(str(data["ts"]), OVERLAP)
                flt = f"(&{self.s.filter}(modifyTimestamp>={_esc(since)}))"
            entries = self._entries(conn, self.s.base_dn, flt, self._read_attrs())
            observations = [o for o in map(self._observe, entries) if o is not None]
            if data["mode"] == "usn":
                observations += self._tombstones(conn, int(data["usn"]) + 1)
            merged = {**data, **{k: v for k, v in mark.items() if v is not None}}
            return ReadResult(observations, cursor=self._cursor_after(merged, observations,
                                                                      full_at=float(data["full_at"])))

        result = self._retrying(run)
        return result if result is not None else self._read_full()

    def _mark_before(self, conn: Any) -> dict[str, Any]:
        """The high-water mark taken before searching: everything committed up to it is in this read."""
        mode = self.s.flavored("delta")
        if mode == "usn":
            root = self._root(conn)
            service = (root.get("dsservicename") or [""])[0]
            found = list(self._search(conn, service, "(objectClass=*)", ["invocationId"], scope="BASE",
                                      paged=False)) if service else []
            raw = found[0]["raw_attributes"].get("invocationId") if found else None
            if not raw or not root.get("highestcommittedusn"):
                raise ReadFailed(f"{self.name}: the server does not look like Active Directory "
                                 f"(no invocationId / highestCommittedUSN); check flavor")
            self._rootdse = root
            return {"mode": "usn", "usn": int(root["highestcommittedusn"][0]), "inv": guid_string(raw[0])}
        if mode == "csn":
            contexts = self._root(conn).get("namingcontexts", [])
            suffix = next((c for c in contexts if c and dn_within(self.s.base_dn, c)), None)
            csn = None
            if suffix:
                found = list(self._search(conn, suffix, "(objectClass=*)", ["contextCSN"], scope="BASE",
                                          paged=False))
                values = found[0]["raw_attributes"].get("contextCSN", []) if found else []
                csn = max((v.decode() for v in values), default=None)
            return {"mode": "csn", "csn": csn, "exact": csn is not None}
        return {"mode": "timestamp", "ts": None}

    def _cursor_after(self, mark: dict[str, Any], observations: list[Observation], *, full_at: float) -> str:
        data = {**mark, "scope": self._scope_id(), "full_at": full_at}
        if data["mode"] == "csn" and not mark.get("csn"):  # no syncprov contextCSN: the newest entryCSN seen
            data["csn"] = max([str(o.marker) for o in observations if o.marker] + [str(mark.get("csn") or "")])
        if data["mode"] == "timestamp":
            data["ts"] = max([str(o.marker) for o in observations if o.marker] + [str(mark.get("ts") or "")])
        return encode_cursor(data)

    def _tombstones(self, conn: Any, since_usn: int) -> list[Observation]:
        """AD removals: tombstones in Deleted Objects changed since the mark, whose last parent was in scope."""
        from ldap3.protocol.microsoft import show_deleted_control

        root = self._rootdse or self._root(conn)
        domain = (root.get("defaultnamingcontext") or [""])[0]
        flt = f"(&(objectClass=user)(isDeleted=TRUE)(uSNChanged>={since_usn}))"
        gone = []
        for e in self._entries(conn, f"CN=Deleted Objects,{domain}", flt,
                               ["objectGUID", "uSNChanged", "lastKnownParent"],
                               controls=[show_deleted_control(criticality=True)], allow_missing_base=True):
            raw = e["raw"]
            parent = (raw.get("lastknownparent") or [b""])[0].decode("utf-8", "replace")
            if not raw.get("objectguid") or not parent or not dn_within(parent, self.s.base_dn):
                continue
            gone.append(Observation(self.name, guid_string(raw["objectguid"][0]), {}, active=False, removed=True,
                                    marker=int(raw["usnchanged"][0]) if raw.get("usnchanged") else None))
        return gone

    def _observe(self, entry: dict[str, Any]) -> Observation | None:
        raw = entry["raw"]
        anchor_values = raw.get(self.anchor_attr.lower())
        if not anchor_values:
            log.warning("%s: entry without %s skipped: %s", self.name, self.anchor_attr, entry["dn"])
            return None
        attrs: dict[str, Any] = {}
        for attr in self.attributes:
            values = [_text(attr, v) for v in raw.get(attr.lower(), [])]
            attrs[attr] = None if not values else values[0] if len(values) == 1 else tuple(values)
        marker_raw = raw.get(self.marker_attr.lower())
        marker: Any = marker_raw[0].decode() if marker_raw else None
        if self.s.flavor == "active_directory" and marker is not None:
            marker = int(marker)
        return Observation(self.name, _text(self.anchor_attr, anchor_values[0]), attrs,
                           active=self._active(raw), marker=marker, ref=entry["dn"])

    def _active(self, raw: dict[str, list[bytes]]) -> bool:
        if self.s.flavor == "active_directory":
            uac = raw.get("useraccountcontrol")
            return not (int(uac[0]) & ACCOUNTDISABLE) if uac else True
        if self.s.disable_attribute:
            values = [v.decode("utf-8", "replace").lower() for v in raw.get(self.s.disable_attribute.lower(), [])]
            return self.s.disabled_value.lower() not in values
        return True

    # --- writing ------------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        if change.op == CREATE:
            return self._retrying(lambda conn: self._create(conn, change))
        if not change.key:
            raise PermanentError(f"{self.name}: {change.op} needs the account's key")
        return self._retrying(lambda conn: self._change(conn, change))

    def _locate(self, conn: Any, key: str, attrs: list[str]) -> dict[str, Any]:
        if self.s.flavor == "active_directory":
            try:
                guid = str(uuid.UUID(key))
            except ValueError:
                raise PermanentError(f"{self.name}: {key!r} is not an objectGUID") from None
            found = self._entries(conn, f"<GUID={guid}>", "(objectClass=*)", attrs, scope="BASE", paged=False,
                                  allow_missing_base=True)
        else:
            found = self._entries(conn, self.s.base_dn, f"({self.anchor_attr}={_esc(key)})", attrs, paged=False)
        if not found:
            raise _NotFound(f"{self.name}: no account with {self.anchor_attr} {key}")
        entry = found[0]
        if not dn_within(entry["dn"], self.s.base_dn):
            raise _NotFound(f"{self.name}: account {key} is at {entry['dn']!r}, outside base_dn; not touched")
        return entry

    def _change(self, conn: Any, change: Write) -> WriteResult:
        from ldap3 import MODIFY_REPLACE

        wanted = list(change.attrs)
        if change.op in (DEACTIVATE, ACTIVATE):
            wanted.append("userAccountControl" if self.s.flavor == "active_directory"
                          else self._disable_attr_or_fail())
        entry = self._locate(conn, change.key or "", wanted)
        if change.op == DELETE:
            self._check(conn, conn.delete(entry["dn"]), f"delete {entry['dn']!r}")
            return WriteResult(key=change.key, ref=entry["dn"])
        if change.op not in (UPDATE, DEACTIVATE, ACTIVATE):
            raise PermanentError(f"{self.name}: unknown operation {change.op!r}")
        mods = self._differences(entry["raw"], change.attrs)
        if change.op in (DEACTIVATE, ACTIVATE):
            mods.update(self._state_change(entry["raw"], change.op == ACTIVATE))
        if mods:
            self._check_limits(conn, {a: v for a, (_, v) in mods.items()})
            self.stats["modifies"] += 1
            ok = conn.modify(entry["dn"], {a: [(MODIFY_REPLACE, v)] for a, (_, v) in mods.items()})
            self._check(conn, ok, f"modify {entry['dn']!r}")
        return WriteResult(key=change.key, ref=entry["dn"])

    def _differences(self, raw: dict[str, list[bytes]], attrs: dict[str, Any]) -> dict[str, tuple[str, Any]]:
        mods: dict[str, tuple[str, Any]] = {}
        for attr, value in attrs.items():
            want = _values_of(value)
            have = [_text(attr, v) for v in raw.get(attr.lower(), [])]
            if sorted(want) == sorted(have):  # the order of values carries no meaning in LDAP
                continue
            mods[attr] = ("replace", [self._encode(attr, v) for v in want])
        return mods

    def _encode(self, attr: str, value: str) -> Any:
        if attr.lower() in BINARY_ATTRIBUTES:
            return base64.b64decode(value)
        return value

    def _disable_attr_or_fail(self) -> str:
        if not self.s.disable_attribute:
            raise PermanentError(f"{self.name}: cannot deactivate or activate: set disable_attribute for this "
                                 f"{self.s.flavor} directory")
        return self.s.disable_attribute

    def _state_change(self, raw: dict[str, list[bytes]], activate: bool) -> dict[str, tuple[str, Any]]:
        if self.s.flavor == "active_directory":
            current = int((raw.get("useraccountcontrol") or [b"512"])[0])
            new = current & ~ACCOUNTDISABLE if activate else current | ACCOUNTDISABLE
            return {} if new == current else {"userAccountControl": ("replace", [str(new)])}
        attr = self._disable_attr_or_fail()
        have = [v.decode("utf-8", "replace") for v in raw.get(attr.lower(), [])]
        if activate:
            want = [self.s.enabled_value] if self.s.enabled_value is not None else []
        else:
            want = [self.s.disabled_value]
        return {} if sorted(have) == sorted(want) else {attr: ("replace", want)}

    def _create(self, conn: Any, change: Write) -> WriteResult:
        from ldap3.utils.dn import escape_rdn

        if not self.s.create_container:
            raise PermanentError(f"{self.name}: creating accounts needs create_container in the configuration")
        lower = {a.lower(): a for a in change.attrs}
        name = None
        for candidate in [self.s.rdn_attribute, *self.s.rdn_from]:
            values = _values_of(change.attrs.get(lower.get(candidate.lower(), ""), None))
            if values:
                name = values[0]
                break
        if name is None:
            raise PermanentError(f"{self.name}: cannot name the new account: none of {self.s.rdn_from} has a value")
        attrs: dict[str, Any] = {a: [self._encode(a, v) for v in _values_of(val)] for a, val in change.attrs.items()}
        attrs = {a: v for a, v in attrs.items() if v}
        if self.s.flavor == "active_directory":
            # created disabled: the bridge sets no password, and AD must not enable a password-less account
            attrs["userAccountControl"] = [str(NORMAL_ACCOUNT | ACCOUNTDISABLE)]
        elif "sn" not in {a.lower() for a in attrs} and "person" in [c.lower() for c in self._classes()]:
            attrs["sn"] = [name]  # person requires a surname
        self._check_limits(conn, attrs)
        for n in range(1, 6):
            label = name if n == 1 else f"{name} ({n})"
            dn = f"{self.s.rdn_attribute}={escape_rdn(label)},{self.s.create_container}"
            entry_attrs = {**{a: v for a, v in attrs.items() if a.lower() != self.s.rdn_attribute.lower()},
                           self.s.rdn_attribute: [label]}
            self.stats["modifies"] += 1
            if conn.add(dn, self._classes(), entry_attrs):
                break
            if (conn.result or {}).get("result") != 68:  # entryAlreadyExists: another person, same name
                self._check(conn, False, f"create {dn!r}")
        else:
            raise PermanentError(f"{self.name}: could not find a free name for {name!r} in the container")
        found = self._entries(conn, dn, "(objectClass=*)", [self.anchor_attr], scope="BASE", paged=False)
        key = _text(self.anchor_attr, found[0]["raw"][self.anchor_attr.lower()][0])
        return WriteResult(key=key, ref=found[0]["dn"])

    def _classes(self) -> list[str]:
        return list(self.s.object_classes or self.s.flavored("classes"))

    def _check(self, conn: Any, ok: bool, what: str) -> None:
        if ok:
            return
        result = conn.result or {}
        code = result.get("result")
        if code is None:
            raise _Dropped(what)
        message = f"{self.name}: {what} failed: {result.get('description')} {result.get('message', '')}".strip()
        if code in _TRANSIENT_CODES:
            raise TransientError(message)
        raise PermanentError(message)

    def _check_limits(self, conn: Any, attrs: dict[str, Any]) -> None:
        """AD refuses values longer than the schema's rangeUpper; say which attribute and why, before sending."""
        if self.s.flavor != "active_directory":
            return
        if self._limits is None:
            self._limits = self._read_limits(conn)
        for attr, values in attrs.items():
            limit = self._limits.get(attr.lower())
            for v in values if isinstance(values, list) else [values]:
                if limit is not None and isinstance(v, str) and len(v) > limit:
                    raise PermanentError(f"{self.name}: {attr} is {len(v)} characters; the directory allows "
                                         f"{limit}")

    def _read_limits(self, conn: Any) -> dict[str, int]:
        root = self._rootdse or self._root(conn)
        schema = (root.get("schemanamingcontext") or [""])[0]
        names = {a.lower() for a in self.attributes}
        if not schema or not names:
            return {}
        flt = "(|" + "".join(f"(lDAPDisplayName={_esc(a)})" for a in sorted(names)) + ")"
        limits = {}
        for e in self._entries(conn, schema, flt, ["lDAPDisplayName", "rangeUpper", "attributeSyntax"],
                               scope="SUBTREE"):
            raw = e["raw"]
            syntax = (raw.get("attributesyntax") or [b""])[0].decode()
            if raw.get("rangeupper") and syntax in _AD_STRING_SYNTAXES:
                limits[raw["ldapdisplayname"][0].decode().lower()] = int(raw["rangeupper"][0])
        return limits


def _esc(value: str) -> str:
    from ldap3.utils.conv import escape_filter_chars

    return str(escape_filter_chars(value))


def _quiet_unbind(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to do about it
        conn.unbind()


def _secret_name(ref: str) -> str:
    return ref[len("secret:"):] if ref.startswith("secret:") else ref


def build(name: str, system_config: Any, attributes: list[str], secrets: SecretsPort | None = None,
          **kw: Any) -> LdapConnector:
    """Build the connector from a `SystemConfig` (or a plain dict of the system's keys)."""
    if isinstance(system_config, dict):
        common = {"connector", "schedule", "writable", "provision", "credentials", "reference"}
        raw = {k: v for k, v in system_config.items() if k not in common}
        writable, credentials = system_config.get("writable"), system_config.get("credentials")
    else:
        raw = system_config.settings
        writable, credentials = system_config.writable, system_config.credentials
    settings = Settings.model_validate(raw)
    bind_dn = password = None
    if credentials:
        if secrets is None:
            raise ValueError(f"system {name!r} names credentials but no secrets store was given")
        secret = secrets.get(_secret_name(credentials))
        bind_dn, password = secret.get("bind_dn"), secret.get("password")
        if not bind_dn or not password:
            raise ValueError(f"system {name!r}: the credentials secret needs bind_dn and password")
    return LdapConnector(name, settings, attributes, writable=True if writable is None else writable,
                         bind_dn=bind_dn, password=password, secrets=secrets, **kw)


__all__ = ["LdapConnector", "Settings", "build", "dn_key", "dn_within", "guid_string"]
