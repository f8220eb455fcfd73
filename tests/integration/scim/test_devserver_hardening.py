"""The local dev server facing a careless or hostile client (issue 11, item 6): a malformed request line gets
a 400 that quotes nothing, a silent client is dropped after the socket timeout, and the log shows neither query
strings nor bodies."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from peoplesync.scim.devserver import serve

SECRET = "s3cret-in-the-query"


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}


@pytest.fixture
def server() -> Iterator[Any]:
    srv = serve(echo, port=0, block=False, timeout=0.5)
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def raw(srv: Any, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=wait) as sock:
        if data:
            sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("line", [
    f"GARBAGE /Users?filter={SECRET}\r\n\r\n".encode(),  # one word too few
    f"GET /Users?token={SECRET} HTTP/1.1 extra\r\n\r\n".encode(),  # one too many
    f"GET /Users?token={SECRET} FTP/9\r\n\r\n".encode(),  # not HTTP
    f"GET /Users?token={SECRET}\r\n".encode(),  # HTTP/0.9: no headers and no status line otherwise
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + SECRET.encode() + b"\r\n\r\n",  # TLS to a plain port
])
def test_a_malformed_request_line_gets_a_400_that_quotes_nothing_and_is_not_logged(
        server: Any, line: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    answer = raw(server, line)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400")), answer[:40]
    assert SECRET.encode() not in answer
    time.sleep(0.05)  # the log line is written by the server's thread
    err = capsys.readouterr().err
    assert "400" in err and SECRET not in err


def test_the_log_shows_the_path_but_no_query_string_or_body(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/scim/v2/Users?filter=userName%20eq%20%22{SECRET}%22"
    request = urllib.request.Request(url, data=f'{{"password": "{SECRET}"}}'.encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    time.sleep(0.05)
    err = capsys.readouterr().err
    assert "POST /scim/v2/Users 200" in err and SECRET not in err and "filter" not in err


def test_a_silent_client_is_dropped_after_the_socket_timeout(server: Any) -> None:
    started = time.monotonic()
    assert raw(server, b"") == b""  # the server closed the connection: recv returned nothing
    assert time.monotonic() - started < 3
    slow = raw(server, b"POST /Users HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # a body that never comes
    assert SECRET.encode() not in slow and time.monotonic() - started < 6
