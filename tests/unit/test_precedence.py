"""Precedence (`peoplesync.engine.precedence.decide`): every rule of its docstring, in its order, table-driven;
plus properties over random facts (derandomized by tests/conftest.py, like test_properties)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peoplesync.config import FieldPlan
from peoplesync.engine import MISSING, Facts, Verdict, decide
from peoplesync.engine.precedence import agrees, for_target, from_change, from_shadows, holds, repick, stands
from peoplesync.model import ApplyMode, Decision, Rule, decision


def field(*sources: str, apply: ApplyMode = ApplyMode.ALWAYS, keep_blank: bool = False) -> FieldPlan:
    """A field with `sources` in priority order (winner first), mapped in every source and in `cloud`;
    `keep_blank`: `on_blank: keep`."""
    systems = dict.fromkeys((*sources, "cloud", "idp"), "attr")
    return FieldPlan(name="phone", kind="person", sources=sources, winner=sources[0], map=systems, apply=apply,
                     norm=lambda v, multi: v, multi=False, reference=None, ref_by={}, push=False, fingerprint="",
                     keep_blank=keep_blank)


ONE = field("ad")
TWO = field("ad", "cloud")  # ad is the winner
THREE = field("hr", "ad", "cloud")
KEEP = field("hr", keep_blank=True)


# (id, field, facts, expected rule, value, deciding system, conflict, moves, recorded)
CASES: list[tuple[str, FieldPlan, Facts, Rule, Any, str | None, bool, bool, bool]] = [
    # --- a source changed: rules 1-5 ---
    ("1 agreed: the source shows the golden value", TWO,
     Facts("a", "ad", "cloud", "a", concurrent=True), Rule.AGREED, "a", "ad", False, False, False),
    ("1 agreed before 2: a first blank that equals a blank golden value", TWO,
     Facts(None, "ad", "cloud", None, first=True), Rule.AGREED, None, "ad", False, False, False),
    ("2 filled: a newly linked blank source of a two-way field", TWO,
     Facts("a", "ad", "cloud", None, first=True), Rule.FILLED, "a", "ad", False, False, False),
    ("2 kept: a newly linked blank source, no golden value yet", TWO,
     Facts(MISSING, None, "cloud", None, first=True), Rule.KEPT, MISSING, None, False, False, False),
    ("5 source: blankness is judged on the read, not on the resolved value", TWO,
     Facts("a", "ad", "cloud", (), first=True, read=("cn=x",)), Rule.SOURCE, (), "cloud", False, True, True),
    ("3 conflict: the decider outranks the changed source and prevails", TWO,
     Facts("a", "ad", "cloud", "c", concurrent=True), Rule.CONFLICT, "a", "ad", True, False, True),
    ("3 conflict: priority beyond the winner follows the listed order", THREE,
     Facts("a", "ad", "cloud", "c", concurrent=True), Rule.CONFLICT, "a", "ad", True, False, True),
    ("4 conflict: the changed source outranks the decider and prevails", TWO,
     Facts("c", "cloud", "ad", "a", concurrent=True), Rule.CONFLICT, "a", "ad", True, True, True),
    ("5 source: a two-way source's change, not concurrent", TWO,
     Facts("a", "ad", "cloud", "c"), Rule.SOURCE, "c", "cloud", False, True, True),
    ("5 source: concurrent with itself is no conflict", TWO,
     Facts("a", "cloud", "cloud", "c", concurrent=True), Rule.SOURCE, "c", "cloud", False, True, True),
    ("5 source: a decider that is no longer a source does not conflict", TWO,
     Facts("a", "hr", "cloud", "c", concurrent=True), Rule.SOURCE, "c", "cloud", False, True, True),
    ("5 source: a single source never conflicts", ONE,
     Facts("a", "ad", "ad", "b", concurrent=True), Rule.SOURCE, "b", "ad", False, True, True),
    ("5 source: a first value", ONE,
     Facts(MISSING, None, "ad", "b", first=True), Rule.SOURCE, "b", "ad", False, True, True),
    ("5 source: a first blank is set but is not news", ONE,
     Facts(MISSING, None, "ad", None, first=True), Rule.SOURCE, None, "ad", False, True, False),
    # --- a re-evaluation's pick: rules 6-7 ---
    ("6 agreed: the pick is the golden value and its decider a source", TWO,
     Facts("a", "ad", "ad", "a", reevaluating=True), Rule.AGREED, "a", "ad", False, False, False),
    ("7 re-evaluated: the decider is no longer a source", TWO,
     Facts("a", "hr", "ad", "a", reevaluating=True), Rule.RE_EVALUATED, "a", "ad", False, True, True),
    ("7 re-evaluated: no golden value yet", TWO,
     Facts(MISSING, None, "cloud", "c", reevaluating=True), Rule.RE_EVALUATED, "c", "cloud", False, True, True),
    # --- re-evaluation from the shadows: rules 8-9 ---
    ("8 kept: the decider is still a source and nothing waits", TWO,
     Facts("a", "cloud", shown={"ad": "x", "cloud": "y"}), Rule.KEPT, "a", "cloud", False, False, False),
    ("9 re-evaluated: the first source in priority order holding a value", TWO,
     Facts(MISSING, None, shown={"ad": "x", "cloud": "y"}), Rule.RE_EVALUATED, "x", "ad", False, True, True),
    ("9 re-evaluated: a blank winner yields to a source holding a value", TWO,
     Facts(MISSING, None, shown={"ad": None, "cloud": "y"}), Rule.RE_EVALUATED, "y", "cloud", False, True, True),
    ("9 re-evaluated: all blank, the first one's blank", TWO,
     Facts(MISSING, None, shown={"cloud": None, "ad": None}), Rule.RE_EVALUATED, None, "ad", False, True, True),
    ("9 re-evaluated: a waiting field is decided again", TWO,
     Facts("a", "ad", shown={"ad": "x"}, waiting=True), Rule.RE_EVALUATED, "x", "ad", False, True, True),
    ("9 re-evaluated: re-sourced (the decider is no longer a source)", TWO,
     Facts("a", "hr", shown={"cloud": "y"}), Rule.RE_EVALUATED, "y", "cloud", False, True, True),
    ("9 kept: no source read yet", TWO,
     Facts(MISSING, None, shown={}), Rule.KEPT, MISSING, None, False, False, False),
    # --- a target, by apply mode and on_blank: rules 10-13 ---
    ("10 on_create: never written after creation, even blank", field("hr", apply=ApplyMode.ON_CREATE),
     Facts("2020-01-01", "hr", target="cloud", target_has=None), Rule.ON_CREATE, "2020-01-01", "hr",
     False, False, False),
    ("11 if_empty: a value is never overwritten", field("hr", apply=ApplyMode.IF_EMPTY),
     Facts("Paris", "hr", target="cloud", target_has="Lyon"), Rule.IF_EMPTY, "Paris", "hr", False, False, False),
    ("11 if_empty: a target never read is not guessed blank", field("hr", apply=ApplyMode.IF_EMPTY),
     Facts("Paris", "hr", target="cloud"), Rule.IF_EMPTY, "Paris", "hr", False, False, False),
    ("11 if_empty: a blank read is filled", field("hr", apply=ApplyMode.IF_EMPTY),
     Facts("Paris", "hr", target="cloud", target_has="", context=Rule.FILLED), Rule.FILLED, "Paris", "hr",
     False, True, True),
    ("12 kept: on_blank: keep, a source's blank is not written over the target's value", KEEP,
     Facts("", "hr", target="cloud", target_has="+33 1", context=Rule.PROPAGATED), Rule.KEPT, "", "hr",
     False, False, False),
    ("12 kept: on_blank: keep, a target never read is not blanked either", KEEP,
     Facts(None, "hr", target="cloud", context=Rule.REALIGNED), Rule.KEPT, None, "hr", False, False, False),
    ("13 propagated: on_blank: clear, a source's blank clears the target", ONE,
     Facts("", "ad", target="cloud", target_has="+33 1", context=Rule.PROPAGATED), Rule.PROPAGATED, "", "ad",
     False, True, False),
    ("13 propagated: on_blank: keep moves a value that is not blank", KEEP,
     Facts("+33 2", "hr", target="cloud", target_has="+33 1", context=Rule.PROPAGATED), Rule.PROPAGATED,
     "+33 2", "hr", False, True, False),
    ("13 overwritten: a target's own edit is put back", ONE,
     Facts("a", "ad", target="cloud", target_has="b", context=Rule.OVERWRITTEN), Rule.OVERWRITTEN, "a", "ad",
     False, True, True),
    ("13 propagated: a source's change is sent on, not recorded twice", ONE,
     Facts("a", "ad", target="cloud", target_has="b", context=Rule.PROPAGATED), Rule.PROPAGATED, "a", "ad",
     False, True, False),
    ("13 conflict: the losing source is overwritten, not recorded twice", TWO,
     Facts("a", "ad", target="cloud", target_has="c", context=Rule.CONFLICT), Rule.CONFLICT, "a", "ad",
     True, True, False),
    ("13 re-asserted: a push source's sync", ONE,
     Facts("a", "ad", target="cloud", target_has="b", context=Rule.RE_ASSERTED), Rule.RE_ASSERTED, "a", "ad",
     False, True, True),
]


@pytest.mark.parametrize(("f", "facts", "rule", "value", "system", "conflict", "moves", "recorded"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_in_its_order(f: FieldPlan, facts: Facts, rule: Rule, value: Any, system: str | None,
                                conflict: bool, moves: bool, recorded: bool) -> None:
    verdict = decide(f, facts)
    assert (verdict.rule, verdict.system, verdict.conflict, verdict.moves, verdict.recorded) == (
        rule, system, conflict, moves, recorded)
    assert verdict.value is value or verdict.value == value
    assert verdict.reason and "\n" not in verdict.reason


def test_every_rule_of_the_docstring_is_exercised_by_the_table() -> None:
    numbers = {int(case[0].split()[0]) for case in CASES}
    assert numbers == set(range(1, 14))


def test_the_docstring_cites_the_spec_rows_it_implements() -> None:
    doc = decide.__doc__ or ""
    for row in ("SPEC row 4", "SPEC row 5", "SPEC row 19"):
        assert row in doc


def test_the_reasons_explain_in_one_line() -> None:
    lost = decide(TWO, Facts("a", "ad", "cloud", "c", concurrent=True))
    assert lost.reason == "ad and cloud both changed it; ad prevails over cloud's 'c'"
    won = decide(TWO, Facts("c", "cloud", "ad", "a", concurrent=True))
    assert won.reason == "ad and cloud both changed it; ad prevails (winner)"
    assert decide(ONE, Facts("a", "ad", target="cloud", target_has="b", context=Rule.OVERWRITTEN)).reason == \
        "ad is the source; cloud's edit overwritten"


def test_a_verdict_is_frozen() -> None:
    verdict = decide(ONE, Facts(MISSING, None, "ad", "b"))
    assert isinstance(verdict, Verdict)
    with pytest.raises(AttributeError):
        verdict.value = "c"  # type: ignore[misc]


# --- properties ---------------------------------------------------------------------------------------------
SOURCES = ("hr", "ad", "cloud")
VALUES = st.sampled_from([MISSING, None, "", "a", "b", "c"])
SYSTEMS = st.sampled_from((*SOURCES, "idp", None))


@st.composite
def question(draw: st.DrawFn) -> tuple[FieldPlan, Facts]:
    sources = tuple(draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True)))
    f = field(*sources, apply=draw(st.sampled_from(list(ApplyMode))), keep_blank=draw(st.booleans()))
    golden, decider = draw(VALUES), draw(SYSTEMS)
    kind = draw(st.sampled_from(["change", "pick", "shadows", "target"]))
    if kind == "shadows":
        shown = draw(st.dictionaries(st.sampled_from(SOURCES), VALUES.filter(lambda v: v is not MISSING)))
        return f, Facts(golden, decider, shown=shown, waiting=draw(st.booleans()))
    if kind == "target":
        return f, Facts(golden, decider, target="idp", target_has=draw(VALUES),
                        context=draw(st.sampled_from([Rule.OVERWRITTEN, Rule.PROPAGATED, Rule.FILLED])))
    value = draw(VALUES.filter(lambda v: v is not MISSING))
    return f, Facts(golden, decider, draw(st.sampled_from(sources)), value, draw(st.booleans()),
                    draw(st.booleans()), reevaluating=kind == "pick")


@settings(max_examples=300, deadline=None)
@given(question())
def test_decide_is_pure_and_repeatable(q: tuple[FieldPlan, Facts]) -> None:
    f, facts = q
    shown = dict(facts.shown) if facts.shown is not None else None
    first = decide(f, facts)
    assert decide(f, facts) == first
    assert (dict(facts.shown) if facts.shown is not None else None) == shown  # the facts are left as they were


@settings(max_examples=300, deadline=None)
@given(question())
def test_a_golden_value_only_ever_comes_from_a_source(q: tuple[FieldPlan, Facts]) -> None:
    f, facts = q
    verdict = decide(f, facts)
    if facts.target is not None:
        # a target is given the golden value or nothing; on_create never, if_empty only into a blank read
        # (add_only moves as always does: which members are removed is membership.py's, not precedence's)
        assert verdict.value is facts.golden
        if verdict.moves:
            assert f.apply in (ApplyMode.ALWAYS, ApplyMode.ADD_ONLY) or (
                f.apply == ApplyMode.IF_EMPTY and facts.target_has in (None, "", ()))
        return
    if verdict.moves:
        assert verdict.system in f.sources
        if facts.changed is not None:
            assert (verdict.system, verdict.value) == (facts.changed, facts.value)
        else:
            assert facts.shown is not None and verdict.value == facts.shown[verdict.system]
    else:
        assert verdict.value is facts.golden


@settings(max_examples=300, deadline=None)
@given(question())
def test_in_a_conflict_the_higher_priority_source_prevails(q: tuple[FieldPlan, Facts]) -> None:
    f, facts = q
    verdict = decide(f, facts)
    if not verdict.conflict or facts.target is not None:
        return
    assert facts.changed is not None and facts.decided_by is not None and facts.concurrent
    higher = min(facts.changed, facts.decided_by, key=f.sources.index)
    assert verdict.system == higher
    assert verdict.value == (facts.value if higher == facts.changed else facts.golden)
    assert verdict.moves == (higher == facts.changed)


@settings(max_examples=200, deadline=None)
@given(question())
def test_the_rule_predicates_asked_first_agree_with_decide(q: tuple[FieldPlan, Facts]) -> None:
    f, facts = q
    verdict = decide(f, facts)
    if facts.target is not None:
        assert (holds(f, facts.target_has, facts.golden) is None) == verdict.moves
        assert holds(f, facts.target_has, facts.golden) in (None, verdict.rule)
    elif facts.changed is None:
        if stands(f, facts.golden, facts.decided_by, facts.waiting):
            assert verdict.rule is Rule.KEPT and not verdict.moves
        else:  # re-evaluated from the first source read, if any was
            assert verdict.moves == any(s in f.sources for s in facts.shown or {})


@settings(max_examples=300, deadline=None)
@given(question())
def test_the_rule_groups_called_directly_give_decides_verdict(q: tuple[FieldPlan, Facts]) -> None:
    """The engine's hot paths skip `Facts` and call a group of rules with the facts as arguments: the verdict,
    reason included, is the one `decide` gives; and rule 1 asked first (`agrees`) stops only where decide would."""
    f, facts = q
    verdict = decide(f, facts)
    golden, decider = facts.golden, facts.decided_by
    if facts.target is not None:
        direct = for_target(f, golden, decider, facts.target, facts.target_has, facts.context)
    elif facts.changed is None:
        direct = from_shadows(f, golden, decider, facts.shown, facts.waiting)
    elif facts.reevaluating:
        direct = repick(f, golden, decider, facts.changed, facts.value)
    else:
        direct = from_change(f, golden, decider, facts.changed, facts.value, facts.concurrent, facts.first,
                             facts.read)
        assert agrees(golden, facts.value) == (verdict.rule is Rule.AGREED)
        if agrees(golden, facts.value):
            assert not verdict.moves and not verdict.recorded
    assert direct == verdict and type(direct) is Verdict


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(Rule)), VALUES.filter(lambda v: v is not MISSING), SYSTEMS, st.booleans(),
       st.text(max_size=5))
def test_the_engines_decision_factory_builds_the_same_decision(rule: Rule, new: Any, system: str | None,
                                                               conflict: bool, detail: str) -> None:
    fields = dict(record_id="r1", field="phone", old="a", new=new, rule=rule, system=system, conflict=conflict,
                  detail=detail)
    built = decision(**fields)  # type: ignore[arg-type]
    assert built == Decision(**fields)  # type: ignore[arg-type]
    assert all(hasattr(built, name) for name in Decision.__slots__)  # every field set (a new one too)
    assert decision(record_id="r1", field="f", old=None, new="x", rule=rule, system=None) == Decision(
        record_id="r1", field="f", old=None, new="x", rule=rule, system=None)
