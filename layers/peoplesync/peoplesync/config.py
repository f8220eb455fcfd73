"""The configuration: which systems exist, which fields they carry, who is the source of each.

Validated in two passes, both reporting every problem with its path (`fields.phone.work.winner`):
1. shape, by pydantic (types, allowed values, unknown keys);
2. meaning, by `config_checks.cross_check` (a source that does not map the field, a winner that is not a source, ...).
Connector-specific settings are validated by the connector's own `Settings` model (see `connectors`).

`compile_config` turns a valid `Config` into `Plan`, the plain, precomputed form the engine runs on.

The pydantic models live in `config_models.py`, imported when a configuration is checked (their names are
still importable from here): a Lambda function given a configuration already checked rebuilds it without
pydantic (`config_light.py`), about 200 ms less of its cold start (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import normalize
from .model import GROUP, PERSON, ApplyMode

if TYPE_CHECKING:
    import yaml

    from .config_models import (
        Config,
        FieldConfig,
        MapEntry,
    )
    from .ports import Connector

_MODELS = ("Apply", "Config", "Defaults", "FieldConfig", "GroupsConfig", "Lifecycle", "MapEntry", "MapSpec",
           "Policies", "SystemConfig")


def __getattr__(name: str) -> Any:
    """The pydantic models, imported on first use (`from peoplesync.config import Config` keeps working)."""
    if name in _MODELS:
        from . import config_models

        return getattr(config_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ConfigError(ValueError):
    """Every problem found in a configuration, each as (path, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{p}: {r}" for p, r in problems))


def real_attrs(entry: MapEntry) -> list[str]:
    """The system attributes a mapping entry reads and writes."""
    if isinstance(entry, str):
        return [entry]
    return list(entry.codec().attrs)


def entry_key(entry: MapEntry) -> str:
    """The attribute name the engine uses for a mapping entry (virtual for a transform)."""
    return entry if isinstance(entry, str) else entry.codec().key


# --- loading ---------------------------------------------------------------------------------------------
SettingsCheck = Callable[[str, dict[str, Any]], list[tuple[str, str]]]


def load_config(source: str | Path | dict[str, Any], *, settings_problems: SettingsCheck | None = None) -> Config:
    """Parse and check a configuration (a YAML path, YAML text, or a dict). Raises ConfigError.

    `settings_problems(connector, settings)` checks each system's connector-specific keys (the composition
    root passes the connectors' own check); without it they are checked when each connector is built. The
    configuration knows no connector itself."""
    import yaml
    from pydantic import ValidationError

    from .config_models import Config

    if isinstance(source, dict):
        data = source
    else:
        text = Path(source).read_text() if isinstance(source, Path) or "\n" not in str(source) else str(source)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([("(file)", yaml_problem(exc))]) from None
    if not isinstance(data, dict):
        raise ConfigError([("(file)", "the configuration must be a mapping")])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([(_path(e["loc"]), e["msg"]) for e in exc.errors()]) from None
    from .config_checks import cross_check

    problems = cross_check(config)
    if settings_problems is not None:
        problems += _check_settings(config, settings_problems)
    if problems:
        raise ConfigError(problems)
    return config


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, never the offending text (a secret pasted into the file must not reach a log)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where}: {getattr(exc, 'problem', None) or type(exc).__name__}"


def _path(loc: tuple[Any, ...]) -> str:
    # pydantic puts the union member / model name into loc; keep only what the user wrote
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper() and "[" in p)) or "(root)"


def _check_settings(config: Config, settings_problems: SettingsCheck) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name, system in config.systems.items():
        problems += [(f"systems.{name}.{p}" if p else f"systems.{name}", r)
                     for p, r in settings_problems(system.connector, system.settings)]
    return problems


# --- the compiled plan the engine runs on -----------------------------------------------------------------
from .config_systems import (  # noqa: E402  (the systems' part of the plan, and what they can take)
    SystemPlan,
    system_plan,
)


@dataclass(slots=True)
class FieldPlan:
    name: str
    kind: str
    sources: tuple[str, ...]  # in priority order: winner first, then as listed
    winner: str  # the source that prevails in a conflict (sources[0])
    map: dict[str, str]
    apply: ApplyMode
    norm: Any  # (value, multi) -> normalised
    multi: bool
    reference: str | None
    ref_by: dict[str, str]
    push: bool  # every source pushes (SCIM): targets are corrected only when a source syncs the record
    fingerprint: str
    codecs: dict[str, Any] = field(default_factory=dict)  # system -> transform.Codec, for transformed mappings
    default: Any = None
    placeholder: dict[str, str] = field(default_factory=dict)  # system -> value over a stale reference
    keep_blank: bool = False  # on_blank: keep: a blank golden value is not written over a target's value
    # precomputed for the engine's per-value path: `norm` for a single value as a one-argument function, and
    # whether a non-empty string read is its own normal form (no normalisers, no set, no reference)
    norm1: Any = None
    plain: bool = False


