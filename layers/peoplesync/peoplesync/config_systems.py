"""The systems' part of the plan (`SystemPlan`), and what each system can take: what the configuration asks,
where its connector's `capabilities` allow it. The connector class is asked the first time it matters (through
the callback the composition root gives `compile_config`), so a function imports only the connectors it uses
and the engine imports none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import FieldPlan
    from .config_models import SystemConfig
    from .ports import Connector

__all__ = ["DN_CONNECTORS", "PUSH_CONNECTORS", "READ_ONLY_CONNECTORS", "SystemPlan", "system_plan"]

PUSH_CONNECTORS = {"scim"}  # systems that push to us: their fields are enforced when they sync a user
# The connectors whose `writable_by_default` is false, known without importing them (a function imports only
# the connectors it uses); tests/unit/test_capabilities.py keeps the two equal.
READ_ONLY_CONNECTORS = {"scim", "workday_raas", "csv"}
DN_CONNECTORS = {"ldap"}  # others (a test directory) say `reference: dn` themselves


@dataclass(slots=True)
class SystemPlan:
    """A system as the engine sees it. What it can take (`writable`, `provision`, `deactivate`, `delete`) is
    what the configuration asks, where the connector's `capabilities` allow it: asked of the connector class
    (`probe`) the first time it matters, so a function imports only the connectors it uses."""

    name: str
    connector: str
    asks_write: bool  # the configuration's `writable`, else the connector's default
    asks_provision: bool
    reference: str  # "key" | "dn"
    push: bool
    fields: dict[str, list[FieldPlan]] = field(default_factory=dict)  # kind -> fields mapped here
    attr_to_field: dict[str, dict[str, FieldPlan]] = field(default_factory=dict)  # kind -> attr -> field
    codecs: dict[str, Any] = field(default_factory=dict)  # virtual attribute -> transform.Codec
    attributes: set[str] = field(default_factory=set)  # the real attributes read and written here
    probe: Callable[[], Any] | None = None  # -> ports.Capabilities; None: it can take everything
    _can: Any = None

    @property
    def can(self) -> Any:
        if self._can is None:
            from .ports import Capabilities

            self._can = self.probe() if self.probe is not None else Capabilities()
        return self._can

    @property
    def writable(self) -> bool:
        return self.asks_write and self.can.write

    @property
    def provision(self) -> bool:
        return self.asks_provision and self.can.create

    @property
    def deactivate(self) -> bool:  # an account's state can be recorded here (else no deactivation is planned)
        return bool(self.can.deactivate)

    @property
    def delete(self) -> bool:  # else a removal deactivates, where it can
        return bool(self.can.delete)

    @property
    def cannot(self) -> dict[str, str]:  # capability missing -> what would give it
        return {op: self.can.why.get(op, "") for op in ("write", "create", "deactivate", "delete")
                if not getattr(self.can, op)}



def system_plan(name: str, s: SystemConfig, connector_class: Callable[[str], type[Connector]] | None
                 ) -> SystemPlan:
    """One rule for `writable`, the same in `validate`, `plan` and the connector built for a run (which the
    composition root builds with this plan's value): the configuration's `writable`, else the connector's
    default (`READ_ONLY_CONNECTORS`, equal to each class's `writable_by_default`: tests/unit/
    test_capabilities.py); and never where the connector cannot write with these settings."""
    reference = s.reference or ("dn" if s.connector in DN_CONNECTORS else "key")
    writable = s.writable if s.writable is not None else s.connector not in READ_ONLY_CONNECTORS
    probe = None if connector_class is None else (lambda: connector_class(s.connector).capabilities(s.settings))
    return SystemPlan(name, s.connector, writable, s.provision, reference, s.connector in PUSH_CONNECTORS,
                      probe=probe)
