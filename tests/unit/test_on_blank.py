"""`on_blank`: a source that blanks a value clears it in the targets only where the field says `clear`; by
default (`keep`) the targets keep what they hold. Multi-valued fields default to `clear` (an emptied group
empties its copies). An attribute absent from a read is no blank (tests/integration/test_capabilities_csv.py
shows it with a CSV file that lacks the column)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peoplesync.config import ConfigError, compile_config, load_config
from tests.unit.conftest import World

CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                "cloud": {"connector": "memory"}},
    "fields": {"id": {"source": "hr", "map": {"hr": "id", "ad": "id", "cloud": "id"}},
               "phone": {"source": "hr", "normalize": "trim", "map": {"hr": "phone", "ad": "tel", "cloud": "tel"}},
               "mobile": {"source": ["ad", "cloud"], "winner": "ad", "map": {"ad": "mobile", "cloud": "mobile"}}},
    "match": ["id"], "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None},
}


def world(**phone: Any) -> World:
    config = copy.deepcopy(CONFIG)
    config["fields"]["phone"].update(phone)
    w = World(config)
    w["hr"].put("h1", id="E1", phone="+1 555 0100")
    w["ad"].put("a1", id="E1", tel="+1 555 0100", mobile="+1 555 0199")
    w["cloud"].put("c1", id="E1", tel="+1 555 0100", mobile="+1 555 0199")
    assert w.sync().total_writes == 0
    return w


def test_by_default_a_source_blanking_a_value_leaves_the_targets_theirs() -> None:
    w = world()
    w["hr"].set("h1", phone="")

    report = w.sync()

    assert report.total_writes == 0 and report.dead_letters == 0
    assert w["ad"].get("a1", "tel") == "+1 555 0100" and w["cloud"].get("c1", "tel") == "+1 555 0100"
    assert w.record_of("hr", "h1").golden["phone"] in (None, "")  # the agreed value is what HR says: blank
    assert w.sync(full=True).total_writes == 0  # and a full pass does not clear them either


def test_a_value_given_again_after_a_blank_is_written() -> None:
    w = world()
    w["hr"].set("h1", phone="")
    w.sync()
    w["hr"].set("h1", phone="+1 555 0111")
    assert w.sync().writes == {"ad": 1, "cloud": 1}
    assert w["ad"].get("a1", "tel") == "+1 555 0111"


def test_on_blank_clear_clears_the_targets() -> None:
    w = world(on_blank="clear")
    w["hr"].set("h1", phone=None)

    assert w.sync().writes == {"ad": 1, "cloud": 1}
    assert w["ad"].get("a1", "tel") in (None, "") and w["cloud"].get("c1", "tel") in (None, "")
    assert w.sync().total_writes == 0


def test_a_two_way_field_blanked_on_one_side_keeps_the_other_side() -> None:
    w = world()
    w["ad"].set("a1", mobile="")
    assert w.sync().total_writes == 0
    assert w["cloud"].get("c1", "mobile") == "+1 555 0199"
    assert w.sync(full=True).total_writes == 0


def test_the_default_and_its_fingerprint() -> None:
    def plan(**fields: dict[str, Any]) -> Any:
        config = copy.deepcopy(CONFIG)
        for name, extra in fields.items():
            config["fields"][name].update(extra)
        return compile_config(load_config(config))

    unset = plan()
    assert unset.fields["person"]["phone"].keep_blank
    assert plan(phone={"on_blank": "keep"}).fingerprint == unset.fingerprint  # the default, said: no remap
    assert plan(phone={"on_blank": "clear"}).fingerprint != unset.fingerprint  # a change of meaning: remap
    assert not plan(phone={"on_blank": "clear"}).fields["person"]["phone"].keep_blank
    members = plan(mobile={"multi": True}).fields["person"]["mobile"]
    assert not members.keep_blank  # a set emptied at its source is emptied in its copies


def test_an_unknown_on_blank_names_its_path() -> None:
    config = copy.deepcopy(CONFIG)
    config["fields"]["phone"]["on_blank"] = "erase"
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.problems[0][0] == "fields.phone.on_blank"
