"""A small local HTTP server that turns each request into an API Gateway HTTP API (v2) event and calls a
Lambda handler `handler(event, context)`: the deployed function's code path, on 127.0.0.1.

    serve(handler, port=8080)                       # blocks until interrupted
    server = serve(handler, port=0, block=False)    # a free port, served from a daemon thread
    server.server_address[1]; server.shutdown()

What it never does: log a query string (a filter on userName), a body or a header; quote a malformed request
line back (it answers 400 with a fixed text); wait for a silent client longer than `timeout` seconds.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own cap on a request payload
SOCKET_TIMEOUT = 10.0  # seconds a client may stay silent (request line, headers, body) before it is dropped
_FAILED = b'{"message":"Internal Server Error"}'
_TEXT_TYPES = ("json", "text", "xml", "x-www-form-urlencoded")

Handler = Callable[[dict[str, Any], Any], Any]


class _Context:
    """The bits of a Lambda context handlers commonly read."""

    function_name = "peoplesync-local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:peoplesync-local"

    def __init__(self) -> None:
        self.aws_request_id = secrets.token_hex(16)
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def to_event(method: str, target: str, headers: list[tuple[str, str]], body: bytes,
             source_ip: str = "127.0.0.1") -> dict[str, Any]:
    url = urlsplit(target)
    joined: dict[str, str] = {}
    for k, v in headers:
        k = k.lower()
        joined[k] = f"{joined[k]},{v}" if k in joined else v
    joined.setdefault("x-forwarded-proto", "http")  # API Gateway sets it (https); here the client spoke http
    query: dict[str, str] = {}
    for k, v in parse_qsl(url.query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    content_type = joined.get("content-type", "")
    textual = not body or any(t in content_type for t in _TEXT_TYPES) or not content_type
    try:
        text = body.decode() if textual else None
    except UnicodeDecodeError:
        text = None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "cookies": [c.strip() for c in joined.pop("cookie", "").split(";") if c.strip()],
        "headers": joined,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": joined.get("host", "localhost"),
            "domainPrefix": "local", "requestId": secrets.token_hex(8), "routeKey": "$default",
            "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
            "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": joined.get("user-agent", "")},
        },
        "body": text if text is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": text is None,
    }


def from_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """An API Gateway v2 result: a dict with statusCode, or anything else (sent as a 200 JSON body)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, data


class _RequestHandler(BaseHTTPRequestHandler):
    """The server's handler; `_request_handler` makes one per served Lambda handler."""

    handler: Handler
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server_version = "peoplesync-devserver"

    def parse_request(self) -> bool:
        if len(getattr(self, "raw_requestline", b"").split()) != 3:  # HTTP/0.9 ("GET /path") or garbage
            self.command, self.request_version = "", "HTTP/1.0"
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # the standard one quotes the request line (query string included) in the log and the answer
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # else no status line would be sent
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
        self._send(code, {"Content-Type": "text/plain"}, f"{code} {phrase}\n".encode())

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._send(413 if length > 0 else 400, {"Content-Type": "text/plain"}, b"bad request size\n")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = to_event(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        try:
            status, headers, data = from_result(self.handler(event, _Context()))
        except Exception as exc:  # the handler's bug: 502, as API Gateway answers a failed integration
            self.log_error("handler raised %s", type(exc).__name__)
            status, headers, data = 502, {"Content-Type": "application/json"}, _FAILED
        self._send(status, headers, data)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # method, path and status only: the query string (a filter on userName) and bodies hold
        # personal data, and headers hold the token; a request line that did not parse is not shown
        if not getattr(self.server, "quiet", False):
            path = urlsplit(self.path).path if self.command and self.path else "(malformed request)"
            self.log_message("%s %s %s", self.command or "-", path, code)

    def log_error(self, format: str, *args: Any) -> None:
        # the standard server's own errors (a timeout) carry no request data; ours pass only names
        if not getattr(self.server, "quiet", False):
            self.log_message(format, *args)



def _request_handler(handler: Handler, socket_timeout: float = SOCKET_TIMEOUT) -> type[BaseHTTPRequestHandler]:
    # `timeout`: StreamRequestHandler sets it on each connection's socket
    return type("RequestHandler", (_RequestHandler,), {"handler": staticmethod(handler), "timeout": socket_timeout})


def serve(handler: Handler, host: str = "127.0.0.1", port: int = 8080, *, block: bool = True,
          quiet: bool = False, timeout: float = SOCKET_TIMEOUT) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _request_handler(handler, timeout))
    server.daemon_threads = True
    server.quiet = quiet  # type: ignore[attr-defined]
    if block:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return server
    Thread(target=server.serve_forever, name=f"devserver:{server.server_address[1]}", daemon=True).start()
    return server
