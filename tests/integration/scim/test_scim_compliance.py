"""scim2-tester (the python-scim project's compliance checker) against the live webhook."""

from __future__ import annotations

import collections

import pytest

httpx2 = pytest.importorskip("httpx2", reason="scim2-tester's HTTP engine needs httpx2 (pip install '.[dev]')")
scim2_tester = pytest.importorskip("scim2_tester")
from scim2_client.engines.httpx2 import SyncSCIMClient  # noqa: E402

from .conftest import TOKEN  # noqa: E402


def test_given_the_live_webhook_when_scim2_tester_runs_every_check_then_every_check_passes(live) -> None:
    base_url, _ = live
    with httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        client = SyncSCIMClient(http)
        client.discover()
        results = scim2_tester.check_server(client)
    tally = collections.Counter(r.status.name for r in results)
    failed = [f"{r.title}: {r.reason}" for r in results if r.status != scim2_tester.Status.SUCCESS]
    print(f"scim2-tester: {tally['SUCCESS']} passed, {len(results) - tally['SUCCESS']} not passed, {dict(tally)}")
    assert len(results) >= 100
    assert failed == []
