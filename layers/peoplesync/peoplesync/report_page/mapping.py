"""The mapping as plain data: which systems exist, which fields each carries, who is the source of each, and
what every arrow of the drawing means. Computed from the `Plan` alone, so the same configuration always gives
the same data (and the same picture)."""

from __future__ import annotations

from typing import Any

from ..config import Plan


def mapping(plan: Plan) -> dict[str, Any]:
    """Systems (in configuration order), field rows per kind, arrows, match rules, lifecycle and policies."""
    config = plan.config
    lifecycle = {s for kind in plan.lifecycle.values() for s in kind}
    systems = [{"name": name, "connector": sp.connector, "writable": sp.writable, "provision": sp.provision,
                "push": sp.push, "schedule": config.systems[name].schedule, "lifecycle": name in lifecycle}
               for name, sp in plan.systems.items()]
    kinds = []
    for kind, fields in plan.fields.items():
        configured = config.fields if kind == "person" else (config.groups.fields if config.groups else {})
        rows = [_row(plan, f, configured[name]) for name, f in fields.items()]
        kinds.append({"kind": kind, "fields": rows, "match": list(plan.match.get(kind, [])),
                      "lifecycle": list(plan.lifecycle.get(kind, ()))})
    policies = config.policies.model_dump(mode="json")
    return {"systems": systems, "kinds": kinds, "policies": policies, "fingerprint": plan.fingerprint}


def _row(plan: Plan, f: Any, configured: Any) -> dict[str, Any]:
    sources = list(f.sources)
    cells = {}
    for system, entry in configured.map.items():
        writable = plan.systems[system].writable
        role = "source" if system in sources else ("target" if writable else "read-only")
        cells[system] = {"attr": _attr_label(entry), "role": role, "transform": _transform(entry)}
    arrows = []
    if len(sources) > 1:  # two-way: a double arrow between the winner and each other source
        arrows += [{"from": f.winner, "to": other, "two_way": True} for other in sources if other != f.winner]
    for system, cell in cells.items():
        if cell["role"] != "source":
            arrows.append({"from": f.winner, "to": system, "two_way": False, "written": cell["role"] == "target"})
    badges = []
    if f.apply.value != "always":
        badges.append(f.apply.value)
    if configured.normalizers:
        badges.append("normalize: " + ", ".join(configured.normalizers))
    if f.reference:
        badges.append(f"reference: {f.reference}")
    if f.multi:
        badges.append("multi-valued")
    if f.default is not None:
        badges.append(f"default: {f.default}")
    return {"name": f.name, "sources": sources, "winner": f.winner if len(sources) > 1 else None,
            "apply": f.apply.value, "normalize": list(configured.normalizers), "badges": badges, "cells": cells,
            "arrows": arrows}


def _attr_label(entry: Any) -> str:
    if not isinstance(entry, str):  # a transform (config_models.MapSpec or its light form)
        return entry.template or entry.attr or ""
    return str(entry)


def _transform(entry: Any) -> str | None:
    """What a transformed mapping does, in a few words (None for a plain attribute)."""
    if isinstance(entry, str):
        return None
    if entry.template:
        return f"template {entry.template}"
    parts = []
    if entry.values:
        parts.append("values " + ", ".join(f"{k}->{v}" for k, v in sorted(entry.values.items())))
    if entry.date_format:
        parts.append(f"date {entry.date_format}")
    return "; ".join(parts)
