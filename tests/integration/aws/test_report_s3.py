"""The report page written to S3 (moto): the page and its JSON under the prefix, per run and as latest."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from peoplesync import bootstrap
from peoplesync.report_page import gather
from peoplesync.report_page.s3 import write_report

CONFIG = {"systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"}},
          "fields": {"employee_id": {"source": "hr", "map": {"hr": "id", "ad": "employeeID"}}},
          "match": ["employee_id"]}


def test_the_page_and_its_json_land_under_the_prefix_per_run_and_as_latest() -> None:
    plan = bootstrap.compile_config(bootstrap.load_config(CONFIG))
    data = gather.report_data(plan, title="nightly full reconciliation")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        written = write_report(s3, "reports", "peoplesync/runs", "20260131T060000Z", data)
        assert written == {"html": "s3://reports/peoplesync/runs/20260131T060000Z.html",
                           "json": "s3://reports/peoplesync/runs/20260131T060000Z.json"}
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reports")["Contents"])
        assert keys == ["peoplesync/runs/20260131T060000Z.html", "peoplesync/runs/20260131T060000Z.json",
                        "peoplesync/runs/latest.html", "peoplesync/runs/latest.json"]
        page = s3.get_object(Bucket="reports", Key="peoplesync/runs/latest.html")
        assert page["ContentType"] == "text/html; charset=utf-8"
        html = page["Body"].read().decode()
        assert 'data-system="hr"' in html and 'data-field="employee_id"' in html
        stored = json.loads(s3.get_object(Bucket="reports", Key="peoplesync/runs/20260131T060000Z.json")["Body"].read())
        assert stored["mapping"]["systems"][0]["name"] == "hr"


def test_a_run_name_cannot_climb_out_of_the_prefix() -> None:
    plan = bootstrap.compile_config(bootstrap.load_config(CONFIG))
    with pytest.raises(ValueError, match="run's name"):
        write_report(object(), "reports", "p/", "../../etc", gather.report_data(plan, title="x"))
