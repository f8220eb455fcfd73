"""A configuration already checked, rebuilt from its dump without pydantic (a Lambda function's cold start).

Why: a function's cold start had ~250 ms of pydantic (its import, then building the configuration's models)
on top of `import boto3`'s 400 ms (docs/performance.md, "Every function's cold start"). A configuration is
checked in full once (`config.load_config`: pydantic, then `config_checks.cross_check`); its checked form,
`Config.model_dump(mode="json")`, is kept under the digest of the text it came from (`adapters/config_cache.py`),
and a later cold start given the same text rebuilds it here: plain objects with the attributes, properties,
`model_dump` and `model_copy` of the pydantic models the rest of the code reads. `compile_config` then makes the
same Plan (tests/unit/test_config_light.py holds the two to the same plan and fingerprints).

The properties are the models' own: `config_models.py` declares each model on the mixin here.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, cast

# SystemConfig's own keys; the others are the connector's settings (its `model_extra`)
SYSTEM_KEYS = ("connector", "schedule", "writable", "provision", "credentials", "reference")


# --- the properties, shared with the pydantic models (config_models.py) --------------------------------------
# No annotations on these mixins: pydantic would take an annotated name for a field of the model.
class SystemProps:
    @property
    def settings(self) -> dict[str, Any]:
        return dict(cast(Any, self).model_extra or {})


class MapProps:
    def codec(self) -> Any:
        from .transform import Codec

        s = cast(Any, self)
        return Codec.build(s.attr, s.template, s.values, s.date_format)


class FieldProps:
    @property
    def clears_blank(self) -> bool:
        s = cast(Any, self)
        return bool((s.on_blank or ("clear" if s.multi else "keep")) == "clear")

    @property
    def sources(self) -> list[str]:
        source = cast(Any, self).source
        if source is None:
            return []
        return [source] if isinstance(source, str) else list(source)

    @property
    def normalizers(self) -> list[str]:
        normalize = cast(Any, self).normalize
        return [normalize] if isinstance(normalize, str) else list(normalize)


class LifecycleProps:
    @property
    def sources(self) -> list[str]:
        source = cast(Any, self).source
        return [source] if isinstance(source, str) else list(source)


# --- the light models -----------------------------------------------------------------------------------------
class _Light:
    """A part of a checked configuration: its dump's keys as read-only attributes (parts in `_parts` built as
    their light class), `model_dump` giving the dump back."""

    _parts: ClassVar[dict[str, Any]] = {}

    def __init__(self, dump: dict[str, Any]) -> None:
        object.__setattr__(self, "_dump", dump)
        for key, value in dump.items():
            part = self._parts.get(key)
            object.__setattr__(self, key, value if part is None or value is None else part(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} is frozen")

    def model_dump(self, mode: str = "python", **_: Any) -> dict[str, Any]:
        return copy.deepcopy(self._dump)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._dump!r})"  # type: ignore[attr-defined]


class LightMapSpec(_Light, MapProps):
    pass


def _entry(value: Any) -> Any:
    return value if isinstance(value, str) else LightMapSpec(value)


def _fields(value: dict[str, Any]) -> dict[str, LightField]:
    return {name: LightField(f) for name, f in value.items()}


class LightField(_Light, FieldProps):
    _parts = {"map": lambda m: {s: _entry(e) for s, e in m.items()}}


class LightSystem(_Light, SystemProps):
    def __init__(self, dump: dict[str, Any]) -> None:
        super().__init__(dump)
        object.__setattr__(self, "model_extra", {k: v for k, v in dump.items() if k not in SYSTEM_KEYS})

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> LightSystem:
        return LightSystem({**copy.deepcopy(self._dump), **(update or {})})  # type: ignore[attr-defined]


class LightLifecycle(_Light, LifecycleProps):
    pass


class LightGroups(_Light):
    _parts = {"fields": _fields}


class LightConfig(_Light):
    _parts = {"defaults": _Light, "systems": lambda s: {n: LightSystem(d) for n, d in s.items()},
              "fields": _fields, "lifecycle": LightLifecycle, "policies": _Light, "groups": LightGroups}


def light_config(dump: dict[str, Any], checked_settings: dict[str, dict[str, Any]] | None = None,
                 connector_settings: dict[str, dict[str, Any]] | None = None) -> Any:
    """The configuration of a dump made by `Config.model_dump(mode="json")` of a checked configuration.
    `checked_settings`: system -> its settings as its connector's `Settings` checked them (the SCIM system's,
    for the webhook: `adapters/aws.checked_form`), kept as `checked_settings`; `connector_settings`: the same for
    the systems whose connector is built from them (`connectors/checked_settings.py`), kept as
    `connector_settings`."""
    config = LightConfig(dump)
    object.__setattr__(config, "checked_settings", dict(checked_settings or {}))
    object.__setattr__(config, "connector_settings", dict(connector_settings or {}))
    return config
