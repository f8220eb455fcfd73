"""SPEC scenarios end to end through the deployed shape: poll -> SQS -> reconcile -> SQS per target ->
deliver, with the real handlers, DynamoDB and SQS (moto). Given / When / Then in each test's name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Cloud, event
from tests.unit.conftest import config, hire

PHONE = "addresses[mediaType=PHONE,type=WORK]"


@pytest.fixture
def cloud(aws_env: None) -> Cloud:
    return Cloud(config())


def test_01_02_an_ad_title_reaches_the_cloud_and_a_cloud_edit_is_put_back(cloud: Cloud) -> None:
    hire(cloud)
    cloud.sync()
    cloud["ad"].set("guid-1", title="Principal")
    cloud.sync()
    assert cloud["cloud"].get("u1", "title") == "Principal"
    cloud["cloud"].set("u1", title="Self-promoted")
    cloud.sync()
    assert cloud["cloud"].get("u1", "title") == "Principal"


def test_03_04_05_personal_email_from_the_cloud_and_a_two_way_phone_with_ad_winning(cloud: Cloud) -> None:
    hire(cloud)
    cloud.sync()
    cloud["cloud"].set("u1", **{"addresses[mediaType=EMAIL,type=HOME]": "me@home.example"})
    cloud["ad"].set("guid-1", telephoneNumber="+13175550111")
    cloud["cloud"].set("u1", **{PHONE: "+13175550222"})
    cloud.sync()
    assert cloud["ad"].get("guid-1", "otherMailbox") == "me@home.example"
    assert cloud["ad"].get("guid-1", "telephoneNumber") == "+13175550111"
    assert cloud["cloud"].get("u1", PHONE) == "+13175550111"
    rid = cloud.store.by_link("person", "ad", "guid-1")
    assert any(d["conflict"] for d in cloud.store.decisions(rid, "phone.work"))


def test_06_hr_email_reaches_ad_and_cloud(cloud: Cloud) -> None:
    hire(cloud)
    cloud["ad"].set("guid-1", mail="old@corp.example")
    cloud["cloud"].set("u1", email="older@corp.example")
    cloud.sync()
    assert cloud["ad"].get("guid-1", "mail") == cloud["cloud"].get("u1", "email") == "p1@corp.example"


def test_10_a_sync_with_nothing_changed_writes_nothing_and_queues_nothing(cloud: Cloud) -> None:
    for n in range(1, 4):
        hire(cloud, n)
    cloud.sync()
    before = cloud.writes()
    reports = cloud.sync()
    assert cloud.writes() == before
    assert all(r["queued"] == 0 for r in reports)  # an unchanged person costs no reconcile message


def test_11_a_duplicated_and_an_out_of_order_sqs_message_change_nothing(cloud: Cloud) -> None:
    hire(cloud)
    cloud.sync()
    old = cloud["ad"].observation("guid-1")
    cloud["ad"].set("guid-1", title="Newer")
    new = cloud["ad"].observation("guid-1")
    from peoplesync.model import observation_to_dict

    for obs in (new, new, old):  # at-least-once delivery, and the older event last
        cloud.send("reconcile", {"type": "observation", "observation": observation_to_dict(obs)})
    cloud.drain()
    assert cloud["cloud"].get("u1", "title") == "Newer"
    assert len([w for w in cloud["cloud"].writes if "title" in w.attrs]) == 1


def test_12_existing_accounts_link_and_an_ambiguous_one_is_held(cloud: Cloud) -> None:
    hire(cloud, 1)
    cloud["hr"].put("W3", Employee_ID="E3", Work_Email="shared@corp.example")
    cloud["hr"].put("W4", Employee_ID="E4", Work_Email="shared@corp.example")
    cloud["ad"].put("guid-x", mail="shared@corp.example", title="Mystery")
    cloud.sync()
    assert cloud.record_of("ad", "guid-1").id == cloud.record_of("cloud", "u1").id
    assert cloud.record_of("ad", "guid-x") is None
    assert [r["key"] for r in cloud.store.reviews()] == ["guid-x"]


def test_13_a_manager_dn_becomes_the_managers_cloud_id_once_the_manager_is_known(cloud: Cloud) -> None:
    hire(cloud, 2, ad={"manager": "CN=Person 1,OU=Staff,DC=corp"})
    cloud.sync()
    hire(cloud, 1)
    cloud.sync()
    assert cloud["cloud"].get("u2", "manager") == "u1"


def test_14_equal_phones_in_different_spellings_are_no_change(cloud: Cloud) -> None:
    hire(cloud, 1, ad={"telephoneNumber": "+1 (317) 555-0100"})
    cloud.sync()
    assert sum(cloud.writes().values()) == 0


def test_15_disabled_in_hr_deactivates_elsewhere_and_reenabled_comes_back(cloud: Cloud) -> None:
    hire(cloud, 1)
    hire(cloud, 2)
    cloud.sync()
    cloud["hr"].disable("W1")
    cloud.sync()
    assert cloud["ad"].accounts["guid-1"]["active"] is False and cloud["cloud"].accounts["u1"]["active"] is False
    cloud["hr"].disable("W1", active=True)
    cloud.sync()
    assert cloud["ad"].accounts["guid-1"]["active"] is True and cloud["cloud"].accounts["u1"]["active"] is True


def test_16_a_poll_changing_too_many_people_is_held_until_approved(aws_env: None) -> None:
    cloud = Cloud(config(policies={"max_changes_per_run": "10%"}))
    for n in range(1, 11):
        hire(cloud, n)
    cloud.sync()
    for n in range(1, 4):
        cloud["ad"].set(f"guid-{n}", title="Reorganised")
    reports = {r["system"]: r for r in cloud.sync()}
    assert reports["ad"]["held"] and reports["ad"]["queued"] == 0
    assert cloud["cloud"].get("u1", "title") == "Title 1"
    assert any(r.get("kind") == "run" for r in cloud.store.reviews())
    cloud.poll("ad", approve=True)
    cloud.drain()
    assert [cloud["cloud"].get(f"u{n}", "title") for n in range(1, 4)] == ["Reorganised"] * 3


def test_16b_a_hold_names_its_people_lifts_once_undone_lets_other_changes_through_and_is_approved_by_id(
        aws_env: None) -> None:
    cloud = Cloud(config(policies={"max_changes_per_run": "10%"}))
    for n in range(1, 21):
        hire(cloud, n)
    cloud.sync()
    for n in range(1, 8):  # 7 of 20 leave the HR export by mistake
        cloud["hr"].remove(f"W{n}")
    reports = {r["system"]: r for r in cloud.sync()}
    [hold_id] = reports["hr"]["holds"]
    [item] = [r for r in cloud.store.reviews() if r["id"] == hold_id]
    assert item["count"] == 7 and {"person": "E1, p1@corp.example", "key": "W1",
                                   "changes": "ad deactivate; cloud deactivate"} in item["people"]
    assert '"approve": "<hold id>"' in reports["hr"]["held"]
    cloud["ad"].set("guid-9", title="Promoted")  # an ordinary change meanwhile flows
    reports = {r["system"]: r for r in cloud.sync()}
    assert cloud["cloud"].get("u9", "title") == "Promoted" and reports["hr"]["holds"] == [hold_id]
    for n in range(1, 8):  # the export restored: the hold lifts by itself
        cloud["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
    reports = {r["system"]: r for r in cloud.sync()}
    assert reports["hr"]["released"] == [hold_id] and reports["hr"]["held"] is None
    assert [r for r in cloud.store.reviews() if r.get("kind") == "run"] == []
    assert all(cloud["ad"].accounts[f"guid-{n}"]["active"] for n in range(1, 8))

    for n in range(1, 4):  # leavers for real this time, and a reorganisation in AD: two holds
        cloud["hr"].remove(f"W{n}")
    for n in range(11, 16):
        cloud["ad"].set(f"guid-{n}", title="Reorganised")
    reports = {r["system"]: r for r in cloud.sync()}
    hr_hold, ad_hold = reports["hr"]["holds"][0], reports["ad"]["holds"][0]
    cloud.poll("hr", approve=hr_hold)  # approved by its id, the other one not
    cloud.drain()
    assert [cloud["ad"].accounts[f"guid-{n}"]["active"] for n in (1, 2, 3, 4)] == [False, False, False, True]
    assert cloud["cloud"].get("u11", "title") == "Title 11"
    assert [r["id"] for r in cloud.store.reviews() if r.get("kind") == "run"] == [ad_hold]


def test_16c_a_new_field_counts_the_people_whose_value_differs_at_the_target(aws_env: None) -> None:
    cfg = config(policies={"max_changes_per_run": "10%"})
    cloud = Cloud(cfg)
    for n in range(1, 21):  # the cloud already holds the department of all but 2
        hire(cloud, n, ad={"department": f"Dept {n}"}, cloud={"department": "Old" if n <= 2 else f"Dept {n}"})
    cloud.sync()
    cfg["fields"]["department"] = {"source": "ad", "map": {"ad": "department", "cloud": "department"}}
    cloud.reconfigure(cfg)
    reports = {r["system"]: r for r in cloud.sync()}  # 20 re-evaluated, 2 writes: within the limit of 2
    assert all(not r["held"] for r in reports.values())
    assert [cloud["cloud"].get(f"u{n}", "department") for n in (1, 2, 3)] == ["Dept 1", "Dept 2", "Dept 3"]


def test_18_a_rate_limited_target_retries_then_dead_letters_and_replay_delivers(aws_env: None) -> None:
    from peoplesync.adapters.sqs import replay_dead_letters
    from peoplesync.ports import TransientError

    cloud = Cloud(config())
    hire(cloud)
    cloud.sync()
    cloud["ad"].set("guid-1", title="Director", mail="p1@corp.example")
    cloud["cloud"].fail_writes = TransientError("429 Too Many Requests", retry_after=0)
    cloud.sync()
    assert cloud["cloud"].get("u1", "title") == "Title 1"
    letters = cloud.dead_letters("deliver:cloud")
    assert len(letters) == 1 and "429" in letters[0]["reason"] and "after 5 attempts" in letters[0]["reason"]
    assert cloud["ad"].writes == []  # the other target was not held back (it had nothing owed, and got nothing)
    cloud["cloud"].fail_writes = None
    replay_dead_letters(cloud.dlq_urls["deliver:cloud"], cloud.urls["deliver:cloud"], client=cloud.sqs)
    cloud.drain()
    assert cloud["cloud"].get("u1", "title") == "Director"


def test_18b_a_down_target_does_not_hold_back_another(aws_env: None) -> None:
    from peoplesync.ports import TransientError

    cloud = Cloud(config())
    hire(cloud)
    cloud.sync()
    cloud["hr"].set("W1", Work_Email="new@corp.example")
    cloud["cloud"].fail_writes = TransientError("503 Service Unavailable")
    cloud.sync()
    assert cloud["ad"].get("guid-1", "mail") == "new@corp.example"
    assert cloud["cloud"].get("u1", "email") == "p1@corp.example"


def test_20_an_empty_or_failed_read_deactivates_nobody(cloud: Cloud) -> None:
    hire(cloud)
    cloud.sync()
    cloud["hr"].remove("W1")
    reports = {r["system"]: r for r in cloud.sync()}
    assert "no accounts" in reports["hr"]["failed"]
    assert cloud["ad"].accounts["guid-1"]["active"] is True
    cloud["hr"].put("W1", Employee_ID="E1", Work_Email="p1@corp.example")
    cloud["hr"].fail_reads = ConnectionError("timed out")
    reports = {r["system"]: r for r in cloud.sync()}
    assert "timed out" in reports["hr"]["failed"]
    assert cloud["ad"].accounts["guid-1"]["active"] is True


def test_21_a_new_field_reaches_everyone_after_the_configuration_changes(cloud: Cloud) -> None:
    for n in range(1, 3):
        hire(cloud, n, ad={"department": f"D{n}"})
    cloud.sync()
    cfg = config()
    cfg["fields"]["department"] = {"source": "ad", "map": {"ad": "department", "cloud": "department"}}
    cloud.reconfigure(cfg)
    cloud.sync()
    assert [cloud["cloud"].get(f"u{n}", "department") for n in (1, 2)] == ["D1", "D2"]


def test_a_poison_message_goes_to_the_dead_letter_queue_with_its_reason(cloud: Cloud) -> None:
    cloud.send("reconcile", "this is not json")
    cloud.send("reconcile", {"type": "observation", "observation": {"system": "nowhere", "key": "k"}})
    cloud.drain()
    reasons = sorted(letter["reason"] for letter in cloud.dead_letters("reconcile"))
    assert len(reasons) == 2
    assert reasons[0].startswith("not JSON") and "unknown system 'nowhere'" in reasons[1]


def test_a_crash_between_the_write_and_its_record_is_repaired_without_a_second_write(cloud: Cloud) -> None:
    hire(cloud)
    cloud.sync()
    cloud["ad"].set("guid-1", title="After crash")
    real = cloud.runtime.reconciler.confirm
    calls = {"n": 0}

    def crash_once(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("Lambda timed out after the write, before recording it")
        return real(*a, **k)

    cloud.runtime.reconciler.confirm = crash_once  # type: ignore[method-assign]
    before = cloud.writes()
    cloud.sync()
    cloud.drain(wait_delayed=True)  # the delivery sent back after the crash (a retry, a few seconds later)
    assert cloud["cloud"].get("u1", "title") == "After crash"
    assert cloud.writes()["cloud"] == before["cloud"] + 1  # in the crash sync itself: written once, not twice
    # and recorded: the delivery came back, re-read the account and saw its write there
    assert cloud.record_of("cloud", "u1").shadows["cloud"].pending == {}
    cloud.runtime.reconciler.confirm = real  # type: ignore[method-assign]
    before = cloud.writes()
    cloud.sync()
    assert cloud.writes() == before  # the next read sees our value landed: nothing written again


def test_the_scheduled_event_sample_polls_its_system(cloud: Cloud) -> None:
    sample = event("schedule-poll-ad.json")
    hire(cloud)
    report = cloud.poll_fn.handler(sample, __import__("tests.e2e.conftest").e2e.conftest.Context(), rt=cloud.runtime)
    assert report["system"] == "ad" and report["read"] == 1 and json.dumps(report)


def test_a_genesys_audit_event_makes_reconcile_reread_that_user_and_the_bridges_own_write_is_ignored(
        aws_env: None) -> None:
    import types

    from peoplesync.connectors.genesys import GenesysConnector
    from peoplesync.ports import ReadResult

    cloud = Cloud(config())
    hire(cloud)
    cloud.sync()
    reads: list[list[str]] = []
    connector = cloud["cloud"]
    # the memory connector stands in for the cloud, reading events as the Genesys connector does
    connector.client_id = "bridge-client"  # type: ignore[attr-defined]
    connector.event_keys = types.MethodType(GenesysConnector.event_keys, connector)  # type: ignore[method-assign]

    def read_keys(keys: list[str]) -> ReadResult:
        reads.append(list(keys))
        return ReadResult([connector.observation(k) for k in keys])

    connector.read_keys = read_keys  # type: ignore[method-assign]
    connector.set("u1", **{"addresses[mediaType=EMAIL,type=HOME]": "agent@home.example"})
    for name in ("genesys-user-self-edit.json", "genesys-user-own-write.json"):
        sample = event(name)
        sample["detail"]["eventBody"]["entity"]["id"] = "u1"
        if "own-write" in name:
            sample["detail"]["eventBody"]["clientId"]["id"] = "bridge-client"
        cloud.send("reconcile", {"type": "event", "system": "cloud", "event": sample})
    cloud.drain()
    assert reads == [["u1"]]  # the self-edit was re-read; the bridge's own write was not
    assert cloud["ad"].get("guid-1", "otherMailbox") == "agent@home.example"


def test_a_batch_of_deliveries_reaches_its_target_in_one_write_batch(cloud: Cloud) -> None:
    for n in range(1, 4):
        hire(cloud, n)
    cloud.sync()
    batches: list[int] = []
    target = cloud["cloud"]
    real = target.write_batch

    def counting(changes: list[Any]) -> list[Any]:
        batches.append(len(changes))
        return real(changes)

    target.write_batch = counting  # type: ignore[method-assign]
    for n in range(1, 4):
        cloud["ad"].set(f"guid-{n}", title="Reorganised")
    cloud.sync()
    assert [cloud["cloud"].get(f"u{n}", "title") for n in range(1, 4)] == ["Reorganised"] * 3
    assert batches == [3]  # one SQS batch, one call to the target (one transaction, one file rewrite)


def test_a_poll_whose_store_is_throttled_reports_it_cut_short_and_keeps_its_cursor(cloud: Cloud) -> None:
    from peoplesync.ports import TransientError

    hire(cloud)
    cloud.sync()
    cursor = cloud.store.get_cursor("hr")
    cloud["hr"].set("W1", Work_Email="moved@corp.example")
    real = cloud.store.put_cursor

    def throttled(*a: Any, **k: Any) -> None:
        raise TransientError("ProvisionedThroughputExceededException (after 5 attempts)")

    cloud.store.put_cursor = throttled  # type: ignore[method-assign]
    report = cloud.poll("hr")
    cloud.store.put_cursor = real  # type: ignore[method-assign]
    assert "cut short" in report["failed"] and "Throughput" in report["failed"]
    assert cloud.store.get_cursor("hr") == cursor  # read again next time: nothing is lost
    cloud.drain()
    cloud.sync()
    assert cloud["ad"].get("guid-1", "mail") == "moved@corp.example"
