"""Helpers shared by the AWS adapter tests (a module of its own: `conftest` is not importable by name)."""

from __future__ import annotations

from collections import Counter
from typing import Any

REGION = "eu-west-1"


def count_calls(client: Any) -> Counter[str]:
    """Count the API calls a real (moto-backed) client makes, by operation name."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call", hook)
    return calls
