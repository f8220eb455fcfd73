"""Bearer tokens, bounds on requests, and what the logs may carry."""

from __future__ import annotations

import logging

import pytest

from peoplesync.scim import guard
from peoplesync.scim.app import ScimApp
from peoplesync.scim.repository import MemoryScimRepository

from .conftest import TOKEN, USER, Client


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN[:-1], TOKEN + "x"])
def test_given_no_or_a_wrong_token_then_401_with_a_bearer_challenge_and_nothing_stored(app: ScimApp, repo,
                                                                                        token) -> None:
    r = Client(app, token).post("/Users", {"schemas": [USER], "userName": "a"})
    assert r.status == 401 and r.body["status"] == "401"
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="peoplesync-scim"')
    assert ("invalid_token" in r.headers["WWW-Authenticate"]) == bool(token)
    assert repo.count("User") == 0


def test_given_two_configured_tokens_then_both_are_accepted_during_a_rotation(app: ScimApp) -> None:
    assert Client(app, TOKEN).get("/Users").status == 200
    assert Client(app, "second-valid-token").get("/Users").status == 200
    assert Client(app, TOKEN).call("GET", "/Users", headers={"Authorization": f"bearer {TOKEN}"}).status == 200
    assert Client(app, None).call("GET", "/Users", headers={"Authorization": f"Basic {TOKEN}"}).status == 401


def test_given_no_token_configured_then_every_request_is_refused() -> None:
    app = ScimApp(MemoryScimRepository(), [])
    assert Client(app, "").get("/ServiceProviderConfig").status == 401
    assert Client(app, "anything").get("/ServiceProviderConfig").status == 401


def test_given_a_body_above_the_limit_then_413_before_anything_is_parsed(repo) -> None:
    app = ScimApp(repo, [TOKEN], max_body_bytes=2048)
    r = Client(app).call("POST", "/Users", raw=b'{"userName": "' + b"a" * 4096 + b'"}')
    assert r.status == 413 and repo.count("User") == 0


@pytest.mark.parametrize("expression", [
    " or ".join(f'userName eq "u{i}"' for i in range(40)),
    "(" * 12 + 'userName eq "a"' + ")" * 12,
    'userName eq "' + "a" * 3000 + '"',
])
def test_given_a_filter_too_large_or_complex_then_400_invalid_filter_with_the_reason(client: Client,
                                                                                    expression: str) -> None:
    r = client.get("/Users", filter=expression)
    assert (r.status, r.body["scimType"]) == (400, "invalidFilter")
    assert "at most" in r.body["detail"]
    searched = client.post("/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                              "filter": expression})
    assert searched.status == 400


def test_words_inside_quoted_values_do_not_count_as_operators() -> None:
    assert guard.filter_problem('title eq "' + " and " * 100 + '"') is None
    assert guard.filter_problem(" and ".join(['title pr'] * 40)) is not None


def test_logs_carry_neither_the_token_nor_the_body_nor_the_filter(client: Client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/Users", {"schemas": [USER], "userName": "private.person@example.com", "title": "Secret Title"})
    client.get("/Users", filter='userName eq "private.person@example.com"')
    Client(client.app, "wrong-token-value").get("/Users")
    text = caplog.text
    assert "scim POST /Users -> 201" in text and "scim GET /Users -> 401" in text
    for secret in (TOKEN, "wrong-token-value", "private.person", "Secret Title"):
        assert secret not in text
