"""One behaviour suite for every `StateStore`: MemoryStore (the reference), SqliteStore and DynamoStore (moto).

Each test is written against the protocol only; the `store` fixture runs it once per implementation.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from peoplesync.adapters.dynamodb import DynamoStore, create_table
from peoplesync.adapters.memory import MemoryStore
from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import GROUP, PERSON, RecordState, Shadow
from peoplesync.ports import VersionConflict, digests_of


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "state.sqlite3")
        yield s
        s.close()
    else:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
            monkeypatch.setenv(name, value)
        with mock_aws():
            client = boto3.client("dynamodb", region_name="eu-west-1")
            create_table(client, "peoplesync-test")
            yield DynamoStore("peoplesync-test", client, sleep=lambda _: None)


def person(rid: str, **shadows: Shadow) -> RecordState:
    return RecordState(id=rid, golden={"title": "Engineer"}, shadows=dict(shadows))


# --- records ----------------------------------------------------------------------------------------------
def test_given_a_saved_record_when_loaded_then_everything_round_trips_at_the_next_version(store):
    state = RecordState(
        id="p1", golden={"title": "Engineer", "groups": ("a", "b"), "badge": 42, "active_since": None},
        gen={"title": 3}, decided_by={"title": "ad"},
        shadows={"ad": Shadow(key="u1", ref="CN=Ann,OU=Staff", values={"title": "Engineer", "groups": ("a",)},
                              pending={"mail": "ann@example.com"}, seen_gen={"title": 3}, marker=1234,
                              active=True, pending_state="activate", digest=987654321)},
        create_pending=["cloud"], waiting={"manager": ["ad", "CN=Bob"]}, keys={"employee_id": ["E1"]},
        fingerprint="abc123")

    store.save(state)

    assert state.version == 1
    loaded = store.load("p1")
    assert loaded is not None
    assert loaded.to_dict() == state.to_dict()
    assert loaded.golden["groups"] == ("a", "b")


def test_given_no_record_when_loaded_then_none(store):
    assert store.load("nobody") is None


def test_given_two_loads_of_one_record_when_both_save_then_the_second_is_refused_and_nothing_is_lost(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    first, second = store.load("p1"), store.load("p1")
    first.golden["title"] = "Manager"
    second.golden["phone"] = "+13175550100"

    store.save(first)
    with pytest.raises(VersionConflict):
        store.save(second)

    again = store.load("p1")
    assert again.golden == {"title": "Manager"} and again.version == 2
    again.golden["phone"] = "+13175550100"  # the loser re-reads and re-applies its change
    store.save(again)
    assert store.load("p1").golden == {"title": "Manager", "phone": "+13175550100"}


def test_given_a_new_record_saved_twice_from_version_zero_then_the_second_is_refused(store):
    store.save(person("p1"))
    with pytest.raises(VersionConflict):
        store.save(person("p1"))
    assert store.load("p1").version == 1


def test_given_records_of_two_kinds_when_listing_ids_then_each_kind_lists_its_own_in_order(store):
    for rid in ["p3", "p1", "p2"]:
        store.save(person(rid))
    store.save(RecordState(id="g1", kind=GROUP))

    assert list(store.all_ids(PERSON)) == ["p1", "p2", "p3"]
    assert list(store.all_ids(GROUP)) == ["g1"]
    assert list(store.all_ids("device")) == []
    assert (store.count(PERSON), store.count(GROUP), store.count("device")) == (3, 1, 0)
    with store.batch():  # inside a batch, as of its saves
        store.save(person("p4"))
        assert store.count(PERSON) == 4
    assert store.count(PERSON) == 4


# --- the index -------------------------------------------------------------------------------------------
def test_given_links_added_and_removed_by_saves_then_lookups_follow_the_latest_save(store):
    state = person("p1", ad=Shadow(key="u1", ref="CN=Ann,OU=Staff"), cloud=Shadow(key="c-9"))
    store.save(state)
    assert store.by_link(PERSON, "ad", "u1") == "p1"
    assert store.by_link(PERSON, "cloud", "c-9") == "p1"

    state.shadows.pop("cloud")
    state.shadows["badges"] = Shadow(key="B7")
    store.save(state)

    assert store.by_link(PERSON, "cloud", "c-9") is None
    assert store.by_ref(PERSON, "cloud", "c-9") is None
    assert store.by_link(PERSON, "badges", "B7") == "p1"
    assert store.by_link(PERSON, "ad", "u1") == "p1"
    assert store.by_link(GROUP, "ad", "u1") is None  # kinds do not share an index


def test_given_a_shadow_with_a_ref_then_it_is_found_by_ref_whatever_the_case(store):
    store.save(person("p1", ad=Shadow(key="u1", ref="CN=Ann Lee,OU=Staff,DC=corp"), cloud=Shadow(key="C-9")))

    assert store.by_ref(PERSON, "ad", "cn=ann lee,ou=staff,dc=corp") == "p1"
    assert store.by_ref(PERSON, "ad", "CN=ANN LEE,OU=STAFF,DC=CORP") == "p1"
    assert store.by_ref(PERSON, "cloud", "c-9") == "p1"  # no ref: the key stands for it
    assert store.ref_of("p1", "ad") == "CN=Ann Lee,OU=Staff,DC=corp"
    assert store.ref_of("p1", "cloud") == "C-9"
    assert store.ref_of("p1", "hr") is None
    assert store.ref_of("nobody", "ad") is None


def test_given_a_renamed_account_when_saved_then_the_old_ref_no_longer_finds_it(store):
    state = person("p1", ad=Shadow(key="u1", ref="CN=Ann,OU=Staff"))
    store.save(state)
    state.shadows["ad"].ref = "CN=Ann,OU=Managers"
    store.save(state)

    assert store.by_ref(PERSON, "ad", "cn=ann,ou=staff") is None
    assert store.by_ref(PERSON, "ad", "cn=ann,ou=managers") == "p1"


def test_given_a_ref_taken_over_by_another_record_when_the_first_moves_away_then_the_ref_stays_with_the_second(
        store):
    first = person("p1", ad=Shadow(key="u1", ref="CN=Desk,OU=Shared"))
    store.save(first)
    store.save(person("p2", ad=Shadow(key="u2", ref="cn=desk,ou=shared")))  # the newer save takes the ref
    assert store.by_ref(PERSON, "ad", "CN=Desk,OU=Shared") == "p2"

    first.shadows["ad"].ref = "CN=Ann,OU=Staff"
    store.save(first)

    assert store.by_ref(PERSON, "ad", "cn=desk,ou=shared") == "p2"
    assert store.by_ref(PERSON, "ad", "cn=ann,ou=staff") == "p1"


def test_given_identifying_values_then_records_are_found_by_value_until_the_value_changes(store):
    a = person("p1")
    a.keys = {"employee_id": ["E1"], "email.work": ["ann@example.com", "a.lee@example.com"]}
    b = person("p2")
    b.keys = {"email.work": ["ann@example.com"], "badge": [42]}
    store.save(a)
    store.save(b)

    assert store.by_value(PERSON, "employee_id", "E1") == {"p1"}
    assert store.by_value(PERSON, "email.work", "ann@example.com") == {"p1", "p2"}
    assert store.by_value(PERSON, "badge", 42) == {"p2"}
    assert store.by_value(PERSON, "badge", "42") == {"p2"}  # values are compared by their text
    assert store.by_value(GROUP, "badge", 42) == set()

    a.keys = {"employee_id": ["E2"]}
    store.save(a)

    assert store.by_value(PERSON, "employee_id", "E1") == set()
    assert store.by_value(PERSON, "employee_id", "E2") == {"p1"}
    assert store.by_value(PERSON, "email.work", "ann@example.com") == {"p2"}


@pytest.mark.parametrize("few", [True, False], ids=["few values", "many values"])
def test_given_a_batch_when_values_change_inside_then_by_value_answers_each_latest_save(store, few, monkeypatch):
    """Inside a batch SQLite answers a field of few values from a copy kept by the batch's saves
    (`sqlite_values.py`); one of many values is asked entry by entry. Both answer as the saves say."""
    monkeypatch.setattr("peoplesync.adapters.sqlite_values.SMALL", 100 if few else 2)
    for n in range(1, 5):
        state = person(f"p{n}")
        state.keys = {"waiting": [f"ad|e{n % 2}"], "employee_id": [f"E{n}"]}
        store.save(state)
    with store.batch():
        assert store.by_value(PERSON, "waiting", "ad|e1") == {"p1", "p3"}  # the copy made here, when few
        p1 = store.load("p1")
        p1.keys = {"waiting": ["ad|e0", "ad|e7"], "employee_id": ["E1"]}  # released one, took two
        store.save(p1)
        p5 = person("p5")
        p5.keys = {"waiting": ["ad|e1"]}
        store.save(p5)
        p3 = store.load("p3")
        p3.keys = {}
        store.save(p3)

        inside = [store.by_value(PERSON, "waiting", f"ad|e{n}") for n in (0, 1, 7)]
        assert inside == [{"p1", "p2", "p4"}, {"p5"}, {"p1"}]
        assert store.by_value(PERSON, "employee_id", "E3") == set() and store.by_value(GROUP, "waiting", "ad|e1") == set()
    assert [store.by_value(PERSON, "waiting", f"ad|e{n}") for n in (0, 1, 7)] == inside


def test_given_a_batch_undone_then_by_value_no_longer_finds_what_its_saves_indexed(store):
    store.save(person("p1"))
    with pytest.raises(RuntimeError), store.batch():
        assert store.by_value(PERSON, "waiting", "ad|e1") == set()
        state = person("p2")
        state.keys = {"waiting": ["ad|e1"]}
        store.save(state)
        assert store.by_value(PERSON, "waiting", "ad|e1") == {"p2"}
        raise RuntimeError("crash mid-chunk")

    # undone (SQLite) or kept (stores that write each save at once), and the next batch agrees
    found = store.by_value(PERSON, "waiting", "ad|e1")
    assert found == (set() if store.load("p2") is None else {"p2"})
    with store.batch():
        assert store.by_value(PERSON, "waiting", "ad|e1") == found


def test_given_golden_values_then_value_of_answers_tuples_for_sets_and_none_when_unknown(store):
    state = person("p1")
    state.golden["groups"] = ("a", "b")
    store.save(state)

    assert store.value_of("p1", "title") == "Engineer"
    assert store.value_of("p1", "groups") == ("a", "b")
    assert store.value_of("p1", "phone") is None
    assert store.value_of("nobody", "title") is None


def test_given_an_account_linked_to_one_record_when_another_claims_it_then_it_is_refused_and_nothing_changes(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    intruder = person("p2", ad=Shadow(key="u1"), cloud=Shadow(key="c-2"))
    intruder.keys = {"employee_id": ["E2"]}

    with pytest.raises(VersionConflict, match="already linked"):
        store.save(intruder)

    assert store.by_link(PERSON, "ad", "u1") == "p1"
    assert store.load("p2") is None
    assert store.by_link(PERSON, "cloud", "c-2") is None
    assert store.by_value(PERSON, "employee_id", "E2") == set()
    assert intruder.version == 0


def test_given_an_existing_record_claiming_a_taken_link_then_its_stored_state_is_untouched(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    other = person("p2", ad=Shadow(key="u2"))
    store.save(other)
    other.shadows["ad"] = Shadow(key="u1")

    with pytest.raises(VersionConflict):
        store.save(other)

    assert store.by_link(PERSON, "ad", "u1") == "p1"
    assert store.by_link(PERSON, "ad", "u2") == "p2"
    assert store.load("p2").shadows["ad"].key == "u2"


def test_given_a_link_released_by_one_record_then_another_can_take_it(store):
    first = person("p1", ad=Shadow(key="u1"))
    store.save(first)
    del first.shadows["ad"]
    store.save(first)

    store.save(person("p2", ad=Shadow(key="u1")))

    assert store.by_link(PERSON, "ad", "u1") == "p2"


# --- cursors, meta, reviews, decisions --------------------------------------------------------------------
def test_given_cursors_per_system_then_each_is_kept_and_can_be_cleared(store):
    assert store.get_cursor("ad") is None
    store.put_cursor("ad", "usn:1000")
    store.put_cursor("hr", "2026-01-01T00:00:00Z")
    store.put_cursor("ad", "usn:2000")

    assert store.get_cursor("ad") == "usn:2000"
    assert store.get_cursor("hr") == "2026-01-01T00:00:00Z"
    store.put_cursor("ad", None)
    assert store.get_cursor("ad") is None


def test_given_numbers_past_64_bits_in_a_record_then_they_load_exactly(store):
    """A SQL NUMERIC(38) column, an LDAP integer attribute: no store may round them (orjson reads them as floats)."""
    big, negative = 2**100 + 1, -(2**70) - 3
    store.save(RecordState(id="p1", golden={"account_number": big}, shadows={"sql": Shadow(
        key="1", values={"account_number": big, "balance": negative}, marker=2**65)}))
    state = store.load("p1")
    assert state.golden["account_number"] == big and state.shadows["sql"].values["balance"] == negative
    assert state.shadows["sql"].marker == 2**65 and type(state.golden["account_number"]) is int


def test_given_meta_saved_then_it_round_trips_and_the_stored_copy_is_not_shared(store):
    assert store.get_meta("fingerprint") is None
    value = {"plan": "abc", "counts": {"people": 3}, "at": 1.5}
    store.put_meta("fingerprint", value)
    value["plan"] = "changed after saving"

    got = store.get_meta("fingerprint")
    assert got == {"plan": "abc", "counts": {"people": 3}, "at": 1.5}
    got["plan"] = "changed after reading"
    assert store.get_meta("fingerprint")["plan"] == "abc"


def test_given_a_batch_then_meta_reads_inside_see_items_from_before_and_from_the_batch(store):
    store.put_meta("detached|person|ad|u1", {"by": "admin"})
    with store.batch():
        assert store.get_meta("detached|person|ad|u2") is None  # SQLite: from the names read once per batch
        assert store.get_meta("detached|person|ad|u1") == {"by": "admin"}
        store.put_meta("detached|person|ad|u2", {"by": "admin"})
        store.put_meta("detached|person|ad|u1", {"by": "someone else"})
        assert store.get_meta("detached|person|ad|u2") == {"by": "admin"}
        assert store.get_meta("detached|person|ad|u1") == {"by": "someone else"}
    assert store.get_meta("detached|person|ad|u2") == {"by": "admin"}
    with pytest.raises(RuntimeError), store.batch():
        store.put_meta("parked|p1|ad", {"owed": "x"})
        raise RuntimeError("crash mid-chunk")
    with store.batch():  # undone (SQLite) or kept (stores that write at once): the batch after agrees
        assert (store.get_meta("parked|p1|ad") is None) == isinstance(store, SqliteStore)


def test_given_review_items_then_they_are_listed_by_id_and_a_repeat_replaces(store):
    assert store.reviews() == []
    store.add_review("r2", {"reason": "ambiguous", "candidates": ["p1", "p2"]})
    store.add_review("r1", {"reason": "guard"})
    store.add_review("r2", {"reason": "ambiguous", "candidates": ["p1", "p3"]})

    assert store.reviews() == [
        {"id": "r1", "reason": "guard"},
        {"id": "r2", "reason": "ambiguous", "candidates": ["p1", "p3"]},
    ]


def test_given_a_review_item_removed_then_it_is_no_longer_listed_and_removing_again_is_harmless(store):
    store.add_review("hold:hr:1", {"reason": "guard"})
    store.add_review("hold:hr:2", {"reason": "guard"})
    store.remove_review("hold:hr:1")
    store.remove_review("hold:hr:1")
    assert [r["id"] for r in store.reviews()] == ["hold:hr:2"]


def test_given_decisions_recorded_twice_then_they_come_back_in_order_with_their_time_and_by_field(store):
    store.record_decisions("p1", [
        {"field": "title", "old": None, "new": "Engineer", "rule": "source", "system": "ad"},
        {"field": "phone", "old": None, "new": "+13175550100", "rule": "source", "system": "ad"},
    ], at=100.0)
    store.record_decisions("p1", [
        {"field": "title", "old": "Engineer", "new": "Manager", "rule": "source", "system": "ad"},
    ], at=200.5)
    store.record_decisions("p2", [{"field": "title", "old": None, "new": "CEO", "rule": "source",
                                   "system": "ad"}], at=300.0)

    all_p1 = store.decisions("p1")
    assert [(d["field"], d["new"], d["at"]) for d in all_p1] == [
        ("title", "Engineer", 100.0), ("phone", "+13175550100", 100.0), ("title", "Manager", 200.5)]
    assert [d["new"] for d in store.decisions("p1", "title")] == ["Engineer", "Manager"]
    assert store.decisions("p1", "mobile") == []
    assert store.decisions("nobody") == []


def test_given_recorded_decisions_when_the_caller_changes_what_it_passed_or_got_then_the_trail_is_unchanged(store):
    decision = {"field": "groups", "old": ["a"], "new": ["a", "b"], "rule": "source", "system": "ad"}
    store.record_decisions("p1", [decision], at=1.0)
    decision["new"].append("changed after recording")

    got = store.decisions("p1")
    got[0]["new"].append("changed after reading")
    got[0]["rule"] = "changed after reading"

    assert store.decisions("p1") == [dict(field="groups", old=["a"], new=["a", "b"], rule="source", system="ad",
                                          at=1.0)]


# --- batches: load_many and batch ------------------------------------------------------------------------
def test_given_saved_records_when_loaded_together_then_each_is_there_and_missing_ones_are_absent(store):
    for n in range(3):
        store.save(person(f"p{n}", ad=Shadow(key=f"u{n}")))

    loaded = store.load_many(["p2", "p0", "nobody", "p0"])

    assert sorted(loaded) == ["p0", "p2"]
    assert loaded["p2"].shadows["ad"].key == "u2" and loaded["p2"].version == 1


def test_given_a_batch_when_saves_are_made_inside_then_reads_inside_and_after_see_them(store):
    with store.batch():
        store.save(person("p1", ad=Shadow(key="u1")))
        again = store.load("p1")
        assert again is not None and again.version == 1
        assert store.by_link(PERSON, "ad", "u1") == "p1"
        again.shadows["ad"] = Shadow(key="u9")
        store.save(again)
        store.record_decisions("p1", [{"field": "title", "rule": "source"}], at=1.0)

    assert store.load("p1").version == 2
    assert store.by_link(PERSON, "ad", "u9") == "p1" and store.by_link(PERSON, "ad", "u1") is None
    assert [d["rule"] for d in store.decisions("p1")] == ["source"]


def test_given_a_batch_when_a_save_loses_a_race_inside_then_it_is_refused_and_the_others_stand(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    stale = store.load("p1")
    with store.batch():
        fresh = store.load("p1")
        fresh.golden["title"] = "Manager"
        store.save(fresh)
        with pytest.raises(VersionConflict):
            store.save(stale)
        store.save(person("p2", ad=Shadow(key="u2")))
        with pytest.raises(VersionConflict):  # u2 is p2's: a link is never taken from the record holding it
            store.save(person("p3", ad=Shadow(key="u2")))

    assert store.load("p1").golden["title"] == "Manager"
    assert store.by_link(PERSON, "ad", "u2") == "p2" and store.load("p3") is None


def test_given_a_batch_when_an_error_leaves_it_then_the_error_reaches_the_caller_and_earlier_work_stands(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    with pytest.raises(RuntimeError), store.batch():
        store.save(person("p2", ad=Shadow(key="u2")))
        raise RuntimeError("crash mid-chunk")

    # the block's saves are all undone (SQLite) or all kept (stores that write each save at once): never half
    p2 = store.load("p2")
    assert (p2 is None and store.by_link(PERSON, "ad", "u2") is None) or \
        (p2 is not None and store.by_link(PERSON, "ad", "u2") == "p2")
    assert store.load("p1").version == 1
    store.save(person("p3", ad=Shadow(key="u3")))  # the store is usable afterwards
    assert store.by_link(PERSON, "ad", "u3") == "p3"


def test_given_a_batch_when_a_record_changes_inside_then_ref_of_and_value_of_answer_its_latest_save(store):
    store.save(person("p1", ad=Shadow(key="u1", ref="CN=Ann,OU=Staff")))
    with store.batch():
        assert store.ref_of("p1", "ad") == "CN=Ann,OU=Staff" and store.value_of("p1", "title") == "Engineer"
        state = store.load("p1")
        state.shadows["ad"].ref = "CN=Ann,OU=Managers"
        state.golden["title"] = "Manager"
        store.save(state)
        state.golden["title"] = "changed after the save, never saved"
        assert store.ref_of("p1", "ad") == "CN=Ann,OU=Managers" and store.value_of("p1", "title") == "Manager"
        assert store.ref_of("p1", "cloud") is None and store.ref_of("nobody", "ad") is None
    assert store.ref_of("p1", "ad") == "CN=Ann,OU=Managers" and store.value_of("p1", "title") == "Manager"


def test_given_records_linked_in_several_systems_then_linked_ids_lists_at_least_those_linked_in_one(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    store.save(person("p2", cloud=Shadow(key="c2")))
    store.save(person("p3", ad=Shadow(key="u3"), cloud=Shadow(key="c3")))
    store.save(RecordState(id="g1", kind=GROUP, shadows={"ad": Shadow(key="G1")}))
    moved = store.load("p1")
    moved.shadows = {"cloud": Shadow(key="c1")}  # unlinked from ad since
    store.save(moved)

    listed = list(store.linked_ids(PERSON, "ad"))

    assert listed == ["p3"]


def test_given_accounts_linked_removed_and_moved_then_linked_accounts_names_those_a_complete_read_must_list(store):
    store.save(person("p1", ad=Shadow(key="u1")))
    store.save(person("p2", cloud=Shadow(key="c2")))
    store.save(person("p3", ad=Shadow(key="u3"), cloud=Shadow(key="c3")))
    store.save(person("p4", ad=Shadow(key="u4", active=False, removed=True)))  # already concluded gone
    store.save(person("p0", ad=Shadow(key="u0")))
    store.save(RecordState(id="g1", kind=GROUP, shadows={"ad": Shadow(key="G1")}))
    moved = store.load("p1")
    moved.shadows = {"cloud": Shadow(key="c1")}  # unlinked from ad since
    store.save(moved)
    gone = store.load("p0")
    gone.shadows["ad"].removed = True  # concluded gone since
    store.save(gone)
    back = store.load("p4")
    back.shadows["ad"] = Shadow(key="u4b", active=True)  # linked again, to another account
    store.save(back)

    assert list(store.linked_accounts(PERSON, "ad")) == [("p3", "u3"), ("p4", "u4b")]  # in record id order
    assert list(store.linked_accounts(PERSON, "ad", after="p3")) == [("p4", "u4b")]  # a piece going on
    assert list(store.linked_accounts(GROUP, "ad")) == [("g1", "G1")]
    assert list(store.linked_accounts(PERSON, "badges")) == []


# --- the digest index (the poll's pre-screen) ------------------------------------------------------------
def test_given_saved_records_then_link_digests_answer_each_link_as_its_record_says_in_full(store):
    settled = Shadow(key="u1", values={"title": "Engineer", "phone": "+13175550101"}, active=True, digest="d1")
    owing = Shadow(key="u2", values={"title": "Clerk"}, pending={"title": "Nurse"}, active=True, digest="d2")
    gone = Shadow(key="u3", active=False, removed=True, digest="d3")
    store.save(person("p1", ad=settled, cloud=Shadow(key="c1", active=True, digest="c")))
    store.save(person("p2", ad=owing))
    store.save(person("p3", ad=gone))
    store.save(RecordState(id="g1", kind=GROUP, shadows={"ad": Shadow(key="G1", active=True, digest="g")}))

    found = store.link_digests(PERSON, "ad")

    expected = {s.key: digests_of(store.load(rid))[(PERSON, "ad", s.key)]
                for rid, s in (("p1", settled), ("p2", owing), ("p3", gone))}
    assert found == expected
    assert found["u1"].record == "p1" and len(found["u1"].read) == 32 and len(found["u1"].settled) == 32
    assert found["u2"].read is None and found["u2"].settled is None  # a record that owes a write: always news
    assert found["u3"].removed and found["u3"].settled is None
    assert store.link_digests(PERSON, "ad", ["u1", "u9"]) == {"u1": expected["u1"]}
    assert list(store.link_digests(GROUP, "ad")) == ["G1"]


def test_given_a_record_saved_again_then_its_link_digests_follow_the_latest_save(store):
    store.save(person("p1", ad=Shadow(key="u1", values={"title": "Engineer"}, active=True, digest="d1")))
    first = store.link_digests(PERSON, "ad")["u1"]
    state = store.load("p1")
    state.shadows["ad"].values["title"] = "Engineers"  # one letter more: another digest, whatever it shares
    state.shadows["ad"].digest = None  # written by us: the next read is news by its read digest
    store.save(state)
    renamed = store.load("p1")
    renamed.shadows = {"ad": Shadow(key="u1b", values={"title": "Engineers"}, active=True)}
    store.save(renamed)

    after = store.link_digests(PERSON, "ad")

    assert set(after) == {"u1b"}  # the old account's digests went with its link
    assert after["u1b"].settled not in (None, first.settled) and after["u1b"].read is None
    assert after["u1b"] == digests_of(store.load("p1"))[(PERSON, "ad", "u1b")]


# --- the outbox at a glance (a delivery's pre-check) ------------------------------------------------------
def test_given_records_owing_writes_then_owing_names_at_least_them_as_of_their_latest_save(store):
    store.save(person("p1", ad=Shadow(key="u1", pending={"title": "Nurse"})))  # an attribute owed to ad
    store.save(person("p2", ad=Shadow(key="u2", pending_state="deactivate")))  # a state change owed to ad
    store.save(RecordState(id="p3", create_pending=["ad", "cloud"]))  # accounts to create in both
    store.save(person("p4", ad=Shadow(key="u4"), cloud=Shadow(key="c4", pending={"title": "Nurse"})))
    done = store.load("p1")
    done.shadows["ad"].pending = {}  # confirmed since: owes nothing any more
    store.save(done)
    ids = ["p1", "p2", "p3", "p4", "p9"]

    on_ad, on_cloud = store.owing("ad", ids), store.owing("cloud", ids)

    assert {"p2", "p3"} <= on_ad and {"p3", "p4"} <= on_cloud
    assert on_ad <= set(ids) and on_cloud <= set(ids)
    if not isinstance(store, DynamoStore):  # it cannot tell without loading: every one (LoadedLookups.owing)
        assert on_ad == {"p2", "p3"} and on_cloud == {"p3", "p4"}
    with store.batch():  # inside a batch, as of the batch's saves
        linked = store.load("p3")
        linked.shadows["ad"] = Shadow(key="u3")  # its ad account was found: nothing to create there
        store.save(linked)
        assert "p3" in store.owing("cloud", ["p3"])
        if not isinstance(store, DynamoStore):
            assert store.owing("ad", ["p3"]) == set()


# --- inside a batch: what is saved is seen at once, whether or not the store has written it yet ------------
def test_given_a_link_moved_between_records_inside_a_batch_then_lookups_inside_and_after_follow_it(store):
    store.save(person("p1", ad=Shadow(key="u1", ref="CN=Ann")))
    with store.batch():
        p1 = store.load("p1")
        p1.shadows = {"ad": Shadow(key="u7", ref="CN=Ann Lee")}  # p1's account renamed: u1 released
        store.save(p1)
        store.save(person("p2", ad=Shadow(key="u1", ref="CN=Bob")))  # taken by p2 in the same batch
        with pytest.raises(VersionConflict):  # and refused to a third, whether or not written yet
            store.save(person("p3", ad=Shadow(key="u1")))
        inside = (store.by_link(PERSON, "ad", "u1"), store.by_link(PERSON, "ad", "u7"),
                  store.by_ref(PERSON, "ad", "cn=ann"), store.by_ref(PERSON, "ad", "CN=ANN LEE"),
                  store.by_ref(PERSON, "ad", "cn=bob"), store.ref_of("p1", "ad"), store.load("p3"))
        assert inside == ("p2", "p1", None, "p1", "p2", "CN=Ann Lee", None)

    assert (store.by_link(PERSON, "ad", "u1"), store.by_link(PERSON, "ad", "u7"),
            store.by_ref(PERSON, "ad", "cn=ann"), store.by_ref(PERSON, "ad", "CN=ANN LEE"),
            store.by_ref(PERSON, "ad", "cn=bob"), store.ref_of("p1", "ad"), store.load("p3")) == inside
    assert sorted(store.linked_ids(PERSON, "ad")) == ["p1", "p2"]


def test_given_records_saved_inside_a_batch_then_listings_and_digests_inside_it_include_them(store):
    store.save(person("p1", ad=Shadow(key="u1", values={"title": "Nurse"}, active=True)))
    with store.batch():
        store.save(RecordState(id="p2", create_pending=["cloud"],
                               shadows={"ad": Shadow(key="u2", values={"title": "Clerk"}, active=True)}))
        p1 = store.load("p1")
        p1.shadows["ad"].values["title"] = "Head nurse"
        store.save(p1)

        assert list(store.all_ids(PERSON)) == ["p1", "p2"]
        assert set(store.linked_ids(PERSON, "ad")) == {"p1", "p2"}
        assert sorted(store.load_many(["p2", "p1", "p9"])) == ["p1", "p2"]
        assert store.load_many(["p1"])["p1"].shadows["ad"].values["title"] == "Head nurse"
        digests = store.link_digests(PERSON, "ad")
        assert digests == {"u1": digests_of(store.load("p1"))[(PERSON, "ad", "u1")],
                           "u2": digests_of(store.load("p2"))[(PERSON, "ad", "u2")]}
        assert "p2" in store.owing("cloud", ["p1", "p2"])
        p1 = store.load("p1")  # saved again after the listings: the last save is the one kept
        p1.golden["title"] = "Matron"
        store.save(p1)

    assert store.load("p1").version == 3 and store.load("p1").golden["title"] == "Matron"
    assert store.link_digests(PERSON, "ad")["u1"] == digests_of(store.load("p1"))[(PERSON, "ad", "u1")]


def test_given_a_record_saved_three_times_in_a_batch_then_one_state_at_the_third_version_is_stored(store):
    with store.batch():
        state = person("p1", ad=Shadow(key="u1"))
        store.save(state)
        for title in ("Nurse", "Matron"):
            state.golden["title"] = title
            state.keys = {"employee_id": [f"E-{title}"]}
            store.save(state)
        assert store.load("p1").version == 3 and store.by_value(PERSON, "employee_id", "E-Nurse") == set()

    loaded = store.load("p1")
    assert loaded.version == 3 and loaded.to_dict() == state.to_dict()
    assert store.by_value(PERSON, "employee_id", "E-Matron") == {"p1"}
    assert store.by_value(PERSON, "employee_id", "E-Nurse") == set()
    with pytest.raises(VersionConflict):
        store.save(person("p1"))  # at version 0: long gone


def test_given_a_loaded_record_changed_and_not_saved_inside_a_batch_then_later_reads_see_the_stored_one(store):
    store.save(person("p1", ad=Shadow(key="u1", ref="CN=Ann")))
    with store.batch():
        assert store.ref_of("p1", "ad") == "CN=Ann"  # read for a look-up first (correlation), then loaded
        mine = store.load("p1")
        mine.golden["title"] = "never saved"
        mine.shadows["ad"].ref = "CN=never saved"
        again = store.load("p1")

        assert again is not mine and again.golden["title"] == "Engineer"
        assert store.value_of("p1", "title") == "Engineer" and store.ref_of("p1", "ad") == "CN=Ann"
        again.golden["title"] = "Nurse"
        store.save(again)
        again.golden["title"] = "changed after the save"
        assert store.load("p1").golden["title"] == "Nurse" and store.value_of("p1", "title") == "Nurse"
        with pytest.raises(VersionConflict):
            store.save(mine)  # loaded at the version just overtaken

    assert store.load("p1").golden["title"] == "Nurse"


def test_given_a_record_handed_back_after_its_save_then_loads_in_and_after_batches_see_it_unshared(store):
    """`keep`: a store may hand the saved object itself to the next load (SQLite does, across batches); what is
    loaded is the saved record at its new version, and two loads never share an object."""
    with store.batch():
        state = person("p1", ad=Shadow(key="u1"))
        store.save(state)
        store.keep(state)
        inside = store.load("p1")
        assert inside is not None and inside.to_dict() == state.to_dict() and inside.version == 1
        inside.golden["title"] = "changed, not saved"
        assert store.load("p1").golden["title"] == "Engineer"  # type: ignore[union-attr]
    first, second = store.load("p1"), store.load("p1")
    assert first is not None and second is not None and first is not second
    first.golden["title"] = "changed, not saved"
    assert second.golden["title"] == "Engineer"
    second.golden["title"] = "Manager"
    store.save(second)
    store.keep(second)
    with store.batch():
        again = store.load("p1")
        assert again is not None and again.version == 2 and again.golden["title"] == "Manager"
        again.golden["title"] = "Director"
        store.save(again)
        store.keep(again)
    assert store.load("p1").to_dict() == again.to_dict()  # type: ignore[union-attr]


def test_given_a_record_handed_back_in_a_batch_that_fails_then_the_stored_one_is_loaded(store):
    state = person("p1", ad=Shadow(key="u1"))
    store.save(state)
    with pytest.raises(RuntimeError), store.batch():
        loaded = store.load("p1")
        assert loaded is not None
        loaded.golden["title"] = "Manager"
        store.save(loaded)
        store.keep(loaded)
        raise RuntimeError("the chunk fails after the save")
    with store.batch():
        back = store.load("p1")
    assert back is not None
    # SQLite undid the batch (the stored record is the first save); the others wrote the save at once
    assert (back.version, back.golden["title"]) in ((1, "Engineer"), (2, "Manager"))
    assert back.version == 1 or isinstance(store, (MemoryStore, DynamoStore))
    back.golden["title"] = "Director"
    store.save(back)  # at the version loaded: not refused
    assert store.load("p1").golden["title"] == "Director"  # type: ignore[union-attr]


def test_given_links_expected_inside_a_batch_then_by_link_answers_as_without_the_hint(store):
    """`expect_links` is a hint (SQLite reads the links in one go): whatever was saved before, inside the batch
    or after the hint, `by_link` answers each link as the latest save leaves it."""
    store.save(person("p1", ad=Shadow(key="u1")))
    store.save(person("p2", ad=Shadow(key="u2")))
    with store.batch():
        moved = store.load("p2")
        assert moved is not None
        moved.shadows = {"ad": Shadow(key="u3")}  # releases u2, takes u3, inside the batch (not yet written)
        store.save(moved)
        store.expect_links([("person", "ad", k) for k in ("u1", "u2", "u3", "u4", "u1")] + [("group", "ad", "u1")])
        assert [store.by_link("person", "ad", k) for k in ("u1", "u2", "u3", "u4")] == ["p1", None, "p2", None]
        assert store.by_link("group", "ad", "u1") is None
        store.save(person("p4", ad=Shadow(key="u4")))  # a link expected absent, taken after the hint
        assert store.by_link("person", "ad", "u4") == "p4"
        with pytest.raises(VersionConflict):
            store.save(person("p5", ad=Shadow(key="u1")))  # the hint read u1 as p1's: still refused
    assert [store.by_link("person", "ad", k) for k in ("u1", "u2", "u3", "u4")] == ["p1", None, "p2", "p4"]
    store.expect_links([("person", "ad", "u1")])  # outside a batch: harmless
    assert store.by_link("person", "ad", "u1") == "p1"


def test_given_records_expected_inside_a_batch_then_loads_and_saves_answer_as_without_the_hint(store):
    """`expect_records` is a hint (SQLite reads the records in one go, and notes those it lacks): a record
    expected loads as saved (each load its own copy), one saved inside the batch after or before the hint as
    that save left it, one absent as None until it is saved; a stale save is still refused."""
    store.save(person("p1", ad=Shadow(key="u1")))
    with store.batch():
        made = person("p2", ad=Shadow(key="u2"))
        store.save(made)  # saved in the batch before the hint (not yet written)
        store.expect_records(["p1", "p2", "p3", "p1"])
        first, second = store.load("p1"), store.load("p1")
        assert first is not None and second is not None and first is not second
        assert (first.version, first.golden, first.shadows["ad"].key) == (1, {"title": "Engineer"}, "u1")
        first.golden["title"] = "Manager"
        store.save(first)
        with pytest.raises(VersionConflict):
            store.save(second)  # loaded at version 1, the record is at 2 now
        assert store.load("p2").shadows["ad"].key == "u2"  # type: ignore[union-attr]
        assert store.load("p3") is None
        store.save(person("p3", ad=Shadow(key="u3")))  # expected absent, made after the hint
        assert store.load("p3").version == 1  # type: ignore[union-attr]
    assert store.load("p1").golden == {"title": "Manager"}  # type: ignore[union-attr]
    assert [store.by_link("person", "ad", k) for k in ("u1", "u2", "u3")] == ["p1", "p2", "p3"]
    store.expect_records(["p1"])  # outside a batch: harmless
    assert store.load("p1").version == 2  # type: ignore[union-attr]
