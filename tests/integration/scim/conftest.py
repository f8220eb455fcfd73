"""A live webhook: `scim.devserver.serve` on 127.0.0.1 (a free port), the Lambda handler behind it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peoplesync.scim.apigw import lambda_handler
from peoplesync.scim.app import build_app
from peoplesync.scim.devserver import serve
from peoplesync.scim.repository import MemoryScimRepository

TOKEN = "integration-token-5f0c2b"


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[str, MemoryScimRepository]]:
    repo = MemoryScimRepository()
    app = build_app(repo, [TOKEN, "rotated-token-2"])
    server = serve(lambda_handler(app.handle, "/scim/v2"), "127.0.0.1", 0, block=False, quiet=True)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/scim/v2", repo
    finally:
        server.shutdown()
        server.server_close()
