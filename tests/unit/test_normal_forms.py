"""A normal form normalises to itself, and a re-read is judged the same whether or not it is normalised again.

The engine rests on the first: a value we wrote is read back as written and must not look changed (no echo),
and a re-read showing exactly what the shadow holds is taken as unchanged without normalising it
(`freshness._others`). Checked here for every normaliser of the catalogue over generated text, phone-like text
and dates; and, through the engine, that a target showing its held value, another spelling of it, or a new value
is judged as before. A chain of normalisers need not settle (`[digits, e164:GB]` does not): `peoplesync
validate` warns of one, naming the field.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from peoplesync import normalize
from peoplesync.config import compile_config, load_config
from peoplesync.engine import Engine
from peoplesync.model import Observation, RecordState

NORMALISERS = ["trim", "lower", "upper", "collapse", "digits", "date", "e164", "e164:GB", "e164:DE", "e164:FR"]
PHONES = st.from_regex(r"[+(]?[0-9 ().\-]{0,18}(x|ext\.? ?)?[0-9]{0,5}", fullmatch=True)
TEXT = st.one_of(st.text(max_size=40), PHONES, st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()))


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(NORMALISERS), TEXT)
def test_every_normaliser_gives_a_form_that_normalises_to_itself(name: str, text: str) -> None:
    _, one = normalize.pair([name])
    once = one(text)
    if once is not None:
        assert one(once) == once


CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "dir": {"connector": "memory"}},
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "id", "dir": "emp"}},
        "email": {"source": "hr", "normalize": ["trim", "lower"], "map": {"hr": "mail", "dir": "mail"}},
        "phone": {"source": "hr", "normalize": "e164", "map": {"hr": "phone", "dir": "tel"}},
        "title": {"source": "hr", "map": {"hr": "title", "dir": "title"}},
    },
    "match": ["employee_id"],
}


def _engine_with_a_directory_account() -> tuple[Engine, RecordState]:
    engine = Engine(compile_config(load_config(CONFIG)))
    state = RecordState("p-1", fingerprint=engine.plan.fingerprint)
    hr = {"id": "E1", "mail": "Ada@Example.org", "phone": "+1 317 555 0100", "title": "Engineer"}
    engine.observe(state, Observation("hr", "h1", hr, marker=1), {})  # type: ignore[arg-type]
    held = {"emp": "E1", "mail": "ada@example.org", "tel": "+13175550100", "title": "Engineer"}
    out = engine.observe(state, Observation("dir", "d1", held, marker=1), {})  # type: ignore[arg-type]
    assert not out.writes and state.shadows["dir"].values == held  # the directory agrees from the start
    return engine, state


def _reread(engine: Engine, state: RecordState, marker: int, **changes: Any) -> Any:
    attrs = {"emp": "E1", "mail": "ada@example.org", "tel": "+13175550100", "title": "Engineer", **changes}
    return engine.observe(state, Observation("dir", "d1", attrs, marker=marker), {})  # type: ignore[arg-type]


def test_a_target_showing_what_it_holds_is_unchanged_whatever_else_moved() -> None:
    engine, state = _engine_with_a_directory_account()
    out = _reread(engine, state, 2, title="Boss")  # a plain attribute moved: the others are looked at one by one
    assert state.shadows["dir"].values["mail"] == "ada@example.org"
    assert state.shadows["dir"].values["tel"] == "+13175550100"
    assert [(w, state.shadows[w].pending) for w in out.writes] == [("dir", {"title": "Engineer"})]
    assert [d.field for d in out.decisions] == ["title"]


def test_another_spelling_of_the_held_value_is_normalised_and_changes_nothing() -> None:
    engine, state = _engine_with_a_directory_account()
    out = _reread(engine, state, 2, mail=" ADA@example.org ", tel="(317) 555-0100")
    assert not out.writes and not out.decisions
    assert state.shadows["dir"].values["mail"] == "ada@example.org"
    assert state.shadows["dir"].values["tel"] == "+13175550100"


def test_a_new_value_in_a_target_is_seen_and_overwritten() -> None:
    engine, state = _engine_with_a_directory_account()
    out = _reread(engine, state, 2, mail="someone@else.org", tel="+1 317 555 0199")
    assert state.shadows["dir"].pending == {"mail": "ada@example.org", "tel": "+13175550100"}
    assert sorted(d.field for d in out.decisions) == ["email", "phone"]
    assert all(d.rule == "overwritten" for d in out.decisions)


def _config_with_phone(steps: list[str]) -> dict[str, Any]:
    return {**CONFIG, "fields": {**CONFIG["fields"], "phone": {
        "source": "hr", "normalize": steps, "map": {"hr": "phone", "dir": "tel"}}}}


def test_validate_warns_of_a_chain_whose_result_normalises_to_something_else(tmp_path, capsys) -> None:
    import yaml

    from peoplesync import cli
    from peoplesync.config_checks import unsettled_normal_forms

    warned = unsettled_normal_forms(compile_config(load_config(_config_with_phone(["digits", "e164:GB"]))))
    assert warned == [("fields.phone.normalize", "'0000' becomes '+440000', which becomes '+44440000' when "
                       "normalised again: a value written there may look changed when read back, and be written "
                       "again at every sync (reorder or drop a step)")]
    path = tmp_path / "peoplesync.yaml"
    path.write_text(yaml.safe_dump(_config_with_phone(["digits", "e164:GB"])))
    assert cli.main(["validate", str(path)]) == 0  # a warning, not an error: the configuration still runs
    assert f"{path}: warning: fields.phone.normalize: '0000' becomes '+440000'" in capsys.readouterr().err


def test_the_usual_chains_are_not_warned_of() -> None:
    from peoplesync.config_checks import unsettled_normal_forms

    for steps in (["e164"], ["trim", "e164:GB"], ["digits"], ["collapse", "upper"], ["date"], ["trim", "lower"]):
        assert unsettled_normal_forms(compile_config(load_config(_config_with_phone(steps)))) == [], steps


def test_collapse_joins_every_run_of_whitespace_the_regex_would() -> None:
    """`collapse` once was `re.sub(r"\\s+", " ", v).strip()`; a name written with any Unicode space (a
    no-break space, an em space, a tab, a file separator) is still stored as before."""
    import re
    import sys

    spaces = re.compile(r"\s+")
    collapse = normalize.build("collapse")
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    for start in range(0, len(every), 4096):
        text = "a" + "  b ".join(every[start:start + 4096]) + " z "
        assert collapse(text) == spaces.sub(" ", text).strip()
