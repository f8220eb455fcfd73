"""What one process of the bridge works with: the plan, the store, the queues, the connectors. A bundle of
ports, built in one place (`peoplesync.bootstrap`): from AWS for the Lambda functions, from local files for
`peoplesync`, from fakes in the tests. Nothing here knows which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Plan
from ..ports import Connector, SecretsPort, StateStore
from .messages import RECONCILE, Queue, delivery_queue

if TYPE_CHECKING:  # the flow and the engine are imported when first used: the SCIM webhook needs neither
    from .flow import Ports
    from .reconcile import Reconciler

ConnectorFactory = Callable[[str], Connector]


class Runtime:
    def __init__(self, plan: Plan, store: StateStore, queue: Callable[[str], Queue],
                 dead_letter_queue: Callable[[str], Queue], secrets: SecretsPort | None = None,
                 connectors: dict[str, Connector] | None = None, *, connector_factory: ConnectorFactory | None = None,
                 clock: Callable[[], float] = time.time, max_receives: int | None = None) -> None:
        self.plan = plan
        self.store = store
        self._clock = clock
        self._reconciler: Reconciler | None = None
        self._ports: Ports | None = None
        self._queue, self._dlq = queue, dead_letter_queue
        self.secrets = secrets
        self._connectors: dict[str, Connector] = dict(connectors or {})
        self._factory = connector_factory
        # the queues' redrive count: a message received this often is parked with a reason before SQS would
        # move it to the dead-letter queue without one (None: not known, e.g. locally)
        self.max_receives = max_receives

    @property
    def reconciler(self) -> Reconciler:
        if self._reconciler is None:
            from .reconcile import Reconciler

            self._reconciler = Reconciler(self.plan, self.store, clock=self._clock)
        return self._reconciler

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            from .flow import Ports

            self._ports = Ports(reconcile=_Lazy(lambda: self.queue(RECONCILE)), delivery=self.delivery,
                                dead_letter=self.dead_letter, connector=self.connector)
        return self._ports

    def queue(self, name: str) -> Queue:
        """"reconcile" or "deliver:<system>"."""
        return self._queue(name)

    def delivery(self, system: str) -> Queue:
        return self._queue(delivery_queue(system))

    def dead_letter(self, system: str) -> Queue:
        """The dead-letter queue of a target's deliveries."""
        return self._dlq(delivery_queue(system))

    def dlq(self, name: str) -> Queue:
        """The dead-letter queue of "reconcile" or "deliver:<system>"."""
        return self._dlq(name)

    def connector(self, system: str) -> Connector:
        """One connector per system per process (its connection and token are reused while warm)."""
        if system not in self._connectors:
            if self._factory is None:
                raise KeyError(f"no connector for system {system!r}")
            self._connectors[system] = self._factory(system)
        return self._connectors[system]

    def polled_systems(self) -> list[str]:
        """Systems a run reads, lifecycle sources first: people come from the system that says who exists,
        and the other systems' accounts are then correlated to them rather than making people of their own."""
        first = [s for kind in self.plan.lifecycle.values() for s in kind]
        names = [n for n, sp in self.plan.systems.items() if not sp.push]
        return sorted(names, key=lambda n: (n not in first, first.index(n) if n in first else 0))

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()


class _Lazy:
    """A queue made on first use: a function that never sends to it never builds its client."""

    def __init__(self, make: Callable[[], Queue]) -> None:
        self._make = make
        self._queue: Queue | None = None

    def send(self, messages: list[dict[str, Any]], *, delay_seconds: int = 0,
             attributes: dict[str, str] | None = None) -> Any:
        if self._queue is None:
            self._queue = self._make()
        return self._queue.send(messages, delay_seconds=delay_seconds, attributes=attributes)
