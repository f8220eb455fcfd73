"""API Gateway HTTP API (payload format 2.0) events to and from the webhook's `ScimRequest`/`ScimResponse`.

Stdlib only. The SCIM routes are expected under one prefix (`base_path`, e.g. `/scim/v2`, route
`ANY /scim/v2/{proxy+}`); a named stage's prefix in `rawPath` is allowed for.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from .http import ScimRequest, ScimResponse, error_response


def to_request(event: dict[str, Any], base_path: str = "/scim/v2") -> ScimRequest | ScimResponse:
    """The request an event carries, or the error response when it is not below `base_path`."""
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    raw_path = str(event.get("rawPath") or http.get("path") or "/")
    stage = str(ctx.get("stage") or "$default")
    prefix = "" if stage == "$default" else f"/{stage}"
    if prefix and not raw_path.startswith(prefix + "/"):
        prefix = ""
    path = raw_path[len(prefix):]
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    if base and not (path == base or path.startswith(base + "/")):
        return error_response(404, "no SCIM endpoint here")
    path = path[len(base):] or "/"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw_query = event.get("rawQueryString")
    if raw_query is not None:
        query = dict(parse_qsl(str(raw_query), keep_blank_values=True))
    else:
        query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()
    proto = headers.get("x-forwarded-proto", "https")
    host = ctx.get("domainName") or headers.get("host") or "localhost"
    return ScimRequest(method=method, path=path, query=query, headers=headers, body=data,
                       base_url=f"{proto}://{host}{prefix}{base}")


def to_result(response: ScimResponse) -> dict[str, Any]:
    return {"statusCode": response.status, "headers": dict(response.headers),
            "body": response.body_bytes().decode(), "isBase64Encoded": False}


def lambda_handler(handle: Callable[[ScimRequest], ScimResponse], base_path: str = "/scim/v2"
                   ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler `(event, context) -> result` around `handle` (e.g. `ScimApp.handle`)."""

    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        request = to_request(event, base_path)
        return to_result(request if isinstance(request, ScimResponse) else handle(request))

    return handler


def load_event(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
