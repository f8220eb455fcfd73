"""The FullSweep state machine's own definition (from template.yaml) executed by moto's Step Functions
interpreter: the Pass/Task/Choice loop over the systems and the Distributed Map whose ItemReader lists the
snapshot chunks in (moto) S3 and whose ItemBatcher hands each child a batch of chunk keys.

Lambda tasks in moto need Docker, which this machine does not have: the interpreter's Lambda invoke
(`lambda_eval_utils._invoke_lambda_function`) is patched to call our two functions' handlers in-process
(functions/sweep_snapshot and functions/sweep, loaded as tests/functions.py loads every function), with a
local runtime (memory store, in-process queues, the CSV connectors) and S3 blobs on moto's S3. The children
run one at a time (a lock), since the in-process runtime is one process's, not DynamoDB.

What a user checks: the execution succeeds, every directory row holds HR's title once, each child got at most
MaxItemsPerBatch chunk keys, and a second execution writes nothing; a child whose invocation fails after its
work (a timeout after writing) is run again by the definition's Retry, and nothing is written twice.
ToleratedFailurePercentage is parsed but not evaluated by moto ("declarations currently have no effect").

One key is taken out before moto sees the definition: `ItemBatcher`. moto 5.2.1's ASL grammar
(moto/stepfunctions/parser/asl/antlr) has no ItemBatcher (CreateStateMachine answers "ASLParserException ...
mismatched input '"ItemBatcher"'"), so here each child gets one listed object, `{"Key": ...}`, which the item
processor also takes (`sweep.item_keys`). The batching itself is checked on the definition
(tests/integration/test_template.py) and run by tests/unit/test_sweep.py (`sweep.run_local`). Its grammar also
reads ToleratedFailurePercentage only as a decimal (5.0; the integer 5 is "no viable alternative"), so the
test hands it the same value as a float.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from peoplesync import bootstrap
from peoplesync.adapters.blobs import S3Blobs
from tests.functions import ROOT, load_function
from tests.integration.aws.aws_helpers import REGION
from tests.unit.test_sweep import EXPECTED, Context, directory, files, leave_hr, statuses

BUCKET = "peoplesync-snapshots-test"
ARN = f"arn:aws:lambda:{REGION}:123456789012:function:"


def definition() -> tuple[str, dict[str, Any]]:
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems, problems
    props = template["Resources"]["FullSweepStateMachine"]["Properties"]
    runnable = json.loads(json.dumps(props["Definition"]))
    del runnable["States"]["Reconcile"]["ItemBatcher"]  # moto 5.2.1 cannot parse it (see the docstring)
    tolerated = runnable["States"]["Reconcile"]["ToleratedFailurePercentage"]  # its grammar wants a NUMBER
    runnable["States"]["Reconcile"]["ToleratedFailurePercentage"] = float(tolerated)  # token: 5.0, not 5
    text = json.dumps(runnable)
    for name, arn in {"SnapshotFunctionArn": ARN + "snapshot", "SweepFunctionArn": ARN + "sweep",
                      "SnapshotBucket": BUCKET}.items():
        text = text.replace("${" + name + "}", arn)
    states = props["Definition"]["States"]
    return text, states


@pytest.fixture
def credentials(monkeypatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)


def execute(bridge: bootstrap.LocalBridge, run_name: str, monkeypatch: Any, die_after: str | None = None,
            snapshot_ms: int = 900_000) -> tuple[dict[str, Any], list[int], list[str]]:
    """One execution of the template's definition in a fresh moto (a second execution in the same moto fails
    inside it: it deep-copies the state machine, and after a Distributed Map run that holds a lock, "cannot
    pickle '_thread.RLock'"). The bridge's state lives outside moto and carries over. `die_after`: the child
    given this chunk key does its work, then its invocation fails once (a Lambda that timed out after writing).
    `snapshot_ms`: the time each snapshot invocation has left (under the margin kept back: one page each).
    Returns the execution, the number of chunk keys each child got, and the snapshot's object keys."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        blobs = S3Blobs(s3, BUCKET)
        snap, child = load_function("sweep_snapshot"), load_function("sweep")
        lock, batches, died, snapshots, vanishing = threading.Lock(), [], [], [], []

        def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
            event = json.loads(parameters["Payload"])
            with lock:
                if "vanished" in event:  # the vanished step, after each system's Map
                    vanishing.append(event)
                    return {"StatusCode": 200, "ExecutedVersion": "$LATEST",
                            "Payload": child.handler(event, Context(), rt=bridge.runtime, blobs=blobs)}
                if parameters["FunctionName"] == ARN + "snapshot":
                    context = Context()
                    context.remaining_ms = snapshot_ms
                    snapshots.append(event)
                    answer = snap.handler(event, context, rt=bridge.runtime, blobs=blobs)
                else:
                    batches.append(len(event.get("Items", [event])))
                    answer = child.handler(event, Context(), rt=bridge.runtime, blobs=blobs)
                    if die_after and event.get("Key") == die_after and not died:
                        died.append(die_after)
                        return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                                "Payload": {"errorType": "Sandbox.Timedout", "errorMessage": "timed out"}}
            return {"StatusCode": 200, "Payload": answer, "ExecutedVersion": "$LATEST"}

        monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", invoke)
        text, _ = definition()
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="full-sweep", definition=text,
                                           roleArn="arn:aws:iam::123456789012:role/sweep")["stateMachineArn"]
        execution = run(sfn, machine, run_name)
        assert died == ([die_after] if die_after else [])
        execution["snapshots"], execution["vanishing"] = snapshots, vanishing
        return execution, batches, [k for k in blobs.keys(f"runs/{run_name}/") if "/listed/" not in k]


