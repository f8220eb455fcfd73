"""The Workday connector against the RaaS stand-in over HTTP on 127.0.0.1: auth, formats, failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from peoplesync.config import SystemConfig
from peoplesync.connectors import workday
from peoplesync.ports import PermanentError, ReadFailed
from peoplesync_dev.standins.workday import sample_workers, start_standin

BASIC = {"username": "ISU_PeopleSync", "password": "wd-pass"}
OAUTH = {"client_id": "peoplesync-client", "client_secret": "client-secret", "refresh_token": "refresh-0001"}
ATTRS = ["Email_-_Work", "Emergency_Contacts_group[].Phone", "Hire_Date", "Worker"]
JUNE = datetime(2024, 6, 1, 12, tzinfo=UTC)


class Secrets:
    def __init__(self, **values: dict[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.values[name.replace("peoplesync/", "")])


@pytest.fixture
def standin() -> Iterator[tuple[str, Any]]:
    url, server = start_standin(sample_workers(4))
    try:
        yield url, server
    finally:
        server.stop()


def hr(url: str, secret: dict[str, Any], attrs=ATTRS, **settings) -> workday.WorkdayConnector:
    conf = SystemConfig(connector="workday_raas", url=url, credentials="secret:peoplesync/hr", **settings)
    conn = workday.WorkdayConnector.from_system("hr", conf, attrs, secrets=Secrets(hr=secret), now=lambda: JUNE)
    conn._client.sleep = lambda seconds: None  # Retry-After waits are not what these tests measure
    return conn


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("secret", [BASIC, OAUTH], ids=["basic", "oauth"])
def test_given_a_report_when_read_then_every_worker_is_observed_complete(standin, fmt, secret):
    url, server = standin

    result = hr(url, secret, format=fmt).read()

    assert result.complete is True
    assert [o.key for o in result.observations] == ["21001", "21002", "21003", "21004"]
    first = result.observations[0]
    assert first.attrs == {"Email_-_Work": "given0.family0@example.com",
                           "Emergency_Contacts_group[].Phone": ("+1 317 555 0000",),
                           "Hire_Date": "2010-01-15", "Worker": "Given0 Family0"}
    assert server.standin.requests[-1]["params"]["format"] == fmt
    assert server.standin.requests[-1]["auth"] == ("basic" if secret is BASIC else "bearer")


@pytest.mark.parametrize("secret", [{**BASIC, "password": "wrong"}, {**OAUTH, "refresh_token": "revoked"},
                                    {**OAUTH, "client_secret": "wrong"}], ids=["basic", "refresh", "client"])
def test_given_bad_credentials_when_read_then_the_read_fails_and_nothing_is_concluded(standin, secret):
    url, _ = standin
    with pytest.raises(ReadFailed) as failure:
        hr(url, secret).read()
    assert "wrong" not in str(failure.value) and "revoked" not in str(failure.value)


def test_given_an_expired_access_token_when_read_then_it_is_refreshed_once_and_the_read_succeeds(standin):
    url, server = standin
    conn = hr(url, OAUTH)
    conn.read()
    server.standin.expire_tokens()

    result = conn.read()

    assert len(result.observations) == 4
    posts = [r for r in server.standin.requests if r["method"] == "POST"]
    assert len(posts) == 2  # the first token was cached; the second fetched after the 401


def test_given_rate_limiting_when_read_then_retry_after_is_honoured_and_the_read_succeeds(standin):
    url, server = standin
    server.standin.fail_next(429, retry_after=1)
    server.standin.fail_next(503)
    conn = hr(url, BASIC)
    waits: list[float] = []
    conn._client.sleep = waits.append

    result = conn.read()

    assert len(result.observations) == 4 and waits[0] == 1.0 and len(waits) == 2


def test_given_a_report_that_keeps_failing_when_read_then_read_failed(standin):
    url, server = standin
    server.standin.fail_next(500, times=5)

    with pytest.raises(ReadFailed, match="500"):
        hr(url, BASIC).read()


def test_given_an_unreachable_host_when_read_then_read_failed():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ReadFailed):
        hr(f"http://127.0.0.1:{port}/ccx/service/customreport2/acme/ISU/R", BASIC, timeout=2).read()


@pytest.mark.parametrize("empty", ["list", "omit"])
def test_given_an_empty_report_when_read_then_it_is_an_empty_complete_read(empty):
    url, server = start_standin([], empty=empty)
    try:
        result = hr(url, BASIC).read()
    finally:
        server.stop()
    assert result.observations == [] and result.complete is True


def test_given_terminations_when_read_then_past_ones_are_inactive_and_future_ones_still_active(standin):
    url, server = standin
    server.standin.workers[1]["Termination_Date"] = "2024-05-15-07:00"  # past
    server.standin.workers[2]["Termination_Date"] = "2024-09-30-07:00"  # future-dated

    seen = {o.key: (o.active, o.removed) for o in hr(url, BASIC).read().observations}

    assert seen == {"21001": (True, False), "21002": (False, False), "21003": (True, False), "21004": (True, False)}
    removed = {o.key: o.removed for o in hr(url, BASIC, terminated_as="removed").read().observations}
    assert removed["21002"] is True and removed["21003"] is False


def test_given_parts_when_read_then_each_part_is_pulled_and_the_workers_merged():
    def by_prompt(params, workers):
        low, high = int(params["From_ID"]), int(params["To_ID"])
        return [w for w in workers if low <= int(w["Employee_ID"]) <= high]

    url, server = start_standin(sample_workers(6), prompt_filter=by_prompt)
    try:
        result = hr(url, BASIC, parts=[{"From_ID": "21001", "To_ID": "21003"},
                                       {"From_ID": "21004", "To_ID": "29999"}]).read()
    finally:
        server.stop()
    assert sorted(o.key for o in result.observations) == [str(21001 + i) for i in range(6)]
    assert [r["params"]["From_ID"] for r in server.standin.requests] == ["21001", "21004"]


def test_given_a_report_larger_than_allowed_when_read_then_read_failed(standin):
    url, _ = standin
    with pytest.raises(ReadFailed, match="max_bytes"):
        hr(url, BASIC, max_bytes=100).read()


def test_given_the_configuration_marks_hr_writable_then_building_it_is_refused(standin):
    url, _ = standin
    conf = SystemConfig(connector="workday_raas", url=url, credentials="secret:peoplesync/hr", writable=True)
    with pytest.raises(PermanentError, match="cannot be written"):
        workday.WorkdayConnector.from_system("hr", conf, ATTRS, secrets=Secrets(hr=BASIC))


def test_given_the_xsds_query_then_the_standin_describes_the_fields(standin):
    import requests

    url, _ = standin
    body = requests.get(url + "?xsds", auth=(BASIC["username"], BASIC["password"]), timeout=5).text
    assert 'name="Employee_ID"' in body and "xsd:schema" in body