@dataclass(slots=True)
class Plan:
    config: Config
    systems: dict[str, SystemPlan]
    fields: dict[str, dict[str, FieldPlan]]  # kind -> name -> field
    match: dict[str, list[str]]  # kind -> ordered rules
    lifecycle: dict[str, tuple[str, ...]]  # kind -> systems whose removal ends the record
    semantic: dict[str, Any]  # what the fingerprint digests, but what the systems cannot take
    _fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """The digest of everything that decides what is written: a record decided under another is decided
        again. It includes what each system cannot take (adding `active_column` later deactivates there those
        who left meanwhile), so it asks the connectors, on first use (never in the SCIM webhook)."""
        if self._fingerprint is None:
            cannot = {n: sorted(sp.cannot) for n, sp in self.systems.items() if sp.cannot}
            self._fingerprint = _digest({**self.semantic, **({"cannot": cannot} if cannot else {})})
        return self._fingerprint


def system_attributes(plan: Plan, system: str) -> list[str]:
    """The real attributes a system's connector reads and writes (a transform's virtual name never)."""
    return sorted(plan.systems[system].attributes)


def compile_config(config: Config, connector_class: Callable[[str], type[Connector]] | None = None) -> Plan:
    """The plan. `connector_class(name)` (from the composition root) says what each system can take: its
    default `writable` and its `capabilities(settings)`; a write a system cannot take is never planned."""
    region = config.defaults.phone_region
    systems: dict[str, SystemPlan] = {}
    for name, s in config.systems.items():
        systems[name] = system_plan(name, s, connector_class)

    def plan_fields(kind: str, fields: dict[str, FieldConfig], default_sources: list[str],
                    default_winner: str | None) -> dict[str, FieldPlan]:
        out: dict[str, FieldPlan] = {}
        for name, f in fields.items():
            sources = f.sources or default_sources
            winner = f.winner or (default_winner if not f.sources else None) or sources[0]
            ordered = (winner, *[s for s in sources if s != winner])
            dump = f.model_dump(mode="json")
            if not dump.get("placeholder"):  # unset: as before the key existed (no remap of every record)
                dump.pop("placeholder", None)
            if f.on_blank in (None, "clear" if f.multi else "keep"):  # the default: as before the key existed
                dump.pop("on_blank", None)  # (no remap of every record); a change of it remaps
            fp = _digest({"kind": kind, "name": name, **dump, "sources": ordered})
            codecs = {s: e.codec() for s, e in f.map.items() if not isinstance(e, str)}
            norm, norm1 = normalize.pair(f.normalizers, region)
            plan = FieldPlan(name, kind, ordered, winner, {s: entry_key(e) for s, e in f.map.items()},
                             ApplyMode(f.apply), norm, f.multi, f.reference,
                             dict(f.ref_by), all(systems[s].push for s in ordered), fp, codecs, f.default,
                             dict(f.placeholder), not f.clears_blank, norm1,
                             not f.normalizers and not f.multi and f.reference is None)
            out[name] = plan
            for s, entry in f.map.items():
                key = entry_key(entry)
                systems[s].fields.setdefault(kind, []).append(plan)
                systems[s].attr_to_field.setdefault(kind, {})[key] = plan
                systems[s].attributes.update(real_attrs(entry))
                if s in codecs:
                    systems[s].codecs[key] = codecs[s]
        return out

    fields = {PERSON: plan_fields(PERSON, config.fields, [], None)}
    match = {PERSON: list(config.match)}
    if config.lifecycle is not None:
        life = tuple(config.lifecycle.sources)
    elif config.match:
        life = fields[PERSON][config.match[0]].sources
    else:
        life = tuple(sorted({s for f in fields[PERSON].values() for s in f.sources}))
    lifecycle = {PERSON: life}
    if config.groups is not None:
        g = config.groups
        gsources = [g.source] if isinstance(g.source, str) else list(g.source)
        fields[GROUP] = plan_fields(GROUP, g.fields, gsources, g.winner)
        match[GROUP] = list(g.match)
        lifecycle[GROUP] = tuple(gsources)
    semantic = {
        "fields": {k: {n: f.fingerprint for n, f in v.items()} for k, v in fields.items()},
        "match": match, "lifecycle": lifecycle, "removed": config.policies.removed,
        "systems": {n: [s.asks_write, s.asks_provision, s.reference] for n, s in systems.items()},
    }
    return Plan(config, systems, fields, match, lifecycle, semantic)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def json_schema() -> dict[str, Any]:
    from .config_models import Config

    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "peoplesync configuration"
    return schema
