"""What a Lambda function needs, built once per cold start: the plan, the store, the queues, the connectors.

`Runtime.from_aws()` builds the real adapters from the environment (see `adapters/aws.py`); tests build a
Runtime from moto-backed or in-memory adapters and pass it to the handler, which is otherwise the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..config import Plan
from ..ports import Connector, SecretsPort, StateStore
from .flow import Poison, Queue
from .reconcile import Reconciler

log = logging.getLogger("peoplesync")


class Runtime:
    def __init__(self, plan: Plan, store: StateStore, queue: Callable[[str], Queue],
                 dead_letter_queue: Callable[[str], Queue], secrets: SecretsPort | None = None,
                 connectors: dict[str, Connector] | None = None) -> None:
        self.plan = plan
        self.store = store
        self.reconciler = Reconciler(plan, store)
        self._queue, self._dlq = queue, dead_letter_queue
        self.secrets = secrets
        self._connectors: dict[str, Connector] = dict(connectors or {})

    @classmethod
    def from_aws(cls) -> Runtime:
        from ..adapters import aws

        plan = aws.load_plan()
        return cls(plan, aws.make_store(), lambda name: aws.make_queue(name),
                   lambda name: aws.make_queue(name, dlq=True), LazySecrets(aws.make_secrets))

    def queue(self, name: str) -> Queue:
        return self._queue(name)

    def delivery(self, system: str) -> Queue:
        return self._queue(f"deliver:{system}")

    def dead_letter(self, system: str) -> Queue:
        """The dead-letter queue of a target's deliveries."""
        return self._dlq(f"deliver:{system}")

    def dlq(self, name: str) -> Queue:
        """The dead-letter queue of "reconcile" or "deliver:<system>"."""
        return self._dlq(name)

    def connector(self, system: str) -> Connector:
        """One connector per system per process (its connection and token are reused while warm)."""
        if system not in self._connectors:
            from .. import connectors
            from ..adapters.dynamodb_buckets import for_system as buckets_for
            from .local import system_attributes

            sp = self.plan.systems[system]
            config = self.plan.config.systems[system]
            self._connectors[system] = connectors.connector_class(sp.connector).from_system(
                system, config, system_attributes(self.plan, system), secrets=self.secrets, buckets=buckets_for(config))
        return self._connectors[system]


class LazySecrets:
    """A SecretsPort whose real one is made on the first secret asked for: a function whose connectors need
    no secret (reconcile, a CSV poll) does not build a Secrets Manager client at its cold start."""

    def __init__(self, make: Callable[[], SecretsPort]) -> None:
        self._make = make
        self._real: SecretsPort | None = None

    def _secrets(self) -> SecretsPort:
        if self._real is None:
            self._real = self._make()
        return self._real

    def get(self, name: str) -> dict[str, Any]:
        return self._secrets().get(name)

    def __getattr__(self, attr: str) -> Any:  # e.g. forget(): whatever else the real one offers
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._secrets(), attr)


_current: dict[str, Runtime] = {}


def current() -> Runtime:
    """The process's Runtime, rebuilt when the configuration's version changes."""
    from ..adapters import aws

    plan = aws.load_plan()
    runtime = _current.get("runtime")
    if runtime is None or runtime.plan is not plan:
        runtime = _current["runtime"] = Runtime.from_aws()
    return runtime


def parked(body: str) -> dict[str, Any]:
    """What goes to a dead-letter queue for a poison message: the message itself when it is JSON (so a
    replay sends it back unchanged), else its raw text."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return {"raw": body}
    return message if isinstance(message, dict) else {"raw": body}


def parse(body: str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise Poison(f"not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(message, dict):
        raise Poison("a message must be a JSON object")
    return message
