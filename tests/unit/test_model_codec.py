"""`RecordState` and `Shadow` back from their stored form (`from_dict`, which sets each field on a bare object
for speed): every field comes back, and a field missing from the stored form takes the dataclass's default, so
a record written by an earlier version (fewer keys) loads as it did."""

from __future__ import annotations

import dataclasses

from peoplesync.model import RecordState, Shadow


def _full() -> RecordState:
    shadow = Shadow(key="D-1", ref="cn=x", values={"name": "Zoë", "groups": ("a", "b")}, pending={"title": None},
                    seen_gen={"name": 3}, marker=17, active=False, removed=True, pending_state="deactivate",
                    digest="abc", added={"groups": ("a",)})
    return RecordState(id="p-1", kind="group", golden={"name": "Zoë", "tags": ("x", "y")}, gen={"name": 3},
                       decided_by={"name": "hr"}, shadows={"directory": shadow, "hr": Shadow(key="E1")},
                       active=False, removed=True, create_pending=["badges"], waiting={"manager": ["hr", "E2"]},
                       keys={"employee_id": ["E1"]}, fingerprint="f", version=4)


def test_given_a_record_with_every_field_set_then_it_comes_back_equal() -> None:
    state = _full()
    back = RecordState.from_dict(state.to_dict())
    assert back == state
    assert {f.name for f in dataclasses.fields(RecordState)} <= set(state.to_dict())  # each field is stored
    assert back.shadows["directory"].values["groups"] == ("a", "b")  # multi-valued: a tuple again


def test_given_a_stored_form_with_only_the_required_keys_then_the_defaults_are_taken() -> None:
    assert RecordState.from_dict({"id": "p-1"}) == RecordState(id="p-1")
    assert Shadow.from_dict({"key": "k"}) == Shadow(key="k")


def test_given_a_stored_form_then_the_loaded_record_shares_nothing_with_it() -> None:
    stored = _full().to_dict()
    back = RecordState.from_dict(stored)
    back.golden["name"] = "changed"
    back.gen["name"] = 9
    back.decided_by["name"] = "x"
    back.shadows["directory"].seen_gen["name"] = 9
    back.shadows["directory"].values["name"] = "changed"
    back.create_pending.append("x")
    back.waiting["manager"].append("x")
    back.keys["employee_id"].append("x")
    assert RecordState.from_dict(stored) == _full()


def test_given_a_record_written_for_a_json_writer_then_its_text_is_that_of_its_plain_form() -> None:
    """The SQLite store writes `to_dict(to_write=True)`, tuples left as they are: the same text either way (orjson
    and the standard library's), and read back to an equal record."""
    import json

    from peoplesync import fastjson

    state = _full()
    plain, as_is = state.to_dict(), state.to_dict(to_write=True)
    assert fastjson.dumps(as_is) == fastjson.dumps(plain)
    assert json.dumps(as_is) == json.dumps(plain)
    assert RecordState.from_dict(fastjson.loads(fastjson.dumps(as_is))) == state
    assert plain["golden"]["tags"] == ["x", "y"]  # the plain form still holds lists
