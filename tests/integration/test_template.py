"""template.yaml: the linters pass, and its structure keeps the promises docs/deploy.md makes (every queue has a
dead-letter queue and an alarm on it, each function its own least-privilege role, the table as the store
expects it, per-target delivery concurrency, one schedule per polled system)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from peoplesync.adapters.aws import AwsSettings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return loaded


def resources(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every resource, including those inside Fn::ForEach loops (with their logical id patterns)."""

    def walk(section: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, value in section.items():
            if name.startswith("Fn::ForEach::"):
                yield from walk(value[2])
            else:
                yield name, value

    yield from walk(template["Resources"])


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources(template) if r["Type"] == kind}


def getatt_target(node: Any) -> str:
    """The logical id a Fn::GetAtt names (plain, or built with Fn::Sub inside a loop)."""
    target = node["Fn::GetAtt"][0]
    return target["Fn::Sub"] if isinstance(target, dict) else target


def tool_env() -> dict[str, str]:
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


# --- the linters ------------------------------------------------------------------------------------------
def cfn_lint() -> list[str]:
    found = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    if not Path(found).exists():
        pytest.skip("cfn-lint is not installed (pip install -e '.[dev]')")
    return [found]


def test_given_the_template_then_cfn_lint_passes():
    result = subprocess.run([*cfn_lint(), str(TEMPLATE)], capture_output=True, text=True, timeout=120,
                            env=tool_env(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_given_several_systems_and_the_optional_rule_then_cfn_lint_still_passes():
    result = subprocess.run(
        [*cfn_lint(), str(TEMPLATE), "--parameters",
         "PollSchedules=ad=rate(5 minutes),hr=cron(0 6 * * ? *),badge-db=rate(1 hour)",
         "DeliverTargets=ad,cloud,badge-db", "DeliverConcurrency=cloud=2,ad=5",
         "GenesysEventBusName=aws.partner/genesys.com/cloud/org-1/peoplesync",
         "AlarmTopicArn=arn:aws:sns:us-east-1:123456789012:ops"],
        capture_output=True, text=True, timeout=120, env=tool_env(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_given_the_template_then_sam_validate_lint_passes():
    sam = shutil.which("sam") or str(Path(sys.executable).with_name("sam"))
    if not Path(sam).exists():
        pytest.skip("the SAM CLI is not installed (pip install -e '.[dev]' brings aws-sam-cli)")
    result = subprocess.run([sam, "validate", "--lint", "--template-file", str(TEMPLATE)], cwd=ROOT,
                            capture_output=True, text=True, timeout=180, env=tool_env(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


# --- queues -----------------------------------------------------------------------------------------------
def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    dlqs = set()
    for _, r in resources(template):
        props = r.get("Properties", {})
        if "RedrivePolicy" in props:
            dlqs.add(getatt_target(props["RedrivePolicy"]["deadLetterTargetArn"]))
        targets = props.get("Targets", []) + ([props["Target"]] if "Target" in props else [])
        dlqs |= {getatt_target(t["DeadLetterConfig"]["Arn"]) for t in targets if "DeadLetterConfig" in t}
    return dlqs


def test_given_the_template_then_every_work_queue_has_a_dead_letter_queue(template):
    queues = of_type(template, "AWS::SQS::Queue")
    dlqs = dead_letter_queues(template)

    assert dlqs <= set(queues)
    work = set(queues) - dlqs
    assert work == {"ReconcileQueue", "DeliverQueue&{Target}"}
    for name in work:
        assert getatt_target(queues[name]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) in dlqs
    for name in dlqs:  # a dead letter waits as long as SQS allows
        assert queues[name]["Properties"]["MessageRetentionPeriod"] == 1209600


def test_given_the_template_then_every_dead_letter_queue_has_an_alarm_on_its_depth(template):
    alarmed = set()
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible" and props["Namespace"] == "AWS/SQS"
        assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        [dimension] = props["Dimensions"]
        alarmed.add(getatt_target(dimension["Value"]))

    assert alarmed == dead_letter_queues(template)


def test_given_the_template_then_every_queue_is_encrypted_and_hides_a_message_longer_than_its_consumer_runs(
        template):
    functions = of_type(template, "AWS::Serverless::Function")
    consumer = {"ReconcileQueue": "ReconcileFunction", "DeliverQueue&{Target}": "DeliverFunction"}
    for name, queue in of_type(template, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        if name in consumer:  # AWS: at least six times the function timeout
            assert queue["Properties"]["VisibilityTimeout"] >= 6 * functions[consumer[name]]["Properties"]["Timeout"]


def test_given_the_queue_consumers_then_each_reports_partial_batch_failures(template):
    reconcile = template["Resources"]["ReconcileFunction"]["Properties"]["Events"]["Queue"]
    assert reconcile["Type"] == "SQS"
    assert reconcile["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [mapping] = of_type(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert getatt_target(mapping["Properties"]["EventSourceArn"]) == "DeliverQueue&{Target}"


# --- the intrinsic functions the loops rely on, evaluated -------------------------------------------------
def evaluate(node: Any, names: dict[str, Any]) -> Any:
    """Enough of CloudFormation's intrinsic functions to evaluate the loop bodies for given parameters."""
    if isinstance(node, (str, int)):
        return str(node)
    (fn, arg), = node.items()
    if fn == "Ref":
        return names[arg]
    if fn == "Fn::Select":
        return evaluate(arg[1], names)[int(evaluate(arg[0], names))]
    if fn == "Fn::Split":
        return evaluate(arg[1], names).split(evaluate(arg[0], names))
    if fn == "Fn::Join":
        parts = evaluate(arg[1], names)
        return evaluate(arg[0], names).join(parts if isinstance(parts, list) else [parts])
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        scope = {**names, **{k: evaluate(v, names) for k, v in extra.items()}}
        return re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: str(scope[m.group(1)]), text)
    raise AssertionError(f"unexpected function {fn}")


@pytest.mark.parametrize(("listed", "target", "expected"), [
    (["cloud=2", "ad=5"], "ad", "5"),
    (["cloud=2", "ad=5"], "cloud", "2"),
    (["cloud=2", "ad=5"], "badges", "3"),  # not listed: the default
    (["bad=7"], "d", "3"),  # "d" is not "bad"
    ([""], "ad", "3"),  # the parameter left empty
])
def test_given_per_target_concurrency_then_each_delivery_mapping_gets_its_own_or_the_default(
        template, listed, target, expected):
    [mapping] = of_type(template, "AWS::Lambda::EventSourceMapping").values()
    expression = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]

    got = evaluate(expression, {"Target": target, "DeliverConcurrency": listed, "DeliverMaxConcurrency": 3})

    assert got == expected


def test_given_poll_schedule_entries_then_each_schedule_polls_its_system_at_its_expression(template):
    loop = template["Resources"]["Fn::ForEach::Polls"]
    assert loop[1] == {"Ref": "PollSchedules"}
    [schedule] = loop[2].values()
    props = schedule["Properties"]

    for entry, system, expression in [("hr=cron(0 6 * * ? *)", "hr", "cron(0 6 * * ? *)"),
                                      ("badge-db=rate(15 minutes)", "badge-db", "rate(15 minutes)")]:
        names = {"Entry": entry}
        assert evaluate(props["ScheduleExpression"], names) == expression
        assert json.loads(evaluate(props["Target"]["Input"], names)) == {"system": system}
    assert getatt_target(props["Target"]["Arn"]) == "PollFunction"


# --- IAM --------------------------------------------------------------------------------------------------
def statements(policies: list[Any]) -> Iterator[dict[str, Any]]:
    for policy in policies:
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, \
            f"only inline statements, no managed policies or SAM policy templates: {policy}"
        yield from policy["Statement"]


def test_given_the_functions_then_each_has_its_own_role_and_no_wildcard_resource(template):
    functions = of_type(template, "AWS::Serverless::Function")
    assert set(functions) == {"ScimWebhookFunction", "PollFunction", "ReconcileFunction", "DeliverFunction",
                              "SweepSnapshotFunction", "SweepFunction"}
    for name, function in functions.items():
        props = function["Properties"]
        assert "Role" not in props, f"{name} must get a role of its own"
    for statement in grants(template):
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in targets, f"{statement['Function']}: {statement.get('Sid')} grants every resource"
        for target in targets:
            text = json.dumps(target)
            assert not re.search(r":(sqs|dynamodb|secretsmanager|ssm):\*", text)


def test_given_the_scheduler_role_then_it_may_only_invoke_the_poll_function_and_dead_letter(template):
    role = template["Resources"]["PollSchedulerRole"]["Properties"]
    [policy] = role["Policies"]
    granted = {(s["Action"], getatt_target(s["Resource"])) for s in policy["PolicyDocument"]["Statement"]}
    assert granted == {("lambda:InvokeFunction", "PollFunction"), ("sqs:SendMessage", "EventsDeadLetterQueue")}


# --- the table and the environment agree with the adapters -----------------------------------------------
def test_given_the_table_then_it_is_what_the_dynamodb_store_expects(template):
    props = template["Resources"]["StateTable"]["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == \
        {"pk": "S", "sk": "S", "gpk": "S", "gsk": "S"}
    [index] = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byKind" and index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert template["Resources"]["StateTable"]["DeletionPolicy"] == "Retain"


def test_given_the_function_environment_then_every_variable_is_one_the_settings_model_reads(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    ours = {k for k in variables if k.startswith("PEOPLESYNC_")}
    aliases = set(AwsSettings.variables())
    required = {name for name, needed in AwsSettings.variables().items() if needed}

    assert ours <= aliases
    assert required <= ours


def test_given_the_code_locations_then_each_builds_with_sam(template):
    for name, function in of_type(template, "AWS::Serverless::Function").items():
        assert (ROOT / function["Properties"]["CodeUri"] / "requirements.txt").is_file(), name
    layer = template["Resources"]["PeoplesyncLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert "build-PeoplesyncLayer:" in makefile and "--invalidation-mode unchecked-hash" in makefile
    assert (ROOT / layer["Properties"]["ContentUri"] / "peoplesync" / "__init__.py").is_file()


# --- least privilege, as a security reviewer reads it ------------------------------------------------------
ROLES = {"ScimWebhookFunctionRole": "ScimWebhookFunction", "PollFunctionRole": "PollFunction",
         "ReconcileFunctionRole": "ReconcileFunction", "DeliverFunctionRole": "DeliverFunction",
         "SweepFunctionRole": "SweepFunction"}
SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement a function's role gets: its own `Policies` (a statement under `Fn::If` carries the
    condition's name as `If`) and the per-target role policies of the delivery loop (`Loop`: True)."""
    found = []
    for name, function in of_type(template, "AWS::Serverless::Function").items():
        for statement in statements(function["Properties"]["Policies"]):
            if "Fn::If" in statement:
                condition, statement, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                statement = {**statement, "If": condition}
            found.append({**statement, "Function": name, "Loop": False})
    for name, policy in of_type(template, "AWS::IAM::RolePolicy").items():
        role = policy["Properties"]["RoleName"]["Ref"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found.append({**statement, "Function": ROLES[role], "Loop": name})
    return found


def granted(template: dict[str, Any], function: str, action: str) -> list[dict[str, Any]]:
    return [g for g in grants(template) if g["Function"] == function and action in as_list(g["Action"])]


def test_given_every_statement_then_each_names_its_resources_and_no_queue_or_secret_by_a_bare_wildcard(template):
    for g in grants(template):
        for target in as_list(g["Resource"]):
            assert target != "*", f"{g['Function']}: {g.get('Sid')} grants every resource"
            text = json.dumps(target)
            assert not re.search(r":(sqs|dynamodb|secretsmanager|ssm|lambda):\*", text), (g["Function"], text)
            assert "-deliver-*" not in text, f"{g['Function']}: {g.get('Sid')} names delivery queues by prefix"
        actions = as_list(g["Action"])
        assert not any(a.endswith(":*") or a == "*" for a in actions), (g["Function"], actions)


def test_given_the_queue_permissions_then_each_names_queues_of_this_stack(template):
    queues = set(of_type(template, "AWS::SQS::Queue"))
    for g in grants(template):
        if not any(a.startswith("sqs:") for a in as_list(g["Action"])):
            continue
        for target in as_list(g["Resource"]):
            assert "Fn::GetAtt" in target and getatt_target(target) in queues, (g["Function"], target)


def test_given_the_delivery_queues_then_each_target_is_consumed_by_deliver_and_fed_by_reconcile_alone(template):
    def sqs(function: str, action: str) -> set[str]:
        return {getatt_target(t) for g in granted(template, function, action) for t in as_list(g["Resource"])}

    per_target = {"DeliverQueue&{Target}"}
    assert sqs("DeliverFunction", "sqs:ReceiveMessage") == per_target
    assert sqs("DeliverFunction", "sqs:DeleteMessage") == per_target
    assert sqs("DeliverFunction", "sqs:SendMessage") == {"ReconcileQueue", "DeliverQueue&{Target}",
                                                        "DeliverDeadLetterQueue&{Target}"}
    assert sqs("ReconcileFunction", "sqs:SendMessage") == {"ReconcileQueue", "ReconcileDeadLetterQueue",
                                                          "DeliverQueue&{Target}"}
    # the full sweep's child is the reconcile step over snapshot chunks: the same queues
    assert sqs("SweepFunction", "sqs:SendMessage") == sqs("ReconcileFunction", "sqs:SendMessage")
    assert sqs("SweepSnapshotFunction", "sqs:SendMessage") == set()
    assert sqs("PollFunction", "sqs:SendMessage") == sqs("ScimWebhookFunction", "sqs:SendMessage") == {
        "ReconcileQueue"}
    assert sqs("PollFunction", "sqs:ReceiveMessage") == sqs("ScimWebhookFunction", "sqs:ReceiveMessage") == set()
    # the per-target policies are in the delivery loop, and a target's queue is mapped only once its policy is there
    loop = template["Resources"]["Fn::ForEach::Deliver"][2]
    assert {"DeliverQueueAccess&{Target}", "ReconcileQueueAccess&{Target}", "SweepQueueAccess&{Target}"} <= set(loop)
    assert loop["DeliverMapping&{Target}"]["DependsOn"] == "DeliverQueueAccess&{Target}"


def test_given_the_webhook_then_it_reads_and_writes_only_the_scim_items_of_the_table(template):
    from peoplesync.adapters import scim_dynamodb

    [state] = granted(template, "ScimWebhookFunction", "dynamodb:PutItem")
    assert state["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}  # not the index
    assert set(state["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                    "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"}
    assert state["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [scim_dynamodb._PREFIX + "*"]},
                                  "Null": {"dynamodb:LeadingKeys": "false"}}
    dynamodb = [g for g in grants(template) if g["Function"] == "ScimWebhookFunction"
                and any(a.startswith("dynamodb:") for a in as_list(g["Action"]))]
    checked = {k: v for k, v in dynamodb[1].items() if k not in ("Function", "Loop")} if len(dynamodb) == 2 else None
    assert dynamodb[0] == state
    # and the configuration's checked form, read only (adapters/config_cache.py): it cannot plant one
    assert checked == {"Sid": "CheckedConfiguration", "Effect": "Allow", "Action": "dynamodb:GetItem",
                       "Resource": {"Fn::GetAtt": ["StateTable", "Arn"]},
                       "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["config#*"]},
                                     "Null": {"dynamodb:LeadingKeys": "false"}}}


def test_given_the_webhook_at_work_then_every_key_it_touches_is_under_the_prefix_its_role_allows(template):
    moto = pytest.importorskip("moto")
    import boto3

    from peoplesync.adapters.scim_dynamodb import DynamoScimRepository

    [state] = granted(template, "ScimWebhookFunction", "dynamodb:PutItem")
    [pattern] = state["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        repo = DynamoScimRepository("t", client)
        repo.create("User", "u1", {"userName": "ann"}, {"userName": "ann", "externalId": "E1"})
        repo.replace("User", "u1", {"userName": "bob"}, {"userName": "bob"})
        repo.create("Group", "g1", {"displayName": "team"}, {"displayName": "team"})
        keys = {i["pk"]["S"] for i in client.scan(TableName="t")["Items"]}
    assert len(keys) >= 5 and all(re.fullmatch(re.escape(pattern[:-1]) + ".*", k) for k in keys), keys


def test_given_the_functions_then_each_reads_only_the_secrets_of_the_systems_it_talks_to(template):
    def secrets(function: str, effect: str = "Allow") -> set[tuple[str, str | None]]:
        return {(g["Resource"]["Fn::Sub"], g.get("If")) for g in granted(template, function, "secretsmanager:GetSecretValue")
                if g["Effect"] == effect}

    token = SECRET_ARN + "${ScimTokenSecretName}-??????"  # the name and Secrets Manager's 6-character suffix
    under_prefix = SECRET_ARN + "${SecretPrefix}*"
    assert secrets("ScimWebhookFunction") == {(token, None)}
    # the sweep function's vanished step re-reads accounts a shifting read did not list (service/seen.py)
    for function in ("PollFunction", "DeliverFunction", "SweepSnapshotFunction", "SweepFunction"):  # never the IdP's
        assert secrets(function) == {(under_prefix, None)}
        assert secrets(function, "Deny") == {(token, None)}
    # reconcile talks to a system only to answer a Genesys audit event (it re-reads that user)
    assert secrets("ReconcileFunction") == {(SECRET_ARN + "${GenesysSecretName}-??????", "ReconcileRereadsGenesys")}
    condition = template["Conditions"]["ReconcileRereadsGenesys"]
    assert condition == {"Fn::And": [{"Condition": "HasGenesysBus"},
                                     {"Fn::Not": [{"Fn::Equals": [{"Ref": "GenesysSecretName"}, ""]}]}]}


def test_given_the_secret_parameters_then_a_name_cannot_widen_what_a_role_may_read(template):
    parameters = template["Parameters"]
    for name in ("SecretPrefix", "ScimTokenSecretName", "GenesysSecretName"):
        pattern = parameters[name]["AllowedPattern"]
        assert re.fullmatch(pattern, "peoplesync/scim-tokens"), name
        for widened in ("peoplesync/*", "peoplesync/scim?", "*"):  # IAM wildcards are refused
            assert not re.fullmatch(pattern, widened), (name, widened)
    # the webhook asks Secrets Manager through the same prefix check as every function
    assert parameters["ScimTokenSecretName"]["Default"].startswith(parameters["SecretPrefix"]["Default"])


# --- the full sweep: a Distributed Map over the snapshots (issue 14 item 3) -------------------------------
def sweep_machine(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["FullSweepStateMachine"]["Properties"]


def test_given_the_full_sweep_then_a_distributed_map_reads_the_snapshot_chunks_in_batches(template):
    props = sweep_machine(template)
    states = props["Definition"]["States"]
    [map_state] = [s for s in states.values() if s["Type"] == "Map"]
    assert map_state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = map_state["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert reader["Parameters"] == {"Bucket": "${SnapshotBucket}", "Prefix.$": "$.snapshot.prefix"}
    assert props["DefinitionSubstitutions"]["SnapshotBucket"] == {"Ref": "SnapshotBucket"}
    assert 1 <= map_state["ItemBatcher"]["MaxItemsPerBatch"] <= 10
    assert 0 < map_state["ToleratedFailurePercentage"] < 100
    assert map_state["ResultPath"] is None  # a million people's tallies are not carried in the state
    # the concurrency the docs explain is the one deployed
    performance = (ROOT / "docs" / "performance.md").read_text()
    assert f"MaxConcurrency {map_state['MaxConcurrency']}" in performance
    child = map_state["ItemProcessor"]["States"]["ReconcileChunks"]
    assert child["Parameters"]["FunctionName"] == "${SweepFunctionArn}"
    assert props["DefinitionSubstitutions"]["SweepFunctionArn"] == {"Fn::GetAtt": ["SweepFunction", "Arn"]}
    assert any("States.ALL" in r["ErrorEquals"] for r in child["Retry"])  # a failed batch is tried again


def test_given_the_full_sweep_then_each_system_is_snapshotted_before_its_map_and_the_loop_ends(template):
    states = sweep_machine(template)["Definition"]["States"]
    assert states["FirstSystem"]["Parameters"] == {"index": 0, "resume": None}
    assert states["Snapshot"]["Parameters"]["Payload"]["resume.$"] == "$.resume"
    # a read longer than one invocation: the step again, from its own answer, before the system's Map
    assert states["Snapshot"]["Next"] == "MorePages" and states["MorePages"]["Default"] == "Reconcile"
    [pages] = states["MorePages"]["Choices"]
    assert pages == {"Variable": "$.snapshot.more_pages", "BooleanEquals": True, "Next": "NextPage"}
    assert states["NextPage"]["Parameters"] == {"index.$": "$.snapshot.index", "resume.$": "$.snapshot"}
    assert states["NextPage"]["Next"] == "Snapshot" and states["Reconcile"]["Next"] == "VanishedFrom"
    # after the system's Map: who its complete read did not list, from the first linked record, in pieces
    assert states["VanishedFrom"]["ResultPath"] == "$.gone" and states["VanishedFrom"]["Next"] == "Vanished"
    assert states["VanishedFrom"]["Result"] == {"after": None, "changed": 0, "vanished": 0, "population": None}
    vanished = states["Vanished"]
    assert vanished["Parameters"]["FunctionName"] == "${SweepFunctionArn}"
    assert vanished["Parameters"]["Payload"] == {"run.$": "$$.Execution.Name", "vanished.$": "$.snapshot",
                                                 "resume.$": "$.gone"}
    assert vanished["ResultPath"] == "$.gone" and vanished["Next"] == "MoreVanished"
    assert states["MoreVanished"]["Choices"] == [{"Variable": "$.gone.more", "BooleanEquals": True,
                                                  "Next": "Vanished"}]
    assert states["MoreVanished"]["Default"] == "MoreSystems"
    [choice] = states["MoreSystems"]["Choices"]
    assert choice == {"Variable": "$.snapshot.more", "BooleanEquals": True, "Next": "NextSystem"}
    assert states["NextSystem"] == {"Type": "Pass", "Parameters": {"index.$": "$.snapshot.next", "resume": None},
                                    "Next": "Snapshot"}
    report = states[states["MoreSystems"]["Default"]]  # after the last system: the run's report page, then done
    assert report["Parameters"]["FunctionName"] == "${SnapshotFunctionArn}"
    assert report["Parameters"]["Payload"] == {"run.$": "$$.Execution.Name", "since.$": "$$.Execution.StartTime",
                                               "report": True}
    assert states[report["Next"]]["Type"] == "Succeed"


def test_given_the_sweep_roles_then_each_touches_only_the_run_prefix_it_needs(template):
    def s3(function: str, action: str) -> list[Any]:
        return [r for g in granted(template, function, action) for r in as_list(g["Resource"])]

    run_prefix = {"Fn::Sub": "${SnapshotBucket.Arn}/runs/*"}
    reports = {"Fn::Sub": "${SnapshotBucket.Arn}/reports/*"}  # the report step's page (functions/sweep_snapshot)
    assert s3("SweepSnapshotFunction", "s3:PutObject") == [run_prefix, reports]
    assert s3("SweepSnapshotFunction", "s3:GetObject") == []
    assert s3("SweepFunction", "s3:GetObject") == [run_prefix]
    assert s3("SweepFunction", "s3:PutObject") == []
    machine = [st for st in statements(sweep_machine(template)["Policies"])]
    listing = [st for st in machine if st["Action"] == "s3:ListBucket"]
    assert listing == [{"Sid": "ListSnapshots", "Effect": "Allow", "Action": "s3:ListBucket",
                        "Resource": {"Fn::GetAtt": ["SnapshotBucket", "Arn"]},
                        "Condition": {"StringLike": {"s3:prefix": ["runs/*"]}}}]
    bucket = template["Resources"]["SnapshotBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert bucket["LifecycleConfiguration"]["Rules"][0]["Prefix"] == "runs/"


def test_given_a_full_sweep_schedule_then_the_scheduler_may_start_only_that_machine(template):
    """`FullSweepSchedule` (empty by default: started by hand) starts the FullSweep state machine, whose last step
    writes the report page; the scheduler's role may start that machine and nothing else."""
    resources = template["Resources"]
    assert template["Parameters"]["FullSweepSchedule"]["Default"] == ""
    schedule = resources["ScheduledFullSweep"]
    assert schedule["Condition"] == "HasSweepSchedule" and resources["SweepSchedulerRole"]["Condition"] == "HasSweepSchedule"
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": "FullSweepStateMachine"}
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "FullSweepSchedule"}
    [policy] = resources["SweepSchedulerRole"]["Properties"]["Policies"]
    actions = {st["Action"]: st["Resource"] for st in policy["PolicyDocument"]["Statement"]}
    assert actions == {"states:StartExecution": {"Ref": "FullSweepStateMachine"},
                       "sqs:SendMessage": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}}
