"""The engine's short cuts (bench/engine_throughput.py) decide exactly what the long way decides.

- the observation digest: the same for equal reads whatever their objects' identity, different for any change;
- a one-argument normaliser (`normalize.pair`) gives what `chain(specs)(v, False)` gives, for every kind of value;
- a re-read whose plain attributes are compared all at once still finds each change, blank and write landing.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from peoplesync import normalize
from peoplesync.config import compile_config, load_config
from peoplesync.engine import Engine, observation_digest
from peoplesync.model import Observation, RecordState

VALUES: list[Any] = [None, "", " ", "x", " Mixed Case ", "a  b", "+1 (317) 555-0100", "+13175550100", "2024-03-01",
                     "2024-03-01T10:00:00Z", 0, 7, 1.5, True, False, ["a", "b"], ("B", "a"), [], (), ["", None],
                     datetime.date(2024, 3, 1)]
SPECS = [[], ["trim"], ["lower"], ["trim", "lower"], ["e164"], ["collapse", "upper"], ["digits"], ["date"]]


@pytest.mark.parametrize("specs", SPECS, ids=lambda s: "+".join(s) or "none")
def test_the_one_argument_normaliser_gives_what_the_chain_gives(specs: list[str]) -> None:
    both, one = normalize.pair(specs)
    reference = normalize.chain(specs)
    for v in VALUES:
        assert one(v) == both(v, False) == reference(v, False), v


def _obs(attrs: dict[str, Any], **kw: Any) -> Observation:
    return Observation("hr", "k1", attrs, **kw)


def test_equal_reads_have_one_digest_whatever_their_objects() -> None:
    built = {"name": "".join(["Ad", "a"]), "mail": "ada@example.org", "n": 1, "tags": ("a", "b")}
    decoded = json.loads(json.dumps({"name": "Ada", "mail": "ada@example.org", "n": 1, "tags": ["a", "b"]}))
    decoded["tags"] = tuple(decoded["tags"])
    assert observation_digest(_obs(built)) == observation_digest(_obs(decoded))


def test_any_change_to_a_read_changes_its_digest() -> None:
    base = {"name": "Ada", "mail": None, "n": 1}
    digests = {observation_digest(o) for o in (
        _obs(base), _obs({**base, "name": "Ada "}), _obs({**base, "mail": ""}), _obs({**base, "n": True}),
        _obs({**base, "n": 1.0}), _obs({"name": "Ada", "n": 1}), _obs(base, active=False), _obs(base, removed=True),
        _obs({"mail": None, "name": "Ada", "n": 1}))}
    assert len(digests) == 9


def test_a_value_marshal_cannot_write_still_has_a_stable_digest() -> None:
    class Name(str):
        pass

    a = _obs({"name": Name("Ada"), "born": datetime.date(1815, 12, 10)})
    b = _obs({"name": Name("Ada"), "born": datetime.date(1815, 12, 10)})
    c = _obs({"name": Name("Ada"), "born": datetime.date(1815, 12, 11)})
    assert observation_digest(a) == observation_digest(b) != observation_digest(c)


CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"}},
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "id", "ad": "id"}},
        "name": {"source": "hr", "map": {"hr": "name", "ad": "displayName"}},
        "title": {"source": "hr", "map": {"hr": "title", "ad": "title"}},
        "mail": {"source": "hr", "normalize": ["trim", "lower"], "map": {"hr": "mail", "ad": "mail"}},
    },
    "match": ["employee_id"],
}


class _Index:
    def by_link(self, kind: str, system: str, key: str) -> None:
        return None

    def by_ref(self, kind: str, system: str, ref: str) -> None:
        return None

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        return set()

    def ref_of(self, record_id: str, system: str) -> None:
        return None

    def value_of(self, record_id: str, field: str) -> None:
        return None


def _linked() -> tuple[Engine, RecordState]:
    engine = Engine(compile_config(load_config(CONFIG)))
    state = RecordState("p-1")
    attrs = {"id": "E1", "name": "Ada", "title": "Eng", "mail": "ADA@X.ORG"}
    engine.observe(state, Observation("hr", "h1", attrs, marker=1), _Index())
    engine.observe(state, Observation("ad", "a1", {"id": "E1", "displayName": "Ada", "title": "Eng",
                                                   "mail": "ada@x.org"}, marker=1), _Index())
    return engine, state


@pytest.mark.parametrize(("attrs", "golden"), [
    ({"id": "E1", "name": "Ada L", "title": "Eng", "mail": "ADA@X.ORG"}, {"name": "Ada L"}),
    ({"id": "E1", "name": "Ada", "title": "", "mail": "ADA@X.ORG"}, {"title": None}),
    ({"id": "E1", "name": "Ada", "title": None, "mail": "ADA@X.ORG"}, {"title": None}),
    ({"id": "E1", "name": "Ada", "title": "Eng", "mail": " ada@y.org"}, {"mail": "ada@y.org"}),
    ({"name": "Ada", "title": "Lead"}, {"title": "Lead", "employee_id": "E1"}),  # a partial read
    ({"id": "E1", "name": "Ada", "title": "Eng", "mail": "ADA@X.ORG", "extra": "x"}, {}),  # unmapped: nothing
])
def test_a_re_read_finds_each_change_the_long_way_finds(attrs: dict[str, Any], golden: dict[str, Any]) -> None:
    engine, state = _linked()
    before = dict(state.golden)
    out = engine.observe(state, Observation("hr", "h1", attrs, marker=2), _Index())
    assert state.golden == {**before, **golden}
    moved = {name for name in golden if before.get(name) != golden[name]}
    assert {d.field for d in out.decisions} == moved
    written = {name for name in moved if golden[name] is not None}  # a blank is not written (on_blank: keep)
    assert set(state.shadows["ad"].pending) == {a for a in ("displayName", "title", "mail")
                                                if {"displayName": "name"}.get(a, a) in written}


def test_a_write_landing_in_a_re_read_of_plain_attributes_is_no_edit() -> None:
    engine, state = _linked()
    engine.observe(state, Observation("hr", "h1", {"id": "E1", "name": "Ada L", "title": "Eng", "mail": "ADA@X.ORG"},
                                      marker=2), _Index())
    assert state.shadows["ad"].pending == {"displayName": "Ada L"}
    out = engine.observe(state, Observation("ad", "a1", {"id": "E1", "displayName": "Ada L", "title": "Eng",
                                                         "mail": "ada@x.org"}, marker=2), _Index())
    assert state.shadows["ad"].pending == {} and out.decisions == [] and not out.writes
    again = engine.observe(state, Observation("ad", "a1", {"id": "E1", "displayName": "Ada L", "title": "Boss",
                                                           "mail": "ada@x.org"}, marker=3), _Index())
    assert state.shadows["ad"].pending == {"title": "Eng"} and again.writes == {"ad"}
