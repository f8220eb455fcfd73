"""The ports: what the engine and the services need from the outside world, and nothing more.

Adapters (DynamoDB, SQLite, SQS, Secrets Manager, LDAP, SQL, HTTP APIs) implement these. The engine itself
only ever sees `RecordIndex`; the services (poll, reconcile, deliver) see the rest.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from marshal import dumps as _marshal
from typing import Any, ClassVar, NamedTuple, Protocol

from .model import GROUP, Observation, RecordState, Write


# --- errors every adapter raises, so the services can decide: retry, re-decide or dead-letter -------------
class PeoplesyncError(Exception):
    """Base of every error peoplesync raises on purpose."""


class TransientError(PeoplesyncError):
    """The system is down, slow or rate-limiting: try again later. `retry_after` in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(PeoplesyncError):
    """The request can never succeed as it is (rejected value, missing account): dead-letter it with why."""


class AlreadyExists(PermanentError):
    """A create the target refused because the account exists already (a 409, "e-mail taken"): the flow
    looks it up by the record's match keys (`Connector.find_account`), links it and writes to it instead."""


class VersionConflict(PeoplesyncError):
    """The account changed under us (optimistic lock): re-read it and decide again, never overwrite."""


class ReadFailed(PeoplesyncError):
    """A read could not be completed; nothing may be concluded from it (SPEC 20)."""


# --- connectors ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class ReadResult:
    """One poll's harvest. `complete` means every account in scope was listed, so an account we know that
    is missing from it is gone; a delta read is never complete. `confirm`: a whole listing that reached its
    end but may have shifted under it (offset paging whose count check failed), so an account it did not list
    is gone only if re-reading it says so (as `ReadPage.confirm`). `cursor` is saved only after the
    observations are safely queued."""

    observations: list[Observation]
    cursor: str | None = None
    complete: bool = False
    confirm: bool = False


@dataclass(slots=True)
class ReadPage:
    """One page of a paged read (`read_pages`). `position`: where the read goes on after this page (None on
    the last); `last`: no page follows; `complete` (on the last page): the whole read listed every account in
    scope; `cursor` (on the last page): the delta cursor to save; `restarted`: the position given was not this
    source's any more (the file changed): the read began again from the top; `confirm` (on the last page of a
    read not known complete): the listing reached its end but may have shifted under it (offset paging across
    invocations), so an account it did not list is gone only if re-reading it says so (`read_keys`)."""

    observations: list[Observation]
    position: str | None = None
    last: bool = False
    complete: bool = False
    cursor: str | None = None
    restarted: bool = False
    confirm: bool = False

    @classmethod
    def whole(cls, result: ReadResult, *, restarted: bool = False) -> ReadPage:
        """A read made in one go (`Connector.read`) as the one page of its read."""
        return cls(list(result.observations), last=True, complete=result.complete, cursor=result.cursor,
                   restarted=restarted, confirm=result.confirm)


