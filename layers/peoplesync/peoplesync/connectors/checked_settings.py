"""A connector's settings as its pydantic `Settings` checked them, rebuilt without pydantic (a Lambda function's
cold start).

Why: `import pydantic` and the settings model's creation were about 160 ms of the cold start of every function
that builds a connector (poll, deliver, sweep_snapshot; docs/performance.md, "Every function's cold start"). A
configuration checked in full keeps, beside its own checked form, each system's settings as its connector's
`Settings` checked them (`adapters/aws.checked_form`, for the connectors in `connectors.CHECKED_SETTINGS`, whose
model lives in a module of its own); a later cold start builds the connector from that dump here: the dump's
keys as read-only attributes, `model_dump` giving it back (so a cursor's scope is the same either way), and the
model's properties from a mixin the model declares too (`BaseConnector.settings_props`).

Only a dump that *is* the checked values is kept (`plain`): no nested model, no value JSON would turn into
another type. Settings that do not pass are not kept at all: the connector then checks them with pydantic when
it is built and fails naming the key and the reason, as before.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any


class CheckedSettings:
    """Settings checked before: the checked model's dump as read-only attributes."""

    def __init__(self, dump: dict[str, Any]) -> None:
        object.__setattr__(self, "_dump", copy.deepcopy(dump))
        for key, value in dump.items():
            object.__setattr__(self, key, copy.deepcopy(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} is frozen")

    def model_dump(self, mode: str = "python", **_: Any) -> dict[str, Any]:
        return copy.deepcopy(self._dump)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        dump = getattr(other, "model_dump", None)
        return callable(dump) and dump(mode="json") == self._dump  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # like a pydantic model that is not frozen

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._dump!r})"  # type: ignore[attr-defined]


_classes: dict[type, type[CheckedSettings]] = {}


def checked_settings(form: dict[str, Any], props: type | None = None) -> CheckedSettings:
    """The settings of a checked model's form (`plain`); `props`: the mixin holding the model's properties."""
    cls = CheckedSettings
    if props is not None:
        cls = _classes.get(props) or _classes.setdefault(
            props, type(f"Checked{props.__name__.removesuffix('Props')}", (CheckedSettings, props), {}))
    made = cls(form["values"])
    for field in form.get("models", ()):  # a nested model (a group scope): its values as attributes too
        if form["values"].get(field) is not None:
            object.__setattr__(made, field, CheckedSettings(form["values"][field]))
    return made


def plain(model: Any) -> dict[str, Any] | None:
    """The form kept of a checked model: {"values": its JSON dump, "models": the fields holding a nested model},
    when rebuilding it from that gives the same values (a nested model's values plain too, no date, set or tuple
    JSON would change); else None (it is then checked again when the connector is built)."""
    dump: dict[str, Any] = model.model_dump(mode="json")
    models = [f for f, v in dict(model).items() if hasattr(v, "model_dump")]
    values = dict(model)
    for field in models:
        if dict(values[field]) != dump[field]:
            return None
        values[field] = dump[field]
    return {"values": dump, "models": models} if values == dump else None


class settings_model:  # used as a class attribute, read like a class
    """A connector's pydantic `Settings`, imported when first read (`Settings = settings_model("module:Class")`):
    a connector built from checked settings never imports pydantic."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        module, _, name = self.where.partition(":")
        return getattr(importlib.import_module(module), name)