def test_given_the_template_definition_when_moto_executes_it_then_every_target_holds_its_source(
        credentials, tmp_path: Path, monkeypatch) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local(bootstrap.load_config(config), base_dir=tmp_path)
    monkeypatch.setattr("peoplesync.service.sweep.CHUNK", 2)  # 23 people: 12 HR chunks, a child each

    first, batches, keys = execute(bridge, "run-1", monkeypatch)
    writes = bridge.deliver_owed().total_writes

    assert first["status"] == "SUCCEEDED", first
    assert directory(config) == EXPECTED
    assert writes == 11 + 4
    assert batches == [1] * (12 + 6)  # a child per chunk object: 12 of HR (23 accounts), 6 of the directory
    assert keys[0].startswith("runs/run-1/00-hr/") and keys[-1].startswith("runs/run-1/01-directory/")

    second, _, _ = execute(bridge, "run-2", monkeypatch)
    assert second["status"] == "SUCCEEDED", second
    assert bridge.deliver_owed().total_writes == 0
    assert directory(config) == EXPECTED


def test_given_reads_longer_than_an_invocation_when_moto_executes_it_then_the_snapshot_goes_on_page_by_page(
        credentials, tmp_path: Path, monkeypatch) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local(bootstrap.load_config(config), base_dir=tmp_path)
    monkeypatch.setattr("peoplesync.service.sweep.CHUNK", 5)  # 23 HR accounts: 5 pages; 12 directory rows: 3

    execution, batches, _ = execute(bridge, "run-1", monkeypatch, snapshot_ms=1_000)

    assert execution["status"] == "SUCCEEDED", execution
    resumed = [e["index"] for e in execution["snapshots"] if e.get("resume")]
    assert resumed == [0] * 4 + [1] * 2  # the MorePages loop: every page after the first of each system
    assert batches == [1] * (5 + 3)  # each chunk reconciled once
    assert bridge.deliver_owed().total_writes == 11 + 4
    assert directory(config) == EXPECTED


def test_given_a_child_that_dies_after_its_work_when_the_map_retries_it_then_nothing_is_written_twice(
        credentials, tmp_path: Path, monkeypatch) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local(bootstrap.load_config(config), base_dir=tmp_path)
    monkeypatch.setattr("peoplesync.service.sweep.CHUNK", 4)

    execution, batches, _ = execute(bridge, "run-1", monkeypatch, die_after="runs/run-1/00-hr/000001.jsonl")

    assert execution["status"] == "SUCCEEDED", execution
    assert len(batches) == 6 + 1 + 3  # 6 HR chunks, one of them twice (the retry), 3 directory chunks
    assert bridge.deliver_owed().total_writes == 11 + 4
    assert directory(config) == EXPECTED


def test_given_people_gone_from_hr_when_moto_executes_it_again_then_the_vanished_step_deactivates_them(
        credentials, tmp_path: Path, monkeypatch) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local(bootstrap.load_config(config), base_dir=tmp_path)
    monkeypatch.setattr("peoplesync.service.sweep.CHUNK", 5)
    execute(bridge, "run-1", monkeypatch)
    bridge.deliver_owed()
    leave_hr(config, {4, 7})

    execution, _, _ = execute(bridge, "run-2", monkeypatch, snapshot_ms=1_000)
    bridge.reconcile_messages([])  # the reconcile queue the vanished step sent to, as its consumer would
    bridge.deliver_owed()

    assert execution["status"] == "SUCCEEDED", execution
    steps = [(e["vanished"]["system"], e["vanished"]["complete"]) for e in execution["vanishing"]]
    assert steps == [("hr", True), ("directory", True)]  # once per system, after its Map, read page by page
    assert {e for e, status in statuses(config).items() if status != "active"} == {"E4", "E7"}


def run(sfn: Any, machine: str, name: str) -> dict[str, Any]:
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = sfn.describe_execution(executionArn=arn)
        if answer["status"] != "RUNNING":
            return dict(answer)
        time.sleep(0.2)
    raise AssertionError(f"{name} still running after 120 s")