@dataclass(slots=True)
class WriteResult:
    """What a write left behind. For a create: the new account's key (and ref, e.g. its DN).
    `values` may carry the attributes as the system now holds them (normalisation by the target); `marker`
    the account's change marker after the write."""

    key: str | None = None
    ref: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    # the account's change marker after this write (the same kind `Observation.marker` carries), when the
    # target says: a read taken before the write is then recognised as older, never as an edit
    marker: int | float | str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a system can take, as its connector says from its settings alone (no connection is made): the
    plan leaves out a write the target cannot take (it would only be dead-lettered, every time), and `validate`
    warns where the configuration asks for one. `why` says, per capability missing, what would give it
    (e.g. {"deactivate": "set active_column"})."""

    write: bool = True  # any write at all (a SQL system reading a configured query cannot)
    create: bool = True  # accounts can be created here (`provision: true`)
    deactivate: bool = True  # deactivate / activate: somewhere to record an account's state
    delete: bool = True  # delete (`policies.removed: delete`)
    why: Mapping[str, str] = field(default_factory=dict)


#: a connector that only reads (an HR report, an IdP that pushes)
READ_ONLY = Capabilities(False, False, False, False, {"write": "this connector only reads"})


class Connector(ABC):
    """Template-method base for every connector.

    The base owns what every connector shares: the attribute list (only mapped attributes are read or
    written), choosing full vs delta reads, and refusing writes to a read-only system. Subclasses implement
    `_read_full`, optionally `_read_delta`, and `_apply`.
    """

    #: how other accounts refer to an account of this system by default ("key" or "dn")
    default_reference = "key"
    #: may the bridge write here when the system's configuration does not say (`writable:`)? The one rule:
    #: the plan (what `validate` and `plan` show) and the connector built for a run both take it from here
    writable_by_default: ClassVar[bool] = True

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        """What a system with these settings (the connector's own keys, as configured) can take. Default:
        everything. Read by the composition root for the plan and `validate`; never needs a connection."""
        return Capabilities()

    def __init__(self, name: str, settings: Any, attributes: Iterable[str], *, writable: bool = True,
                 secrets: SecretsPort | None = None) -> None:
        self.name = name
        self.settings = settings
        self.attributes = sorted(set(attributes))
        self.writable = writable
        self.secrets = secrets

    def read(self, cursor: str | None = None, *, full: bool = False) -> ReadResult:
        """Read changes since `cursor` (a delta), or everything when `full` or there is no cursor."""
        if full or cursor is None:
            return self._read_full()
        return self._read_delta(cursor)

    def write(self, change: Write) -> WriteResult:
        if not self.writable:
            raise PermanentError(f"system {self.name!r} is read-only; refusing {change.op}")
        unknown = (set(change.attrs) | set(change.delta)) - set(self.attributes)
        if unknown:
            raise PermanentError(f"system {self.name!r}: refusing to write unmapped attributes {sorted(unknown)}"
                                 + (" of a group (are groups configured there?)" if change.kind != "person" else ""))
        return self._apply(change)

    def write_batch(self, changes: list[Write]) -> list[WriteResult | PeoplesyncError]:
        """Apply several writes; each result (or the error that refused it) in its place. Connectors that
        can do better than one at a time (a transaction, one file rewrite) override this. An error that
        concerns the whole system (it is down) is raised rather than returned."""
        out: list[WriteResult | PeoplesyncError] = []
        for change in changes:
            try:
                out.append(self.write(change))
            except (PermanentError, VersionConflict) as exc:
                out.append(exc)
        return out

    def read_keys(self, keys: list[str]) -> ReadResult | None:
        """Re-read these accounts now (after a version conflict). None: this connector cannot; the next poll
        will see them."""
        return None

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one account whose attributes hold these values (the record's match keys in this system's
        attribute names), or None: none, several, or this connector cannot look accounts up. Makes a create
        that may already have landed (the function died after the target took it) safe to try again: the
        account found is linked instead of created twice."""
        return None

    def event_keys(self, event: Mapping[str, Any]) -> list[str]:
        """The accounts a vendor's change event (e.g. a Genesys audit event) says to read again; [] when it
        names none, or names only the bridge's own writes. The flow knows no vendor: this is where one is."""
        return []

    def close(self) -> None:
        """Release connections. Called once per poll / delivery batch."""

    @abstractmethod
    def _read_full(self) -> ReadResult: ...

    def _read_delta(self, cursor: Any) -> Any:  # BaseConnector's takes the decoded cursor state
        return self._read_full()

    @abstractmethod
    def _apply(self, change: Write) -> WriteResult: ...


# --- the engine's one port: lookups across records -------------------------------------------------------
class RecordIndex(Protocol):
    """Lookups the engine needs across records (correlation and references). Read-only."""

    def by_link(self, kind: str, system: str, key: str) -> str | None: ...

    def by_ref(self, kind: str, system: str, ref: str) -> str | None: ...

    def by_value(self, kind: str, field: str, value: Any) -> set[str]: ...

    def ref_of(self, record_id: str, system: str) -> str | None: ...

    def value_of(self, record_id: str, field: str) -> Any: ...


# --- the digest index: the poll's pre-screen without loading a record ------------------------------------
class LinkDigest(NamedTuple):
    """What a store's index holds for one linked account, so that a poll decides "no news" without loading
    or decoding the record (`StateStore.link_digests`; computed from the saved record by `digests_of`).
    A named tuple (immutable, compared by value), not a frozen dataclass: made for every link of every record
    saved and every account a poll screens, at half the cost (0.8 against 1.6 us).

    `read`: `read_digest` of the record's mapping and the last read's digest, or None when a re-read must be
    reconciled whatever it holds (the record owes a write: reconcile queues it again; no read yet).
    `settled`: `settled_digest` of the account as the record holds it (its normalised mapped values, key
    form, mapping), or None unless a re-read holding exactly those values would change nothing: the record
    owes nothing, the person and the account are active, no change marker is kept (our write read back, an
    "echo", is then no news even though the record's last-read digest was cleared by the write).
    `removed`: the record holds the account as gone (the vanished rule skips it)."""

    record: str
    read: str | None = None
    settled: str | None = None
    removed: bool = False


def read_digest(fingerprint: str, digest: str) -> str:
    """The index form of a read's digest under a mapping: a new mapping never matches an old read."""
    return hashlib.blake2b(f"{fingerprint}\x00{digest}".encode(), digest_size=16).hexdigest()


def settled_digest(fingerprint: str, ref: str | None, values: Mapping[str, Any]) -> str:
    """The index form of an account's normalised values (attr -> value, as the engine absorbs a read) with
    its ref, under a mapping. 128 bits: equal digests mean equal values (a collision is not a practical risk);
    unequal ones only cost a reconcile. Over marshal's version 0 bytes (half the cost of `repr`, the same bytes
    for equal values; `freshness.observation_digest` says why), `repr` for a value marshal cannot write. Digests
    stored by an earlier version (over `repr`) stop matching: an account read back changed then costs one
    reconcile, which decides as before."""
    what = (fingerprint, ref, sorted(values.items()))  # attributes are distinct: values never compared
    try:
        data = _marshal(what, 0)
    except ValueError:
        data = repr(what).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def owed_systems(state: RecordState) -> set[str]:
    """The targets a record owes a write: its outbox (attributes, a state change, an account to create). The
    engine's `writes_for(state, system)` is empty for every other system. Shared by the flow and the stores."""
    shadows = state.shadows
    owed = {system for system in state.create_pending if system not in shadows} if state.create_pending else set()
    for system, shadow in shadows.items():  # a loop, not a generator: asked at every save
        if shadow.pending or shadow.pending_state:
            owed.add(system)
    return owed


def digests_of(state: RecordState, owed: set[str] | None = None) -> dict[tuple[str, str, str], LinkDigest]:
    """Each link of a record (kind, system, key) with its index digests. Shared by every store. `owed`: the
    record's `owed_systems`, when the caller has them."""
    # what the record owes: a read of any of its accounts is then news
    owes = bool(owed_systems(state) if owed is None else owed)
    quiet = not owes and state.active and not state.removed and state.kind != GROUP
    out = {}
    for system, s in state.shadows.items():
        read = None if owes or s.digest is None else read_digest(state.fingerprint, s.digest)
        settled = settled_digest(state.fingerprint, s.ref, s.values) if (
            quiet and s.active is True and not s.removed and s.marker is None) else None
        out[(state.kind, system, s.key)] = LinkDigest(state.id, read, settled, s.removed)
    return out


# --- state, queues, secrets, configuration (services only) -----------------------------------------------
class StateStore(RecordIndex, Protocol):
    """Records, their secondary index, cursors, review items and the audit trail.

    `save` is conditional on `state.version` (the version it was loaded at); on success the stored version is
    version + 1 and `state.version` is updated. A lost race raises `VersionConflict`.
    """

    def load(self, record_id: str) -> RecordState | None: ...

    def load_many(self, record_ids: Iterable[str]) -> dict[str, RecordState]:
        """Several records at once (id -> state; missing ids absent), in as few calls as the store can."""
        ...

    def save(self, state: RecordState) -> None: ...

    def expect_links(self, links: Iterable[tuple[str, str, str]]) -> None:
        """A hint, inside a batch: these links (kind, system, key) are about to be looked up (`by_link`: the
        accounts of the batch's observations), so a store may read them in one go (SQLite) or ignore it."""
        ...

    def expect_records(self, record_ids: Iterable[str]) -> None:
        """A hint, inside a batch: these records are about to be loaded (or found absent: the records a batch's
        new accounts would make), so a store may read them in one go (SQLite) or ignore it."""
        ...

    def keep(self, state: RecordState) -> None:
        """`state` was just saved, or loaded and left exactly as loaded, and its caller is done with it (it will
        neither change it nor read it once the record may have been loaded again): a store that decodes what it
        loads may hand this very object to the next `load` of the record instead (SQLite, inside batches); the
        others keep nothing."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """A chunk of work (the local run's batch of messages): what is saved inside may be committed together
        when the block ends (SQLite: one transaction), and reads inside see it. An exception leaving the
        block may undo all of the block's writes (SQLite) or none (the memory and DynamoDB stores write each
        save at once): either way the caller treats the chunk as not done and hands it back to its queue,
        which is safe because reconciling again is."""
        ...

    def all_ids(self, kind: str) -> Iterator[str]: ...

    def count(self, kind: str) -> int:
        """How many records of `kind` there are (as many as `all_ids` lists), without listing them where the
        store can (the guard's population, asked at every sync and poll)."""
        ...

    def linked_ids(self, kind: str, system: str) -> Iterator[str]:
        """At least every record of `kind` holding an account in `system`, in id order (a store that cannot tell
        cheaply may list more)."""
        ...

    def linked_accounts(self, kind: str, system: str, after: str | None = None) -> Iterator[tuple[str, str | None]]:
        """(record id, account key) for the accounts of `system` linked to records of `kind` and not held as
        removed, in record id order, of the records after `after` (a piece of the work going on): who a complete
        read must list (the vanished rule), no record loaded where the store can help it. A key None: the store
        cannot say without the record, which the caller loads (it may then hold no account there, or one
        removed)."""
        ...

    def link_digests(self, kind: str, system: str, keys: Iterable[str] | None = None) -> dict[str, LinkDigest]:
        """The index digests (`LinkDigest`, by account key) of the accounts of `system` linked to records of
        `kind`: every one (`keys` None: a complete read, which also learns who vanished) or those among `keys`.
        As of the last save of each record (`digests_of`); no record is loaded where the store can help it."""
        ...

    def owing(self, system: str, record_ids: Iterable[str]) -> set[str]:
        """Of these records, at least those that owe `system` a write (`owed_systems`) as of their last save: a
        delivery for any other has nothing to send, and its record need not be loaded. A store that cannot
        tell without loading the records answers all of them (`LoadedLookups.owing`)."""
        ...

    def get_cursor(self, system: str) -> str | None: ...

    def put_cursor(self, system: str, cursor: str | None) -> None: ...

    def put_meta(self, name: str, value: Mapping[str, Any]) -> None: ...

    def get_meta(self, name: str) -> dict[str, Any] | None: ...

    def add_review(self, item_id: str, item: Mapping[str, Any]) -> None: ...

    def reviews(self) -> list[dict[str, Any]]: ...

    def remove_review(self, item_id: str) -> None: ...

    def record_decisions(self, record_id: str, decisions: list[dict[str, Any]], at: float) -> None: ...

    def decisions(self, record_id: str, field: str | None = None) -> list[dict[str, Any]]: ...


class QueuePort(Protocol):
    """A message queue with a dead-letter side (SQS in AWS, in-process locally)."""

    def send(self, messages: list[dict[str, Any]]) -> None: ...


class SecretsPort(Protocol):
    def get(self, name: str) -> dict[str, Any]: ...
