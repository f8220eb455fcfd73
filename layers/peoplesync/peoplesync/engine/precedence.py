"""Precedence: which value a field takes, from which system, and whether a target gets it. Pure: facts in, a
`Verdict` out; the caller (golden.py, targets.py) applies it to the record. In the spirit of lsc-project's
`BeanComparator.getValuesToSet`: one function, `decide`, states every rule in its order; the rules are written
nowhere but in this module (`decide` and the groups of rules it dispatches to).

`Facts` and `Verdict` are NamedTuples: immutable and cheap. A verdict is built straight from a tuple
(`_verdict`), skipping the generated Python `__new__` (a frozen dataclass costs four times as much again). On
the engine's hot paths (every field of every first sight, every field of a full pass), no `Facts` is built at
all: the rule predicates (`agrees`, `stands`, `holds`) are asked first, then the group of rules `decide` itself
would call (`from_change`, `repick`, `from_shadows`, `for_target`) is given the facts as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, NamedTuple

from ..config import FieldPlan
from ..model import ApplyMode, Rule
from .outcome import MISSING, blank

# The rules as plain names: Python 3.11 looks an enum member up slowly (`Rule.SOURCE` goes through
# EnumType.__getattr__, ~0.2 us), and the engine reads them for every field it decides. golden.py, targets.py
# and core.py import them from here.
AGREED, KEPT, FILLED, SOURCE, CONFLICT, RE_EVALUATED = (
    Rule.AGREED, Rule.KEPT, Rule.FILLED, Rule.SOURCE, Rule.CONFLICT, Rule.RE_EVALUATED)
ON_CREATE, IF_EMPTY, OVERWRITTEN, RE_ASSERTED, REALIGNED, PROPAGATED = (
    Rule.ON_CREATE, Rule.IF_EMPTY, Rule.OVERWRITTEN, Rule.RE_ASSERTED, Rule.REALIGNED, Rule.PROPAGATED)
ALWAYS, _ON_CREATE, _IF_EMPTY = ApplyMode.ALWAYS, ApplyMode.ON_CREATE, ApplyMode.IF_EMPTY


class Facts(NamedTuple):
    """What is known about one field of one record when a question is put to `decide`.

    Three questions, told apart by which facts are given:
    - `changed`: the source `changed` now shows `value` (in golden form): what becomes of the golden value?
      With `reevaluating`, `value` is not news from `changed` but the pick of a re-evaluation.
    - `target`: may `target` (which was last read holding `target_has`) be given the golden value, and why
      (`context`: the engine's reason for looking at the target)?
    - neither: re-evaluate from the shadows: `shown` maps each source read so far to what it holds.
    """

    golden: Any = MISSING  # the agreed value (MISSING: none yet)
    decided_by: str | None = None  # the source whose value the golden value is
    changed: str | None = None  # the source whose read changed
    value: Any = MISSING  # what `changed` shows, in golden form
    concurrent: bool = False  # the golden value moved on since `changed` last agreed to it
    first: bool = False  # `changed` was linked just now (first read of that account)
    read: Any = MISSING  # what `changed` shows as read, before references resolve (MISSING: as `value`)
    reevaluating: bool = False  # `value` is a re-evaluation's pick from `changed`, not a change there
    shown: Mapping[str, Any] | None = None  # source -> what its shadow holds (absent: not read)
    waiting: bool = False  # the field waits for a reference to become resolvable
    target: str | None = None  # a system that maps the field and may be written
    target_has: Any = MISSING  # what `target` was last read holding (MISSING: never read)
    context: Rule = Rule.REALIGNED  # why the target is being looked at


class Verdict(NamedTuple):
    """The answer: `value` from `system` by `rule`, a `conflict` or not, and why in one line (`reason`).

    `moves`: the golden value becomes `value`, decided by `system`. `recorded`: worth a `Decision` (a
    first blank, an agreement, a held target, a propagation are not). For a target question, `value` is the
    golden value and `moves` says whether the target is to be given it."""

    value: Any
    system: str | None
    rule: Rule
    conflict: bool
    reason: str
    moves: bool = False
    recorded: bool = False


_verdict = partial(tuple.__new__, Verdict)  # _verdict((...)): a Verdict without the generated __new__


class _Said(dict[str, str]):
    """A reason that names only the system, made once per system (formatted on first use)."""

    def __init__(self, template: str) -> None:
        super().__init__()
        self._template = template

    def __missing__(self, system: str) -> str:
        said = self[system] = self._template.format(system)
        return said


_IS_SOURCE = _Said("{} is the source")
_ONE_OF = _Said("changed in {}, one of its sources")


def decide(f: FieldPlan, facts: Facts) -> Verdict:
    """The verdict on field `f` given `facts`. The first rule that applies decides.

    A source changed (`facts.changed`), sources in priority order (`f.sources`: winner first, then as listed):
      1. AGREED      the source shows the golden value: it agrees, nothing moves.
      2. FILLED/KEPT a source of a several-source field, read for the first time, shows a blank: it does not
                     erase what another source said (it is filled with the golden value if there is one).
      3. CONFLICT    both this source and the one that decided the golden value changed it since this one
                     last agreed: the higher in priority prevails, and the conflict is recorded (SPEC row 5).
                     If that is the decider, the golden value stands and this source is overwritten;
      4. CONFLICT    otherwise this source's value becomes the golden value (SPEC row 5).
      5. SOURCE      otherwise a source's change becomes the golden value, whichever source it is (SPEC row 4:
                     either side of a two-way field; rows 1, 3, 6: the one source). A first blank is not news.
    A re-evaluation's pick (`facts.reevaluating`):
      6. AGREED      the pick equals the golden value and the decider is still a source: nothing moves.
      7. RE_EVALUATED the pick becomes the golden value (SPEC row 21).
    Re-evaluation from the shadows (no `changed`, no `target`):
      8. KEPT        the golden value stands while its decider is still a source and nothing waits.
      9. RE_EVALUATED the first source in priority order that holds a value, else the first that holds a blank;
                     KEPT when no source was read.
    A target (`facts.target`), by the field's apply mode (SPEC row 19) and its `on_blank`:
     10. ON_CREATE   `apply: on_create`: set when the bridge created the account, then left to its owner.
     11. IF_EMPTY    `apply: if_empty`: only a blank we have read is filled, never a value overwritten.
     12. KEPT        `on_blank: keep` (the default but for multi-valued fields): a blank golden value (a source
                     blanked it) is not written: the target keeps what it holds. (An attribute absent from a
                     read is no blank: it is not absorbed at all, so it never reaches this.)
     13. `context`   otherwise the target is given the golden value (`moves`): overwritten, propagated, ...

    Rules 1, 8 and 10-12 are also there alone (`agrees`, `stands`, `holds`): the engine's loops ask them first,
    before gathering the facts, and most fields and targets stop there. Each group of rules is a function this
    calls with the facts unpacked (1-5 `from_change`, 6-7 `repick`, 8-9 `from_shadows`, 10-13 `for_target`):
    the engine's hot paths call them directly, without building a `Facts` (the same functions, so the same
    verdicts; tests/unit/test_precedence.py checks it).
    """
    if facts.target is not None:
        return for_target(f, facts.golden, facts.decided_by, facts.target, facts.target_has, facts.context)
    if facts.changed is None:
        return from_shadows(f, facts.golden, facts.decided_by, facts.shown, facts.waiting)
    if facts.reevaluating:
        return repick(f, facts.golden, facts.decided_by, facts.changed, facts.value)
    return from_change(f, facts.golden, facts.decided_by, facts.changed, facts.value, facts.concurrent, facts.first,
                       facts.read)


def agrees(golden: Any, value: Any) -> bool:
    """Rule 1 on its own: the changed source shows the golden value (AGREED, nothing moves). A source's change
    asks this first, and gathers the other facts only where it does not hold."""
    return golden is not MISSING and golden == value


def from_change(f: FieldPlan, golden: Any, decider: str | None, system: str, value: Any, concurrent: bool,
                first: bool, read: Any = MISSING) -> Verdict:  # rules 1-5
    """Rules 1-5, with the facts of a source's change as arguments (`decide` unpacks `Facts` into this; the
    engine's per-field hot path calls it directly, without building `Facts`: the same function, so the same
    verdict)."""
    if golden is not MISSING and golden == value:
        return _verdict((golden, decider, AGREED, False, f"{system} agrees", False, False))
    sources = f.sources
    if len(sources) < 2:  # one source: rules 2-4 need two, rule 5 decides
        return _verdict((value, system, SOURCE, False, _IS_SOURCE[system], True,
                         golden is not MISSING or not (value is None or value == "" or value == ())))
    if read is MISSING:
        read = value
    if first and blank(read):
        if golden is not MISSING and not blank(golden):
            reason = f"{system} was blank; filled from {decider}"
            return _verdict((golden, decider, FILLED, False, reason, False, False))
        return _verdict((golden, decider, KEPT, False, f"{system} is blank, as is the golden value", False, False))
    concurrent = (concurrent and golden is not MISSING and decider is not None and decider != system
                  and decider in sources)
    if concurrent and sources.index(decider) < sources.index(system):
        return _verdict((golden, decider, CONFLICT, True,
                         f"{decider} and {system} both changed it; {decider} prevails over {system}'s {read!r}",
                         False, True))
    reason = f"{system} and {decider} both changed it; {system} prevails (winner)" if concurrent \
        else _ONE_OF[system]
    return _verdict((value, system, CONFLICT if concurrent else SOURCE, concurrent, reason, True,
                     not (golden is MISSING and blank(value))))


def repick(f: FieldPlan, golden: Any, decider: str | None, system: str, value: Any) -> Verdict:  # rules 6-7
    """Rules 6-7, with the facts as arguments (`decide` unpacks `Facts` into this)."""
    if golden is not MISSING and golden == value and decider in f.sources:
        return _verdict((golden, decider, AGREED, False, f"{system} agrees", False, False))
    return _verdict((value, system, RE_EVALUATED, False, f"{system} is the source (re-evaluated)", True, True))


def stands(f: FieldPlan, golden: Any, decided_by: str | None, waiting: bool) -> bool:
    """Rule 8 on its own: the golden value stands (a full pass asks this first, and gathers what the sources
    show only for a field where it does not hold)."""
    return golden is not MISSING and decided_by in f.sources and not waiting


def from_shadows(f: FieldPlan, golden: Any, decider: str | None, shown: Mapping[str, Any] | None, waiting: bool
                 ) -> Verdict:  # rules 8-9
    """Rules 8-9, with the facts as arguments (`decide` unpacks `Facts` into this)."""
    if stands(f, golden, decider, waiting):
        return _verdict((golden, decider, KEPT, False, f"{decider} is the source", False, False))
    shown = shown or {}
    candidates = [s for s in f.sources if s in shown]
    filled = [s for s in candidates if not blank(shown[s])]
    for source in (filled or candidates)[:1]:
        return _verdict((shown[source], source, RE_EVALUATED, False, f"{source} is the source (re-evaluated)",
                       True, True))
    return _verdict((golden, decider, KEPT, False, "no source read yet", False, False))


def holds(f: FieldPlan, target_has: Any, golden: Any = MISSING) -> Rule | None:
    """Rules 10-12 on their own: the apply mode (or `on_blank: keep`) that keeps the golden value `golden`
    from a target which was last read holding `target_has`, or None. (Enforcing a target asks this first:
    with None, the verdict is only needed when a write is made.)"""
    apply = f.apply
    if apply == _ON_CREATE:
        return ON_CREATE
    if apply == _IF_EMPTY and not (target_has is not MISSING and blank(target_has)):
        return IF_EMPTY
    if f.keep_blank and golden is not MISSING and blank(golden):
        return KEPT
    return None


def for_target(f: FieldPlan, golden: Any, decider: str | None, target: str, target_has: Any, context: Rule
               ) -> Verdict:  # rules 10-13
    """Rules 10-13, with the facts of a target question as arguments (`decide` unpacks `Facts` into this; the
    engine, having asked `holds` first, calls it directly when it makes a write)."""
    held = holds(f, target_has, golden)
    if held is ON_CREATE:
        return _verdict((golden, decider, held, False, f"set when the {target} account was created", False, False))
    if held is IF_EMPTY:
        return _verdict((golden, decider, held, False, f"{target} is not known to be blank", False, False))
    if held is KEPT:
        return _verdict((golden, decider, held, False, f"{decider} is blank; {target} keeps its value "
                                                      "(on_blank: keep)", False, False))
    rule = context
    if rule is OVERWRITTEN:
        reason = f"{decider} is the source; {target}'s edit overwritten"
    elif rule is RE_ASSERTED:
        reason = f"{decider} synced this record; {target} brought back in line"
    elif rule is FILLED:
        reason = f"{target} was blank; filled from {decider}"
    elif rule is REALIGNED:
        reason = f"{target} realigned with {decider}"
    else:
        reason = str(rule)
    recorded = rule is not PROPAGATED and rule is not CONFLICT  # those are recorded where they were decided
    return _verdict((golden, decider, rule, rule is CONFLICT, reason, True, recorded))
