"""The outbound SCIM connector against a real SCIM 2.0 service provider (scim2-server, in-memory, loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

pytest.importorskip("scim2_server", reason="scim2-server is a dev dependency (pip install -e '.[dev]')")

from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import load_default_provider

from peoplesync.connectors.scim_client import ScimClientConnector, Settings
from peoplesync.model import Write
from peoplesync.ports import AlreadyExists, PermanentError

TOKEN = "scim-test-token"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WORK_EMAIL = 'emails[type eq "work"].value'
WORK_PHONE = 'phoneNumbers[type eq "work"].value'
ATTRS = ["userName", "title", "name.givenName", WORK_EMAIL, WORK_PHONE, f"{ENT}:department", f"{ENT}:employeeNumber"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Provider:
    def __init__(self) -> None:
        self.storage = InMemoryStorage()
        app = BearerTokenApplication(self.storage, load_default_provider(), bearer_tokens=[TOKEN])
        self.server = make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v2"

    def user(self, uid: str) -> dict[str, Any]:
        import requests

        r = requests.get(f"{self.base_url}/Users/{uid}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


def connector(provider: Provider, token: str = TOKEN, **settings: Any) -> ScimClientConnector:
    return ScimClientConnector("apps", Settings(base_url=provider.base_url, **settings), ATTRS, credentials={"token": token})


def create(c: ScimClientConnector, user_name: str, **attrs: Any) -> str:
    result = c.write(Write("apps", "create", "r", None, {"userName": user_name, **attrs}))
    assert result.key
    return result.key


def test_given_a_new_person_when_created_then_the_provider_holds_every_mapped_value(provider: Provider) -> None:
    c = connector(provider)
    uid = create(c, "ann@corp.example", title="Agent", **{WORK_EMAIL: "ann@corp.example", f"{ENT}:department":
                                                         "Sales", "name.givenName": "Ann"})
    user = provider.user(uid)
    assert user["title"] == "Agent" and user["name"]["givenName"] == "Ann"
    assert user["emails"] == [{"type": "work", "value": "ann@corp.example"}]
    assert user[ENT]["department"] == "Sales"


def test_given_an_update_then_only_the_named_attributes_change(provider: Provider) -> None:
    c = connector(provider)
    uid = create(c, "bob@corp.example", title="Agent", **{f"{ENT}:department": "Sales",
                                                         f"{ENT}:employeeNumber": "E7"})
    c.write(Write("apps", "update", "r", uid, {"title": "Lead", f"{ENT}:department": "Support"}))
    user = provider.user(uid)
    assert (user["title"], user[ENT]["department"], user[ENT]["employeeNumber"]) == ("Lead", "Support", "E7")
    assert user["userName"] == "bob@corp.example"


def test_given_a_filtered_element_that_does_not_exist_yet_when_set_then_it_is_added(provider: Provider) -> None:
    c = connector(provider)
    uid = create(c, "cy@corp.example", **{WORK_EMAIL: "cy@corp.example"})
    c.write(Write("apps", "update", "r", uid, {WORK_PHONE: "+13175550100", WORK_EMAIL: "cy2@corp.example"}))
    user = provider.user(uid)
    assert user["phoneNumbers"] == [{"type": "work", "value": "+13175550100"}]
    assert user["emails"] == [{"type": "work", "value": "cy2@corp.example"}]
    c.write(Write("apps", "update", "r", uid, {WORK_PHONE: "+13175550199", "title": None}))
    user = provider.user(uid)
    assert user["phoneNumbers"] == [{"type": "work", "value": "+13175550199"}] and "title" not in user
    c.write(Write("apps", "update", "r", uid, {WORK_PHONE: None}))
    assert "phoneNumbers" not in provider.user(uid) or provider.user(uid)["phoneNumbers"] == []


def test_given_a_deactivation_then_active_is_false_and_activation_restores_it(provider: Provider) -> None:
    c = connector(provider)
    uid = create(c, "dee@corp.example", title="Agent")
    c.write(Write("apps", "deactivate", "r", uid, {}))
    assert provider.user(uid)["active"] is False
    assert provider.user(uid)["title"] == "Agent"
    c.write(Write("apps", "activate", "r", uid, {}))
    assert provider.user(uid)["active"] is True


def test_given_users_when_read_then_every_one_is_observed_with_its_mapped_values(provider: Provider) -> None:
    c = connector(provider, page_size=2)
    uid = create(c, "eve@corp.example", title="Agent", **{WORK_EMAIL: "eve@corp.example"})
    c.write(Write("apps", "deactivate", "r", uid, {}))
    result = c.read(full=True)
    assert result.complete
    eve = next(o for o in result.observations if o.key == uid)
    assert eve.attrs["title"] == "Agent" and eve.attrs[WORK_EMAIL] == "eve@corp.example"
    assert eve.attrs[WORK_PHONE] is None and eve.active is False
    assert isinstance(eve.marker, int)
    assert len(result.observations) == len({o.key for o in result.observations}) >= 1


def test_given_a_taken_user_name_or_a_wrong_token_then_the_write_fails_permanently(provider: Provider) -> None:
    c = connector(provider)
    create(c, "fay@corp.example")
    with pytest.raises(PermanentError, match="taken"):
        create(c, "fay@corp.example")
    with pytest.raises(PermanentError, match="401"):
        create(connector(provider, token="wrong"), "gus@corp.example")


def test_given_a_deleted_user_then_a_second_delete_is_harmless(provider: Provider) -> None:
    c = connector(provider)
    uid = create(c, "hal@corp.example")
    c.write(Write("apps", "delete", "r", uid, {}))
    c.write(Write("apps", "delete", "r", uid, {}))
    with pytest.raises(PermanentError, match="does not exist"):
        c.write(Write("apps", "update", "r", uid, {"title": "x"}))


def test_given_a_taken_user_name_then_the_account_is_found_by_its_match_values_and_read_again(
        provider: Provider) -> None:
    c = connector(provider)
    uid = create(c, "ivy@corp.example", title="Agent", **{WORK_EMAIL: "Ivy@corp.example"})
    with pytest.raises(AlreadyExists, match="taken"):  # the flow then links what it collided with
        create(c, "ivy@corp.example")
    found = c.find_account({"userName": "ivy@corp.example"})
    assert found is not None and (found.key, found.attrs["title"]) == (uid, "Agent")
    by_mail = c.find_account({WORK_EMAIL: "ivy@corp.example"})
    assert by_mail is not None and by_mail.key == uid
    assert c.find_account({"userName": 'ivy@corp.example" or userName pr or title eq "x'}) is None  # quoted
    assert c.find_account({"userName": "nobody@corp.example"}) is None
    c.write(Write("apps", "update", "r", uid, {"title": "Lead"}))
    [now] = c.read_keys([uid]).observations  # what a push re-asserts against
    assert (now.key, now.attrs["title"], now.removed) == (uid, "Lead", False)
    c.write(Write("apps", "delete", "r", uid, {}))
    [gone] = c.read_keys([uid]).observations
    assert gone.removed


def test_given_users_read_one_page_per_invocation_then_each_is_observed_once_and_the_read_is_not_complete(
        provider: Provider) -> None:
    """The paged read another invocation goes on from (`resumable.py`, by startIndex): a poll or a snapshot
    that hands over keeps reading where the last one stopped; across invocations nobody is concluded gone."""
    c = connector(provider, page_size=3)
    for n in range(7):
        create(c, f"paged{n}@corp.example")
    every = sorted(o.key for o in c.read(full=True).observations)
    keys, start, invocations = [], None, 0
    while True:
        page = next(c.read_pages(None, full=True, page_size=3, start=start))
        invocations += 1
        keys += [o.key for o in page.observations]
        if page.last:
            break
        start = page.position
    assert sorted(keys) == every and invocations == -(-len(every) // 3)
    assert not page.complete
    one_go = list(c.read_pages(None, full=True, page_size=3))
    assert one_go[-1].complete and sorted(o.key for p in one_go for o in p.observations) == every


def test_given_a_user_deleted_while_the_listing_is_paged_in_one_go_then_the_read_asks_who_it_missed_be_re_read(
        provider: Provider) -> None:
    """startIndex paging shifts when a resource is deleted between two requests (RFC 7644 3.4.2.4): someone
    after the deleted one is skipped. The read is then not complete, and asks (`confirm`) that the linked
    accounts it did not list be re-read by id before anyone is concluded gone (the poll does: see
    tests/integration/genesys/test_genesys_pages.py)."""
    c = connector(provider, page_size=2)
    for n in range(6):
        create(c, f"shift{n}@corp.example")
    first = sorted(o.key for o in c.read(full=True).observations)
    page = c._page
    deleted: list[str] = []

    def page_then_delete(start: int) -> Any:
        answer = page(start)
        if start == 1:  # after the first page of each read: one of the users it listed is deleted
            deleted.append(answer.items[0]["id"])
            c.write(Write("apps", "delete", "r", deleted[-1], {}))
        return answer

    c._page = page_then_delete  # type: ignore[method-assign]
    result = c.read(full=True)
    [whole] = list(c.read_pages(None, full=True))

    listed = {o.key for o in result.observations}
    assert not result.complete and result.confirm
    assert set(first) - listed - set(deleted)  # the deletion shifted someone still there past the read
    assert not whole.complete and whole.confirm
