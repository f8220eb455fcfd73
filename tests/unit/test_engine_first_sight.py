"""The engine's short cuts decide what its long way decides, on reads the bench never makes: every kind of field
(one source and several, references, `apply: on_create` / `if_empty`, `on_blank: keep` and `clear`, a set,
normalisers), values blank in each spelling, partial reads, accounts seen in any order, edits between reads,
writes delivered or not, an account deactivated.

Two engines see the same reads: one as made, one with its short cuts switched off (no first-sight table, so
a first read goes through `absorb_read` and `_decide`; no all-at-once comparison of plain attributes, so a
re-read is walked attribute by attribute). Every outcome, write owed and record must be the same."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from peoplesync.config import compile_config, load_config
from peoplesync.engine import Engine
from peoplesync.engine.correlation import UNMATCHED, correlate, new_record_id
from peoplesync.model import Observation, RecordState

CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                "cloud": {"connector": "memory"}},
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "id", "ad": "employeeID", "cloud": "empId"}},
        "mail": {"source": "hr", "normalize": ["trim", "lower"], "map": {"hr": "mail", "ad": "mail", "cloud": "email"}},
        "name": {"source": "hr", "normalize": "collapse", "map": {"hr": "name", "ad": "cn", "cloud": "name"}},
        "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
        "phone": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                  "map": {"ad": "tel", "cloud": "phone"}},
        "manager": {"source": "ad", "reference": "person", "map": {"ad": "manager", "cloud": "manager"}},
        "hired": {"source": "hr", "apply": "on_create", "map": {"hr": "hired", "cloud": "hired"}},
        "site": {"source": "hr", "apply": "if_empty", "map": {"hr": "site", "cloud": "site"}},
        "nick": {"source": "cloud", "on_blank": "clear", "map": {"cloud": "nick", "ad": "nick"}},
        "tags": {"source": "hr", "multi": True, "map": {"hr": "tags", "cloud": "tags"}},
        "room": {"source": "cloud", "map": {"cloud": "room", "ad": "room"}},
    },
    "match": ["employee_id", "mail"],
    "lifecycle": {"source": "hr"},
}
BLANKS: list[Any] = [None, "", "  "]


class _Index:
    """The engine's RecordIndex over dicts (what a store's index gives), re-indexed at each save."""

    def __init__(self) -> None:
        self.states: dict[str, RecordState] = {}

    def by_link(self, kind: str, system: str, key: str) -> str | None:
        return next((rid for rid, s in self.states.items() if system in s.shadows and s.shadows[system].key == key),
                    None)

    def by_ref(self, kind: str, system: str, ref: str) -> str | None:
        return next((rid for rid, s in self.states.items() if system in s.shadows
                     and (s.shadows[system].ref or s.shadows[system].key).lower() == ref.lower()), None)

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        return {rid for rid, s in self.states.items() if str(value) in map(str, s.keys.get(field, []))}

    def ref_of(self, record_id: str, system: str) -> str | None:
        shadow = self.states[record_id].shadows.get(system) if record_id in self.states else None
        return (shadow.ref or shadow.key) if shadow else None

    def value_of(self, record_id: str, field: str) -> Any:
        return self.states[record_id].golden.get(field)


def _read(rng: random.Random, system: str, i: int, people: int) -> Observation:
    def pick(*choices: Any) -> Any:
        return rng.choice([*choices, *BLANKS])

    boss = f"CN=P{rng.randrange(people)},DC=x" if system != "hr" else None
    attrs: dict[str, Any] = {
        "hr": {"id": f"E{i}", "mail": pick(f" P{i}@X.ORG ", f"p{i}@x.org"), "name": pick(f"Pat  {i}", f"Pat {i}"),
               "hired": pick("2020-01-01", "2021-02-03"), "site": pick("HQ", "Remote"),
               "tags": rng.choice([["a", "b"], ("b", "a"), [], None, "c"])},
        "ad": {"employeeID": pick(f"E{i}"), "mail": pick(f"p{i}@x.org"), "cn": pick(f"Pat {i}"),
               "title": pick("Eng", "Lead"), "tel": pick("+1 317 555 0100", "+13175550199"),
               "manager": pick(boss), "nick": pick("pj"), "room": pick("12")},
        "cloud": {"empId": pick(f"E{i}"), "email": pick(f"p{i}@x.org"), "name": pick(f"Pat {i}"),
                  "title": pick("Eng"), "phone": pick("+13175550100", "(317) 555-0142"), "manager": pick(boss),
                  "hired": pick("2020-01-01"), "site": pick("HQ"), "nick": pick("pj", "PJ"), "tags": pick(["a"]),
                  "room": pick("12", "14")},
    }[system]
    roll = rng.random()
    if roll < 0.15:  # a partial read (an event carrying some attributes)
        attrs = {k: v for k, v in attrs.items() if rng.random() < 0.6}
    elif roll < 0.3:  # one attribute missing
        attrs.pop(rng.choice(list(attrs)))
    elif roll < 0.45:  # the attributes in another order
        attrs = dict(rng.sample(list(attrs.items()), len(attrs)))
    ref = f"CN=P{i},DC=x" if system == "ad" else None
    return Observation(system, f"{system}-{i}", attrs, active=rng.random() > 0.1, marker=None, ref=ref)


def _again(rng: random.Random, last: dict[tuple[str, int], Observation], system: str, i: int, people: int
           ) -> Observation:
    """A read of account `i`: most often the last one again (as read, one attribute left out, one or two
    edited, in another order), else a new one."""
    before, roll = last.get((system, i)), rng.random()
    if before is None or roll < 0.3:
        obs = _read(rng, system, i, people)
    else:
        attrs = dict(before.attrs)
        if roll < 0.55 and attrs:
            attrs.pop(rng.choice(list(attrs)))
        elif roll < 0.9 and attrs:  # one or two edited, the order kept or not
            fresh = _read(rng, system, i, people).attrs
            for name in rng.sample(list(attrs), min(len(attrs), 1 if roll < 0.7 else 2)):
                attrs[name] = fresh.get(name)
            if roll >= 0.8:
                attrs = dict(rng.sample(list(attrs.items()), len(attrs)))
        obs = Observation(system, before.key, attrs, before.active, before.removed, None, before.ref)
    last[(system, i)] = obs
    return obs


def _long_way(engine: Engine) -> Engine:
    engine._first_tables = {}
    for reads in engine._reads.values():
        reads.plain = None
    return engine


def _run(engine: Engine, seed: int, people: int = 12, rounds: int = 5) -> list[str]:
    rng, index, said = random.Random(seed), _Index(), []
    plan = engine.plan
    last: dict[tuple[str, int], Observation] = {}
    for n in range(rounds):
        reads = [_again(rng, last, system, i, people) for i in range(people) for system in ("hr", "ad", "cloud")]
        rng.shuffle(reads)
        for obs in reads:
            m = correlate(plan, obs, index)
            if m.record_id is None and m.outcome != UNMATCHED:
                said.append(json.dumps([obs.key, m.outcome, list(m.candidates)]))
                continue
            state = index.states.get(m.record_id) if m.record_id else RecordState(
                new_record_id("person", obs.system, obs.key), fingerprint=plan.fingerprint)
            out = engine.observe(state, obs, index)
            index.states[state.id] = state
            said.append(json.dumps([obs.key, m.outcome, out.changed, out.stale, sorted(out.writes),
                                    [d.to_dict() for d in out.decisions], sorted(out.wake)], default=repr))
        for state in list(index.states.values()):  # deliver some of what is owed, confirm it
            for system in list(state.shadows):
                for write in engine.writes_for(state, system, index):
                    said.append(json.dumps(write.to_dict(), default=repr))
                    if rng.random() < 0.7 - 0.1 * n:
                        engine.confirm(state, write, None, index)
            said.append(json.dumps(state.to_dict(), default=repr))
    return said


@pytest.mark.parametrize("seed", range(12))
def test_the_short_cuts_decide_what_the_long_way_decides(seed: int) -> None:
    fast = _run(Engine(compile_config(load_config(CONFIG))), seed)
    slow = _run(_long_way(Engine(compile_config(load_config(CONFIG)))), seed)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert a == b


def test_the_comparison_is_no_empty_one() -> None:
    """The reads above reach the short cuts: first sights through the table, re-reads compared all at once."""
    engine = Engine(compile_config(load_config(CONFIG)))
    assert set(engine._first_tables) == {("hr", "person"), ("ad", "person"), ("cloud", "person")}
    said = "\n".join(_run(engine, 1))
    for rule in ("source", "filled", "conflict", "deferred", "lifecycle", "overwritten"):
        assert f'"rule": "{rule}"' in said, rule
