"""The configuration's second pass: meaning, once each part is well-formed. Every problem is reported with the
path a user would look at and the reason, all at once (a source that does not map the field, a winner that is
not a source, a reference that names nothing, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import normalize
from .model import GROUP, PERSON

if TYPE_CHECKING:
    from .config import Config, FieldConfig, Plan

Problems = list[tuple[str, str]]


def cross_check(config: Config) -> Problems:
    checker = _Checker(config)
    checker.fields("fields", config.fields, [], None, PERSON)
    checker.people()
    checker.groups()
    return checker.problems


class _Checker:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.systems = set(config.systems)
        self.known = ", ".join(sorted(self.systems))
        self.problems: Problems = []

    def add(self, path: str, reason: str) -> None:
        self.problems.append((path, reason))

    def system(self, path: str, name: str) -> bool:
        if name not in self.systems:
            self.add(path, f"unknown system {name!r} (known: {self.known})")
            return False
        return True

    def fields(self, prefix: str, fields: dict[str, FieldConfig], default_sources: list[str],
               default_winner: str | None, kind: str) -> None:
        written: dict[tuple[str, str], str] = {}  # (system, attribute) -> the field that writes it
        for name, f in fields.items():
            at = f"{prefix}.{name}"
            sources = f.sources or default_sources
            self.sources(at, f, sources)
            self.map(at, name, f, written)
            self.winner(at, f, sources, f.winner or (default_winner if not f.sources else None))
            self.normalizers(at, f)
            self.reference(at, f)
            if not f.reference and f.multi is False and kind == GROUP and name == "members":
                self.add(f"{at}.multi", "members is a set of people: set multi: true")
            if f.apply == "add_only" and not (f.multi and f.reference and kind == GROUP):
                self.add(f"{at}.apply", "add_only is for a group's members (multi: true, reference: person)")

    def sources(self, at: str, f: FieldConfig, sources: list[str]) -> None:
        if not sources:
            self.add(f"{at}.source", "required: name the system (or systems) whose value is definitive")
        for s in sources:
            if self.system(f"{at}.source", s) and s not in f.map:
                self.add(f"{at}.source", f"{s!r} is a source but {at}.map has no attribute for it")

    def map(self, at: str, name: str, f: FieldConfig, written: dict[tuple[str, str], str]) -> None:
        from .config import real_attrs

        for s, entry in f.map.items():
            if not self.system(f"{at}.map.{s}", s):
                continue
            for attr in real_attrs(entry):
                other = written.get((s, attr.lower()))
                if other is not None:
                    self.add(f"{at}.map.{s}", f"attribute {attr!r} of {s!r} is already written by field {other!r}")
                written[(s, attr.lower())] = name

    def winner(self, at: str, f: FieldConfig, sources: list[str], winner: str | None) -> None:
        if winner is not None and winner not in sources:
            self.add(f"{at}.winner", f"{winner!r} is not among the sources {sources}")
        if len(sources) > 1 and winner is None:
            self.add(f"{at}.winner", "required when a field has several sources")

    def normalizers(self, at: str, f: FieldConfig) -> None:
        for i, spec in enumerate(f.normalizers):
            try:
                normalize.build(spec, self.config.defaults.phone_region)
            except ValueError as exc:
                self.add(f"{at}.normalize" + (f".{i}" if isinstance(f.normalize, list) else ""), str(exc))

    def reference(self, at: str, f: FieldConfig) -> None:
        if f.placeholder and (f.reference is None or f.multi):
            self.add(f"{at}.placeholder", "placeholder is for a single-valued reference field")
        for s in sorted(set(f.placeholder) - set(f.map)):
            self.add(f"{at}.placeholder.{s}", f"{s!r} does not map this field")
        if f.ref_by and not f.reference:
            self.add(f"{at}.ref_by", "only meaningful with reference: person")
        if not f.reference:
            return
        groups = self.config.groups
        if f.reference == GROUP and groups is None:
            self.add(f"{at}.reference", "names groups but there is no groups section")
        targets = self.config.fields if f.reference == PERSON else (groups.fields if groups else {})
        for s, by in f.ref_by.items():
            if s not in f.map:
                self.add(f"{at}.ref_by.{s}", f"{s!r} does not map this field")
            elif by not in targets:
                self.add(f"{at}.ref_by.{s}", f"unknown field {by!r}: a reference needs a field that identifies "
                                             f"the {f.reference} it names")
            elif targets[by].reference:
                self.add(f"{at}.ref_by.{s}", f"field {by!r} is itself a reference")
            elif s not in targets[by].map:
                self.add(f"{at}.ref_by.{s}", f"field {by!r} is not mapped for {s!r}, so its value cannot be resolved")

    def people(self) -> None:
        for i, rule in enumerate(self.config.match):
            if rule not in self.config.fields:
                self.add(f"match.{i}", f"unknown field {rule!r}: a match rule names a field")
            elif self.config.fields[rule].reference:
                self.add(f"match.{i}", f"field {rule!r} is a reference and cannot identify a person")
        if self.config.lifecycle is not None:
            for s in self.config.lifecycle.sources:
                self.system("lifecycle.source", s)

    def groups(self) -> None:
        g = self.config.groups
        if g is None:
            return
        sources = [g.source] if isinstance(g.source, str) else list(g.source)
        for s in sources:
            self.system("groups.source", s)
        self.fields("groups.fields", g.fields, sources, g.winner, GROUP)
        for i, name in enumerate(g.provision):
            if self.system(f"groups.provision.{i}", name) and name in sources:
                self.add(f"groups.provision.{i}", f"{name!r} is a source of groups: they are not created there")
        for i, rule in enumerate(g.match):
            if rule not in g.fields:
                self.add(f"groups.match.{i}", f"unknown group field {rule!r}")


# --- what the systems can take (the plan, compiled with the connectors' capabilities) -----------------------
def plan_problems(plan: Plan) -> Problems:
    """`writable: true` on a system whose connector cannot write with its settings: an error, never a plan
    that silently writes nothing (or a run that dead-letters every write)."""
    return [(f"systems.{name}.writable", f"{sp.connector} cannot write here: "
             f"{sp.cannot.get('write') or 'not with these settings'}")
            for name, sp in plan.systems.items() if plan.config.systems[name].writable and not sp.writable]


def plan_warnings(plan: Plan) -> Problems:
    """Writes the configuration asks for that a system cannot take: the plan leaves them out (they would only
    be dead-lettered, at every sync); `validate` says so, and what would make them possible. And normalisers
    whose result is no normal form (`unsettled_normal_forms`)."""
    return _unwritable(plan) + unsettled_normal_forms(plan)


# values written the ways people write them: each field's normalisation is tried on them by `validate`
PROBES = ("0000", " 0 ", "+1 (317) 555-0100", "13175550100", "020 7946 0958", "+44 (0)20 7946 0958",
          "+33 1 23 45 67 89", "555-0100 ext. 12", "2024-03-01T10:00:00Z", "03/01/2024", "  Mixed  Case  ",
          "Ada@Example.org", "12-34", "x")


def unsettled_normal_forms(plan: Plan) -> Problems:
    """Fields whose normalisation turns some value into a form that normalises to something else again: the
    engine takes a value read back exactly as it holds it as unchanged, and one we wrote must not look changed
    when read back; with such a chain a value written there may be read back as a change and written again at
    every sync. Tried on a few values written the usual ways (`PROBES`), one example a field."""
    out = []
    for kind, fields in plan.fields.items():
        at = "groups.fields" if kind == GROUP else "fields"
        for f in fields.values():
            if f.reference is not None or f.norm1 is None or f.plain:  # (plain: no normaliser at all)
                continue
            for probe in PROBES:
                once = f.norm1(probe)
                twice = f.norm1(once) if once is not None else None
                if once is not None and twice != once:
                    out.append((f"{at}.{f.name}.normalize", f"{probe!r} becomes {once!r}, which becomes {twice!r} "
                                "when normalised again: a value written there may look changed when read back, "
                                "and be written again at every sync (reorder or drop a step)"))
                    break
    return out


def _unwritable(plan: Plan) -> Problems:
    config, out = plan.config, []
    removed = config.policies.removed
    lifecycle = {s for sources in plan.lifecycle.values() for s in sources}
    for name, sp in plan.systems.items():
        if not sp.writable:
            continue
        if config.systems[name].provision and "create" in sp.cannot:
            out.append((f"systems.{name}.provision", f"{sp.connector} cannot create accounts here "
                        f"({sp.cannot['create']}): none will be created"))
        if removed == "ignore" or name in lifecycle or not any(sp.fields.values()):
            continue
        if removed == "delete" and not sp.delete:
            fallback = "deactivated instead" if sp.deactivate else "left as they are"
            out.append((f"systems.{name}", f"policies.removed is delete, but {sp.connector} cannot delete here "
                        f"({sp.cannot.get('delete')}): the accounts of people who leave are {fallback}"))
        if removed == "deactivate" and not sp.deactivate:
            out.append((f"systems.{name}", f"policies.removed is {removed}, but {sp.connector} cannot deactivate "
                        f"an account here ({sp.cannot.get('deactivate')}): the accounts of people who leave "
                        "stay active there"))
    return out
