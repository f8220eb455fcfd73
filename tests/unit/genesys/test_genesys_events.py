"""Genesys Cloud audit events (EventBridge) become re-read requests; the bridge's own writes do not."""

from __future__ import annotations

import json
from pathlib import Path

from peoplesync.connectors.genesys_events import Ignored, ReRead, classify, reread_requests

EVENTS = Path(__file__).resolve().parents[3] / "events"
USER_ID = "278522be-1683-4877-8257-4164a177be89"
OWN = {"peoplesync-bridge"}


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_given_an_agent_edit_of_their_profile_then_the_user_is_re_read() -> None:
    result = classify(load("genesys-user-self-edit.json"), system="cloud", own_client_ids=OWN)
    assert isinstance(result, ReRead)
    assert (result.system, result.key, result.action) == ("cloud", USER_ID, "Update")
    assert result.to_dict()["type"] == "reread"


def test_given_the_bridges_own_write_then_nothing_is_re_read() -> None:
    result = classify(load("genesys-user-own-write.json"), system="cloud", own_client_ids=OWN)
    assert isinstance(result, Ignored) and "own write" in result.reason


def test_given_a_deleted_user_then_it_is_re_read_so_the_read_reports_it_removed() -> None:
    result = classify(load("genesys-user-deleted.json"), system="cloud", own_client_ids=OWN)
    assert isinstance(result, ReRead) and result.action == "Delete"


def test_given_a_presence_change_then_it_is_ignored() -> None:
    assert isinstance(classify(load("genesys-user-presence.json"), system="cloud"), Ignored)


def test_given_an_event_from_another_org_or_source_then_it_is_ignored() -> None:
    event = load("genesys-user-self-edit.json")
    assert isinstance(classify(event, system="cloud", org_id="someone-else"), Ignored)
    assert isinstance(classify({**event, "source": "aws.events"}, system="cloud"), Ignored)
    assert isinstance(classify(event, system="cloud", org_id="bb14bed0-f8f9-445d-b9d1-10cecb8569d6"), ReRead)


def test_given_a_batch_of_sqs_records_then_each_user_is_re_read_once_and_own_writes_are_dropped() -> None:
    edit, own, presence = (load(n) for n in ("genesys-user-self-edit.json", "genesys-user-own-write.json",
                                             "genesys-user-presence.json"))
    other = json.loads(json.dumps(edit).replace(USER_ID, "0000aaaa-1683-4877-8257-4164a177be89"))
    records = {"Records": [{"body": json.dumps(e)} for e in (edit, own, edit, presence, other)]
               + [{"body": "not json"}]}
    requests = reread_requests(records, system="cloud", own_client_ids=OWN)
    assert [r.key for r in requests] == [USER_ID, "0000aaaa-1683-4877-8257-4164a177be89"]


def test_given_garbage_then_nothing_is_re_read_and_nothing_raises() -> None:
    for event in ({}, {"detail": "x"}, {"detail": {"topicName": "v2.users.x.presence"}},
                  {"detail": {"topicName": "v2.audits.entitytype.USER.entityid.u1", "eventBody": "x"}}):
        assert isinstance(classify(event, system="cloud"), Ignored)
