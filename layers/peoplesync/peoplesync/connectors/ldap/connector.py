"""The LDAP connector: connection, reads and writes; every difference between directories is the flavour's."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from ...model import ACTIVATE, CREATE, DEACTIVATE, DELETE, GROUP, PERSON, UPDATE, Observation, Write
from ...ports import (
    Capabilities,
    PeoplesyncError,
    PermanentError,
    ReadPage,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)
from ..base import BaseConnector, Harvest, Retry, RetryPolicy
from ..checked_settings import settings_model
from . import pages
from .dn import dn_key, dn_within, encode, esc, new_name, rdn, text, values_of
from .flavors import Generic, Mods, flavor_of
from .groups import Groups
from .props import LdapSettingsProps
from .search import Directory, Dropped, Entry, NotFound

if TYPE_CHECKING:
    from ..ratelimit import BucketStore
    from .settings import Settings as LdapSettings

log = logging.getLogger("peoplesync.ldap")


class LdapConnector(BaseConnector):
    """Accounts of one directory subtree. Built by `LdapConnector.from_system(...)`; the credentials secret
    holds `bind_dn` and `password` (none: an anonymous bind)."""

    Settings = settings_model("peoplesync.connectors.ldap.settings:Settings")  # pydantic, imported when first read
    settings_props = LdapSettingsProps
    cursor_version: ClassVar[int] = 2  # 1 was the "ldap1:" cursor before the shared codec
    credential_keys: ClassVar[tuple[str, ...]] = ("bind_dn", "password")
    default_reference = "dn"

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        """AD records an account's state in userAccountControl; another server only in `disable_attribute`."""
        able = settings.get("flavor") == "active_directory" or bool(settings.get("disable_attribute"))
        return Capabilities(deactivate=able, why={"deactivate": "set disable_attribute and disabled_value"})

    def __init__(self, name: str, settings: LdapSettings | Mapping[str, Any], attributes: Iterable[str], *,
                 writable: bool = True, credentials: Mapping[str, Any] | None = None,
                 secrets: SecretsPort | None = None, buckets: BucketStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, settings, attributes, writable=writable, credentials=credentials, secrets=secrets,
                         buckets=buckets)
        self.s: LdapSettings = self.settings
        self.flavor: Generic = flavor_of(self.s.flavor)(self.s, name)
        self._bind_dn: str | None = (credentials or {}).get("bind_dn")
        self._password: str | None = (credentials or {}).get("password")  # kept here only; never logged
        self.retry = RetryPolicy.with_retries(self.s.retries, base=0.2, cap=2.0)
        self.clock = clock
        self._conn: Any = None
        self.anchor_attr: str = self.flavor.anchor
        self.marker_attr: str = self.flavor.marker
        self.groups = Groups(self, self.s.groups)
        clash = [a for a in self.attributes if a.lower() in self.flavor.managed()]
        if clash:
            raise ValueError(f"system {name!r}: {clash} are managed by the ldap connector and cannot be mapped")
        # what the last operations cost, for tests and benchmarks
        self.stats: dict[str, int] = {"entries": 0, "searches": 0, "modifies": 0, "binds": 0, "referrals": 0}
        if self.s.insecure_skip_tls_verify_for_tests_only:
            log.warning("system %s: TLS CERTIFICATE VERIFICATION IS OFF (insecure_skip_tls_verify_for_tests_only)."
                        " Never use this outside tests.", name)

    def __repr__(self) -> str:
        return f"LdapConnector({self.name!r}, url={self.s.url!r}, base_dn={self.s.base_dn!r})"

    # --- connection ---------------------------------------------------------------------------------------
    def _open(self) -> Any:
        """A new bound connection: TLS verified (unless the test switch says so), referrals never followed,
        and the password dropped from the ldap3 object right after the bind."""
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
        # ldap3 packs the receive timeout as whole seconds (SO_RCVTIMEO) and fails on a float, which `timeout` is
        conn = Connection(server, user=self._bind_dn, password=self._password, client_strategy=SYNC,
                          auto_referrals=False, auto_range=False, return_empty_attributes=False, raise_exceptions=False,
                          receive_timeout=math.ceil(self.s.timeout), read_only=not self.writable)
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

    def _directory(self) -> Directory:
        if self._conn is None or self._conn.closed:
            self._conn = self._open()
        return Directory(self._conn, self.name, self.s.page_size, self.s.range_size, self.stats)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _quiet_unbind(conn)

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _transient(self, what: str, exc: Exception) -> TransientError:
        return TransientError(f"{self.name}: {what}: {type(exc).__name__}: {self._scrub(str(exc))}")

    def _retrying(self, op: Callable[[Directory], Any]) -> Any:
        """Run op(directory); if the connection dropped or the server was busy, reconnect and run it again
        (every op is idempotent), as the retry policy says (`retries` settings; 0.2 s doubling up to 2 s)."""
        return self.retry.run(lambda: op(self._directory()), retryable=self._retryable, on_retry=self._reconnect,
                              give_up=self._give_up)

    def _retryable(self, exc: Exception) -> Retry | None:
        from ldap3.core.exceptions import LDAPCommunicationError, LDAPResponseTimeoutError

        if isinstance(exc, LDAPCommunicationError | LDAPResponseTimeoutError | Dropped | OSError | TransientError):
            return Retry()
        return None

    def _reconnect(self, exc: Exception, attempt: int, delay: float) -> None:
        if not isinstance(exc, TransientError):
            log.warning("%s: connection lost (%s); reconnecting (attempt %d of %d)", self.name,
                        type(exc).__name__, attempt, self.retry.attempts)
        self.close()

    def _give_up(self, exc: Exception, attempts: int, verdict: Retry) -> Exception:
        self.close()
        if isinstance(exc, TransientError):
            return exc
        return self._transient("connection lost and could not be restored", exc)

    def _translate(self, exc: Exception) -> PeoplesyncError | None:
        """ldap3's own errors: a lost connection is transient, any other a refusal (messages scrubbed)."""
        from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError

        if isinstance(exc, LDAPCommunicationError | LDAPResponseTimeoutError | Dropped | OSError):
            return self._transient("connection lost", exc)
        if isinstance(exc, LDAPException):
            return PermanentError(f"{self.name}: {type(exc).__name__}: {self._scrub(str(exc))}")
        return None

    # --- reading ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        """One poll: one connection, closed at the end."""
        paused = gc.isenabled()
        gc.disable()  # tens of thousands of acyclic dicts: the cyclic collector would rescan them ~2x the read
        try:
            yield
        finally:
            if paused:
                gc.enable()
            self.close()

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """A full read in pages by key ranges, resumable on another connection (`pages.py`)."""
        if page_size is None:
            return super().read_pages(cursor, full=full, start=start)
        return pages.read_pages(self, cursor, full, page_size, start)

    def read_keys(self, keys: list[str]) -> ReadResult | None:
        """Re-read these accounts now (one base search each); one no longer in base_dn is reported removed."""

        def run(d: Directory) -> ReadResult:
            observations = []
            for key in keys:
                try:
                    entry = self._locate(d, key, self._read_attrs())
                except NotFound:
                    observations.append(Observation(self.name, key, {}, active=False, removed=True))
                    continue
                obs = self._observe(entry)
                if obs is not None:
                    observations.append(obs)
            return ReadResult(observations)

        with self._session():
            result: ReadResult = self._guarded(lambda: self._retrying(run))
            return result

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one account under base_dn (within the account filter) whose attributes equal these values;
        values are escaped into the filter."""
        if not match:
            return None
        terms = "".join(f"({attr}={esc(str(value))})" for attr, value in match.items())

        def run(d: Directory) -> Observation | None:
            entries = d.entries(self.s.base_dn, f"(&{self.s.filter}{terms})", self._read_attrs())
            return self._observe(entries[0]) if len(entries) == 1 else None

        with self._session():
            result: Observation | None = self._guarded(lambda: self._retrying(run))
            return result

    def _scope(self) -> str:
        """What a read covers: server, flavour, subtree, filter, attributes, disable attribute."""
        return json.dumps([urlparse(self.s.url).hostname, self.s.flavor, dn_key(self.s.base_dn), self.s.filter,
                           sorted(a.lower() for a in self.attributes), self.s.disable_attribute, self.groups.scope()])

    def _read_attrs(self) -> list[str]:
        ranged = {a.lower() for a in self.s.range_attributes}
        attrs = [f"{a};range=0-{self.s.range_size - 1}" if a.lower() in ranged else a for a in self.attributes]
        return attrs + self.flavor.extra_attributes() + (["objectClass"] if self.groups.enabled else [])

    def _read_full(self) -> ReadResult:
        delta = self.flavor.delta

        def run(d: Directory) -> Harvest:
            mark = delta.mark(d, self.s.base_dn)
            observations = self._observe_all(d.entries(self.s.base_dn, self.s.filter, self._read_attrs()))
            observations += self.groups.read(d)  # after the people: the members they name are linked by then
            state = {**delta.advance(mark, observations), "full_at": self.clock()}
            return Harvest(observations, complete=True, state=state)

        return self._retrying(run)

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
        """The changes since the cursor's state; None (then a full read) when it cannot go on from it."""
        delta = self.flavor.delta
        if not delta.readable(state):
            log.info("%s: cursor unreadable or from another configuration: full read", self.name)
            return None
        if self.clock() - float(state["full_at"]) >= self.s.full_read_seconds:
            log.info("%s: periodic full read (full_read_every=%s)", self.name, self.s.full_read_every)
            return None

        def run(d: Directory) -> Harvest | None:
            mark = delta.mark(d, self.s.base_dn)
            reason = delta.unusable(mark, state)
            if reason:
                log.warning("%s: %s: full read", self.name, reason)
                return None
            entries = d.entries(self.s.base_dn, delta.changed(self.s.filter, state), self._read_attrs())
            observations = self._observe_all(entries) + self.flavor.removals(d, state)
            observations += self.groups.read(d, delta.changed(self.groups.filter, state))
            merged = {**state, **{k: v for k, v in mark.items() if v is not None}}
            after = {**delta.advance(merged, observations), "full_at": float(state["full_at"])}
            return Harvest(observations, state=after)

        result: Harvest | None = self._retrying(run)
        return result

    def _observe_all(self, entries: list[Entry]) -> list[Observation]:
        return [o for o in map(self._observe, entries) if o is not None]

    def _observe(self, entry: Entry, kind: str | None = None) -> Observation | None:
        raw = entry["raw"]
        anchor_values = raw.get(self.anchor_attr.lower())
        if not anchor_values:
            log.warning("%s: entry without %s skipped: %s", self.name, self.anchor_attr, entry["dn"])
            return None
        attrs: dict[str, Any] = {}
        for attr in self.attributes:
            values = [text(attr, v) for v in raw.get(attr.lower(), [])]
            attrs[attr] = None if not values else values[0] if len(values) == 1 else tuple(values)
        marker_raw = raw.get(self.marker_attr.lower())
        marker = self.flavor.marker_value(marker_raw[0]) if marker_raw else None
        return Observation(self.name, text(self.anchor_attr, anchor_values[0]), attrs,
                           active=self.flavor.active(raw), marker=marker, ref=entry["dn"],
                           kind=kind or (self.groups.kind_of(raw) if self.groups.enabled else PERSON))

    # --- writing ------------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        if change.kind == GROUP:  # member adds and removes, a group created: groups.py
            return self._retrying(lambda d: self.groups.write(d, change))
        if change.op == CREATE:
            return self._retrying(lambda d: self._create(d, change))
        if not change.key:
            raise PermanentError(f"{self.name}: {change.op} needs the account's key")
        return self._retrying(lambda d: self._change(d, change))

    def _locate(self, d: Directory, key: str, attrs: list[str]) -> Entry:
        found = self.groups.locate(d, key, attrs)  # (the flavour's look-up, and the groups' base)
        if not found:
            raise NotFound(f"{self.name}: no account with {self.anchor_attr} {key}")
        entry = found[0]
        if not dn_within(entry["dn"], self.s.base_dn) and not self.groups.within(entry["dn"]):
            raise NotFound(f"{self.name}: account {key} is at {entry['dn']!r}, outside base_dn; not touched")
        return entry

    def _change(self, d: Directory, change: Write) -> WriteResult:
        from ldap3 import MODIFY_REPLACE

        switching = change.op in (DEACTIVATE, ACTIVATE)
        wanted = [*change.attrs, self.marker_attr, *([self.flavor.switch_attribute()] if switching else [])]
        entry = self._locate(d, change.key or "", wanted)
        if change.op == DELETE:
            d.check(d.conn.delete(entry["dn"]), f"delete {entry['dn']!r}")
            return WriteResult(key=change.key, ref=entry["dn"])
        if change.op not in (UPDATE, DEACTIVATE, ACTIVATE):
            raise PermanentError(f"{self.name}: unknown operation {change.op!r}")
        mods = self._differences(entry["raw"], change.attrs)
        if switching:
            mods.update(self.flavor.switch(entry["raw"], change.op == ACTIVATE))
        if mods:
            self.flavor.check_limits(d, {a: v for a, (_, v) in mods.items()}, self.attributes)
            self.stats["modifies"] += 1
            ok = d.conn.modify(entry["dn"], {a: [(MODIFY_REPLACE, v)] for a, (_, v) in mods.items()})
            d.check(ok, f"modify {entry['dn']!r}")
            return WriteResult(key=change.key, ref=entry["dn"], marker=self._marker_now(d, entry["dn"]))
        return WriteResult(key=change.key, ref=entry["dn"], marker=self._marker(entry["raw"]))

    def _marker(self, raw: Mapping[str, list[bytes]]) -> Any:
        """The change marker of an entry's raw attributes, as `_observe` gives it (None: not there)."""
        values = {k.lower(): v for k, v in raw.items()}.get(self.marker_attr.lower())
        return self.flavor.marker_value(values[0]) if values else None

    def _marker_now(self, d: Directory, dn: str) -> Any:
        """The entry's marker right after our write: one base-scope read of that one attribute on the same
        connection (the server that took the write). A read taken before the write then compares older.
        Refused (the write succeeded, the read did not): None, the marker is simply not recorded; a dropped
        connection goes to the retry, whose re-run finds nothing left to write and takes the marker then."""
        try:
            return self._marker(d.one(dn, [self.marker_attr]))
        except PeoplesyncError:
            log.info("%s: %s written, its %s not readable after it", self.name, dn, self.marker_attr)
            return None

    def _differences(self, raw: dict[str, list[bytes]], attrs: dict[str, Any]) -> Mods:
        mods: Mods = {}
        for attr, value in attrs.items():
            want = values_of(value)
            have = [text(attr, v) for v in raw.get(attr.lower(), [])]
            if sorted(want) == sorted(have):  # the order of values carries no meaning in LDAP
                continue
            mods[attr] = ("replace", [encode(attr, v) for v in want])
        return mods

    def _create(self, d: Directory, change: Write) -> WriteResult:
        if not self.s.create_container:
            raise PermanentError(f"{self.name}: creating accounts needs create_container in the configuration")
        name = self._new_name(change.attrs)
        attrs = {a: [encode(a, v) for v in values_of(val)] for a, val in change.attrs.items()}
        attrs = {a: v for a, v in attrs.items() if v}
        self.flavor.complete_new(attrs, name)
        self.flavor.check_limits(d, attrs, self.attributes)
        naming = self.s.rdn_attribute
        for n in range(1, 6):
            label = name if n == 1 else f"{name} ({n})"
            dn = f"{rdn(naming, label)},{self.s.create_container}"
            entry_attrs = {**{a: v for a, v in attrs.items() if a.lower() != naming.lower()}, naming: [label]}
            self.stats["modifies"] += 1
            if d.conn.add(dn, self.flavor.object_classes(), entry_attrs):
                break
            if (d.conn.result or {}).get("result") != 68:  # entryAlreadyExists: another person, same name
                d.check(False, f"create {dn!r}")
        else:
            raise PermanentError(f"{self.name}: could not find a free name for {name!r} in the container")
        found = d.entries(dn, "(objectClass=*)", [self.anchor_attr, self.marker_attr], scope="BASE", paged=False)
        key = text(self.anchor_attr, found[0]["raw"][self.anchor_attr.lower()][0])
        return WriteResult(key=key, ref=found[0]["dn"], marker=self._marker(found[0]["raw"]))

    def _new_name(self, attrs: dict[str, Any]) -> str:
        """The value naming a new account: the first of rdn_attribute, then rdn_from, that has one."""
        return new_name(self.name, attrs, [self.s.rdn_attribute, *self.s.rdn_from])


def _quiet_unbind(conn: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to do about it
        conn.unbind()
