"""The common User requests answered without scim2-models (`scim/fast.py`) answer exactly as scim2-server does.

Each case replays the same requests through two webhooks over two fresh repositories: one with the fast path
(the default), one sending everything to scim2-server (`fast=False`). Ids and clocks are made deterministic,
so status, headers, body, every stored document (with its version and marker) and every change handed on
must be identical. The generated requests keep close to what IdPs send, with the small deviations
(a wrong case, an empty string, a null, a second primary, an unknown attribute, a filtered path) that the
fast path must leave to scim2-server.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peoplesync.scim import documents
from peoplesync.scim.app import ScimApp
from peoplesync.scim.http import ScimRequest
from peoplesync.scim.repository import MemoryScimRepository

from .conftest import ENTERPRISE, PATCH, TOKEN, USER

NAMES = ["ann@example.com", "Ann@Example.com", "bob@example.com", "émile@example.com"]
GOOD_TEXT = st.sampled_from(["Engineer", "R&D", "x", "Émile", "ann@example.com"])
TEXT = st.one_of(GOOD_TEXT, GOOD_TEXT, GOOD_TEXT, st.sampled_from(["", " spaced "]))
VALUE = st.one_of(TEXT, st.booleans(), st.none(), st.integers(0, 3), st.just({"value": "m1"}),
                  st.just([{"value": "a@w", "type": "work"}]))
# a path and a value of its type: what the fast path takes
GOOD = {"title": GOOD_TEXT, "active": st.booleans(), "displayName": GOOD_TEXT, "nickName": GOOD_TEXT,
        "name.givenName": GOOD_TEXT, "name.familyName": GOOD_TEXT, "externalId": st.sampled_from(["e1", "e2"]),
        "userName": st.sampled_from(NAMES), f"{ENTERPRISE}:department": GOOD_TEXT,
        f"{ENTERPRISE}:manager": st.sampled_from([{"value": "m1"}, {"value": "m2"}])}
PATHS = [*GOOD, f"{ENTERPRISE}:manager.value", "Title", "emails", 'emails[type eq "work"].value', "name",
         "meta.created", "id", "x"]


def _emails() -> st.SearchStrategy[list[dict[str, Any]]]:
    entry = st.fixed_dictionaries({"value": st.sampled_from(["a@w", "b@h", "a@w", ""])},
                                  optional={"type": st.sampled_from(["work", "home", "work", "Work", "other2"]),
                                            "primary": st.booleans()})
    return st.lists(entry, min_size=0, max_size=3)


@st.composite
def user_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [USER], "userName": draw(st.sampled_from(NAMES))}
    optional = {"title": TEXT, "active": st.booleans(), "displayName": TEXT,
                "externalId": st.sampled_from(["e1", "E1", "e2"]), "emails": _emails(),
                "name": st.fixed_dictionaries({}, optional={"givenName": TEXT, "familyName": TEXT}),
                "phoneNumbers": st.just([{"value": "+1 555", "type": "mobile"}])}
    noisy = {"active": st.just("yes"), "nickName": st.none(), "username": TEXT, "x": TEXT, "id": st.just("id0000"),
             "groups": st.just([]), "profileUrl": st.just("https://example.com/ann"),
             "x509Certificates": st.just([{"value": "TUlJ"}]), "userType": st.just("Employee")}
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=5, unique=True)):
        body[name] = draw(optional[name])
    if draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(sorted(noisy)))
        body[name] = draw(noisy[name])
    if draw(st.booleans()):
        body[ENTERPRISE] = draw(st.fixed_dictionaries(
            {}, optional={"department": TEXT, "manager": st.sampled_from([{"value": "m0"}, {"value": "m0"}, {"value": ""},
                                                                           {"value": "m0", "displayName": "M"},
                                                                           {"value": "m0", "$ref": "../Users/m0"}]),
                          "costCenter": TEXT}))
        if draw(st.integers(0, 5)) == 0:
            body[ENTERPRISE]["badge"] = "b"
        body["schemas"] = [USER, ENTERPRISE]
    if draw(st.integers(0, 9)) == 0:
        body["schemas"] = draw(st.sampled_from([[], [ENTERPRISE, USER], [USER.upper()], [USER, ENTERPRISE]]))
    return body


good_operation = st.sampled_from(sorted(GOOD)).flatmap(
    lambda path: st.builds(lambda op, value: {"op": op, "path": path, "value": value},
                           st.sampled_from(["replace", "add"]), GOOD[path]))
operation = st.one_of(
    good_operation, good_operation, good_operation,
    st.builds(lambda op, path, value: {"op": op, "path": path, "value": value},
              st.sampled_from(["replace", "add", "Replace"]), st.sampled_from(PATHS), VALUE),
    st.builds(lambda path: {"op": "remove", "path": path}, st.sampled_from(PATHS)),
    st.builds(lambda op, keys, value: {"op": op, "value": {k: value for k in keys}},
              st.sampled_from(["replace", "add"]), st.lists(st.sampled_from(PATHS), min_size=1, max_size=2),
              VALUE),
    st.sampled_from(sorted(GOOD)).flatmap(lambda path: GOOD[path].map(
        lambda v: {"op": "replace", "value": {path: v}})),
    st.just({"op": "replace", "value": {ENTERPRISE: {"department": "D2"}}}),
)


def ref(n: int) -> str:
    return f"id{n:04d}"


request = st.one_of(
    st.builds(lambda b: ("POST", "/Users", b, {}), user_body()),
    st.builds(lambda n: ("GET", f"/Users/{ref(n)}", None, {}), st.integers(0, 3)),
    st.builds(lambda name, attr, paging: ("GET", "/Users", None, {"filter": f'{attr} eq "{name}"', **paging}),
              st.sampled_from([*NAMES, "e1", "E1"]), st.sampled_from(["userName", "username", "externalId"]),
              st.sampled_from([{}, {}, {"startIndex": "1", "count": "100"}, {"count": "1"}, {"count": "0"},
                               {"startIndex": "2"}, {"count": "500"}, {"count": "x"}, {"sortBy": "userName"}])),
    st.builds(lambda n, ops: ("PATCH", f"/Users/{ref(n)}", {"schemas": [PATCH], "Operations": ops}, {}),
              st.integers(0, 2), st.lists(operation, min_size=1, max_size=3)),
    st.builds(lambda n, ops: ("PATCH", f"/Users/{ref(n)}", {"schemas": [PATCH], "Operations": ops}, {}),
              st.integers(0, 1), st.lists(good_operation, min_size=1, max_size=3)),
    st.builds(lambda n, b: ("PUT", f"/Users/{ref(n)}", b, {}), st.integers(0, 2), user_body()),
    st.builds(lambda n: ("DELETE", f"/Users/{ref(n)}", None, {}), st.integers(0, 3)),
    st.builds(lambda q: ("GET", "/Users", None, q), st.fixed_dictionaries(
        {}, optional={"startIndex": st.sampled_from(["1", "2", "3", "0", "9", "x"]),
                      "count": st.sampled_from(["1", "2", "100", "0", "500", "-1"])})),
    st.builds(lambda n, q: ("GET", f"/Users/{ref(n)}", None, q), st.integers(0, 1),
              st.sampled_from([{"attributes": "userName"}, {"excludedAttributes": "emails"}])),
)


class _Run:
    """One webhook, its repository, and what it handed on; ids and times deterministic."""

    def __init__(self, fast: bool) -> None:
        self.repo = MemoryScimRepository()
        self.writes: list[Any] = []
        self.request = 0  # the clock tells the request's number: the same time on both paths
        start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        self.app = ScimApp(self.repo, [TOKEN], on_write=self.writes.append, fast=fast,
                           clock=lambda: start + datetime.timedelta(seconds=self.request))

    def replay(self, requests: list[tuple[str, str, Any, dict[str, str]]], monkeypatch: Any) -> list[Any]:
        created = []  # the n-th resource created gets id n, whichever path drew ids for failed attempts
        create = self.repo.create
        monkeypatch.setattr(self.repo, "create", lambda *a: created.append(create(*a)) or created[-1])
        monkeypatch.setattr(documents, "new_id", lambda: ref(len(created)))
        out = []
        for self.request, (method, path, body, query) in enumerate(requests):
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
            r = self.app.handle(ScimRequest(method, path, query, headers,
                                            b"" if body is None else json.dumps(body).encode()))
            out.append((method, path, r.status, r.headers, r.body))
        stored = {(t, s.id): (json.loads(s.raw), s.version, s.seq) for t in ("User", "Group")
                  for s in self.repo.list(t)}
        return [out, stored, self.writes]


def _same(requests: list[tuple[str, str, Any, dict[str, str]]], monkeypatch: Any) -> None:
    fast, full = _Run(True).replay(requests, monkeypatch), _Run(False).replay(requests, monkeypatch)
    for got, want in zip(fast[0], full[0], strict=True):
        assert got == want
    assert fast[1:] == full[1:]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(user_body().map(lambda b: ("POST", "/Users", b, {})), min_size=1, max_size=3),
       st.lists(request, min_size=1, max_size=8))
def test_given_generated_requests_when_both_paths_answer_then_responses_store_and_changes_are_the_same(
        monkeypatch: pytest.MonkeyPatch, creates: list[Any], requests: list[Any]) -> None:
    _same(creates + requests, monkeypatch)


def test_given_an_idps_usual_sequence_when_both_paths_answer_then_they_agree(monkeypatch: pytest.MonkeyPatch
                                                                            ) -> None:
    user = {"schemas": [USER, ENTERPRISE], "userName": "Ann@Example.com", "externalId": "e1", "active": True,
            "name": {"givenName": "Ann", "familyName": "Lee"}, "title": "Eng",
            "emails": [{"value": "ann@example.com", "type": "work", "primary": True}],
            ENTERPRISE: {"department": "R&D", "manager": {"value": "m0"}}}
    ops = [{"op": "replace", "path": "title", "value": "Boss"}, {"op": "replace", "value": {"active": False}},
           {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": "m2"}},
           {"op": "remove", "path": "name.givenName"}]
    _same([("GET", "/Users", None, {"filter": 'userName eq "ann@example.com"'}),
           ("POST", "/Users", user, {}), ("POST", "/Users", user, {}),
           ("GET", "/Users", None, {"filter": 'userName eq "ANN@example.com"'}),
           ("PATCH", f"/Users/{ref(0)}", {"schemas": [PATCH], "Operations": ops}, {}),
           ("PATCH", f"/Users/{ref(0)}", {"schemas": [PATCH], "Operations": ops[:1]}, {}),
           # two operations that cancel out still changed the resource on their way (a new version)
           ("PATCH", f"/Users/{ref(0)}", {"schemas": [PATCH], "Operations": [
               {"op": "replace", "path": "active", "value": True}, {"op": "replace", "path": "active", "value": False}]},
            {}),
           ("PUT", f"/Users/{ref(0)}", {**user, "id": ref(0)}, {}), ("PUT", f"/Users/{ref(0)}", user, {}),
           ("GET", f"/Users/{ref(0)}", None, {}), ("DELETE", f"/Users/{ref(0)}", None, {}),
           ("GET", f"/Users/{ref(0)}", None, {})], monkeypatch)


def test_given_a_cold_process_when_the_common_requests_come_then_scim2_models_is_never_imported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    code = ("import json, sys\nfrom peoplesync.scim.app import build_app\n"
            "from peoplesync.scim.http import ScimRequest\n"
            "from peoplesync.scim.repository import MemoryScimRepository\n"
            f"app = build_app(MemoryScimRepository(), [{TOKEN!r}])\n"
            f"h = {{'Authorization': 'Bearer {TOKEN}'}}\n"
            "r = app.handle(ScimRequest('GET', '/Users', {'filter': 'userName eq \"a@b\"'}, h))\n"
            f"b = json.dumps({{'schemas': [{USER!r}], 'userName': 'a@b', 'active': True}}).encode()\n"
            "c = app.handle(ScimRequest('POST', '/Users', {}, h, b))\n"
            "print(r.status, c.status, 'scim2_models' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["200", "201", "False"]


def test_the_fast_paths_page_limit_is_the_one_the_service_announces() -> None:
    from peoplesync.scim import fast, provider

    assert fast.MAX_RESULTS == provider.MAX_RESULTS


def test_given_scim2_models_without_attribute_docstrings_when_discovery_and_errors_are_served_then_nothing_changes(
        ) -> None:
    """`full` builds scim2-models without pydantic's attribute docstrings (a third of its import): the
    discovery documents and the errors must be what they are with them (PEOPLESYNC_SCIM_DOCSTRINGS=1)."""
    import os
    import subprocess

    code = ("import json\nfrom peoplesync.scim.app import build_app\n"
            "from peoplesync.scim.http import ScimRequest\n"
            "from peoplesync.scim.repository import MemoryScimRepository\n"
            f"app = build_app(MemoryScimRepository(), [{TOKEN!r}])\n"
            f"h = {{'Authorization': 'Bearer {TOKEN}'}}\n"
            "calls = [('GET', '/Schemas', b''), ('GET', '/ResourceTypes', b''), ('GET', '/ServiceProviderConfig', b''),"
            " ('GET', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:User', b''),"
            " ('POST', '/Users', b'{\"schemas\": [], \"userName\": 3}'), ('POST', '/Groups', b'{\"members\": 1}'),"
            " ('PATCH', '/Users/x', b'{}'), ('GET', '/Users', b'')]\n"
            "print(json.dumps([app.handle(ScimRequest(m, p, {}, h, b)).body for m, p, b in calls], sort_keys=True))\n")
    answers = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PEOPLESYNC_SCIM_DOCSTRINGS": keep}).stdout for keep in ("0", "1")]
    assert answers[0] == answers[1]
    assert '"description"' in answers[0]  # the schema documents do describe their attributes
