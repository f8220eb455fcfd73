"""The full sweep through the deployed shape: the snapshot and sweep functions (functions/sweep_snapshot,
functions/sweep) on moto's S3, DynamoDB and SQS, then the deliver function fed by the delivery queues (the
`Cloud` harness), as the FullSweep state machine's loop would run them (each system, lifecycle source first:
its snapshot, then its chunks in batches). Given / When / Then in the test's name."""

from __future__ import annotations

import boto3

from peoplesync.adapters.blobs import S3Blobs
from peoplesync.service import sweep_window
from tests.e2e.conftest import REGION, Cloud, Context
from tests.functions import load_function
from tests.unit.conftest import config, hire


def granted_to(function: str) -> set[str]:
    """The DynamoDB actions template.yaml grants the function's role."""
    from cfnlint.decode import decode

    from tests.integration.test_template import TEMPLATE, as_list, grants

    template, _ = decode(str(TEMPLATE))
    return {a for g in grants(template) if g["Function"] == function for a in as_list(g["Action"])
            if a.startswith("dynamodb:")}


def sweep(cloud: Cloud, blobs: S3Blobs, run: str) -> list[str]:
    snap, child = load_function("sweep_snapshot"), load_function("sweep")
    index, more, systems = 0, True, []
    while more:
        shot = snap.handler({"run": run, "index": index}, Context(), rt=cloud.runtime, blobs=blobs)
        keys = blobs.keys(shot["prefix"])
        for i in range(0, len(keys), 2):  # MaxItemsPerBatch, small here
            child.handler({"Items": [{"Key": k} for k in keys[i:i + 2]], "BatchInput": {"run": run}}, Context(),
                          rt=cloud.runtime, blobs=blobs)
        systems.append(shot["system"])
        index, more = shot["next"], shot["more"]
    return systems


def test_given_stale_targets_when_swept_then_they_hold_the_sources_values_and_a_second_sweep_writes_0(
        aws_env: None, monkeypatch) -> None:
    cloud = Cloud(config())
    for n in range(1, 8):
        hire(cloud, n, ad={"mail": f"old{n}@corp.example"}, cloud={"title": "Self-promoted"})
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="snapshots")
    blobs = S3Blobs(s3, "snapshots")
    monkeypatch.setattr("peoplesync.service.sweep.CHUNK", 3)

    systems = sweep(cloud, blobs, "run-1")
    cloud.drain()

    assert systems[0] == "hr" and sorted(systems) == sorted(cloud.systems)
    for n in range(1, 8):
        assert cloud["ad"].get(f"guid-{n}", "mail") == f"p{n}@corp.example"
        assert cloud["cloud"].get(f"u{n}", "title") == f"Title {n}"
    before = cloud.writes()
    assert before["ad"] == 7 and before["cloud"] == 7  # one write each to set the stale value right
    sweep(cloud, blobs, "run-2")
    cloud.drain()
    assert cloud.writes() == before
    assert cloud.dead_letters("reconcile") == []


def test_given_a_finished_sweep_when_the_report_step_runs_then_its_page_is_in_the_bucket_and_names_the_change(
        aws_env: None, monkeypatch) -> None:
    """The state machine's last step (Report) through the snapshot function: the run's page and its JSON under
    reports/, as <run>.html and latest.html, showing every system and the decision the sweep made."""
    import json

    cloud = Cloud(config())
    for n in range(1, 4):
        hire(cloud, n, cloud={"title": "Self-promoted"})
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="snapshots")
    blobs = S3Blobs(s3, "snapshots")
    sweep(cloud, blobs, "run-1")
    cloud.drain()
    assert sweep_window.running(cloud.runtime.store) == "run-1"  # creates look first until the report step
    calls: set[str] = set()
    cloud.ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.add(f"dynamodb:{model.name}"))

    written = load_function("sweep_snapshot").handler(
        {"run": "run-1", "report": True, "since": "2000-01-01T00:00:00.000Z"}, Context(), rt=cloud.runtime,
        blobs=blobs)

    assert calls and calls <= granted_to("SweepSnapshotFunction")  # what the step calls, its role allows

    assert written == {"html": "s3://snapshots/reports/run-1.html", "json": "s3://snapshots/reports/run-1.json"}
    assert sweep_window.running(cloud.runtime.store) is None  # the sweep's window closed (in DynamoDB)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="snapshots", Prefix="reports/")["Contents"])
    assert keys == ["reports/latest.html", "reports/latest.json", "reports/run-1.html", "reports/run-1.json"]
    page = s3.get_object(Bucket="snapshots", Key="reports/run-1.html")["Body"].read().decode()
    for system in cloud.systems:
        assert f'data-system="{system}"' in page
    data = json.loads(s3.get_object(Bucket="snapshots", Key="reports/latest.json")["Body"].read())
    titles = [f for p in data["people"] for f in p["fields"] if f.get("field") == "title"]
    assert any("Self-promoted" in json.dumps(f) for f in titles)  # the cloud's own edit, put back, with why
