"""The local server speaks HTTP and API Gateway v2 to any client: real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from peoplesync.scim.devserver import serve

from .conftest import TOKEN


def call(url: str, method: str = "GET", body: object = None, token: str | None = TOKEN,
         headers: dict[str, str] | None = None) -> tuple[int, dict, dict | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/scim+json", **({"Authorization": f"Bearer {token}"} if token else {}),
        **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, dict(err.headers), json.loads(raw) if raw else None


def test_given_a_user_posted_over_http_then_a_get_right_after_shows_it_at_its_location(live) -> None:
    base, _ = live
    status, headers, _body = call(f"{base}/Users", "POST", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "http.user@example.com"})
    assert status == 201 and headers["Content-Type"] == "application/scim+json"
    assert headers["Location"].startswith("http://127.0.0.1:")
    status, _, fetched = call(headers["Location"])
    assert status == 200 and fetched["userName"] == "http.user@example.com"
    status, _, found = call(f"{base}/Users?filter=userName%20eq%20%22HTTP.user%40example.com%22")
    assert found["totalResults"] == 1


def test_given_a_rotated_token_or_none_then_accepted_or_401_with_www_authenticate(live) -> None:
    base, _ = live
    assert call(f"{base}/ServiceProviderConfig", token="rotated-token-2")[0] == 200
    status, headers, _body = call(f"{base}/Users", token=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")


def test_given_a_path_outside_the_scim_base_then_404(live) -> None:
    base, _ = live
    assert call(base.replace("/scim/v2", "/other/Users"))[0] == 404


def test_given_any_lambda_handler_then_the_server_hands_it_a_v2_event_and_returns_its_result() -> None:
    seen = []

    def handler(event, context):
        seen.append(event)
        return {"statusCode": 418, "headers": {"X-Test": "yes"}, "body": json.dumps({"ok": True})}

    server = serve(handler, port=0, block=False, quiet=True)
    try:
        port = server.server_address[1]
        status, headers, body = call(f"http://127.0.0.1:{port}/a/b?x=1&x=2&f=%22q%22", "PATCH", {"k": "v"})
    finally:
        server.shutdown()
        server.server_close()
    assert (status, headers["X-Test"], body) == (418, "yes", {"ok": True})
    event = seen[0]
    assert event["version"] == "2.0" and event["requestContext"]["http"]["method"] == "PATCH"
    assert event["rawPath"] == "/a/b" and event["rawQueryString"] == "x=1&x=2&f=%22q%22"
    assert event["queryStringParameters"] == {"x": "1,2", "f": '"q"'}
    assert json.loads(event["body"]) == {"k": "v"} and event["isBase64Encoded"] is False
    assert event["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_given_a_handler_that_raises_then_502_as_api_gateway_answers() -> None:
    def broken(event, context):
        raise RuntimeError("boom")

    server = serve(broken, port=0, block=False, quiet=True)
    try:
        status, _, body = call(f"http://127.0.0.1:{server.server_address[1]}/x")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 502 and body == {"message": "Internal Server Error"}


@pytest.mark.parametrize("host", ["127.0.0.1"])
def test_the_server_listens_only_where_it_is_told(host: str) -> None:
    server = serve(lambda e, c: {"statusCode": 204}, host=host, port=0, block=False, quiet=True)
    try:
        assert server.server_address[0] == host
    finally:
        server.shutdown()
        server.server_close()
