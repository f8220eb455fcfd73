"""The functions' clients (adapters/aws_clients.py): botocore's, made faster to create, the same to use."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import UnknownServiceError

from peoplesync.adapters import aws, aws_clients
from tests.integration.aws.aws_helpers import REGION


@pytest.mark.parametrize("service", ["ssm", "dynamodb", "sqs", "secretsmanager", "s3", "lambda"])
def test_given_a_service_then_its_client_is_the_one_boto3_makes(moto_aws, service):
    ours = aws.client(service)
    theirs = boto3.client(service, region_name=REGION)

    assert ours.meta.endpoint_url == theirs.meta.endpoint_url
    assert ours.meta.region_name == theirs.meta.region_name == REGION
    assert ours.meta.service_model.operation_names == theirs.meta.service_model.operation_names
    assert ours.meta.config.retries["mode"] == "standard"


def test_given_the_clients_then_they_share_one_session_and_really_call_aws(moto_aws):
    aws.client("ssm").put_parameter(Name="/peoplesync/probe", Value="v", Type="String")

    answer = aws.client("ssm").get_parameter(Name="/peoplesync/probe")["Parameter"]
    tables = aws.client("dynamodb").list_tables()["TableNames"]

    assert answer["Value"] == "v" and tables == []
    assert aws.client("ssm") is aws.client("ssm")  # made once per process


def test_given_a_misspelt_service_then_botocore_still_says_so(moto_aws):
    with pytest.raises(UnknownServiceError):
        aws_clients.session().create_client("dynamo", region_name=REGION)


def test_given_a_client_made_then_the_cyclic_collector_is_as_it_was(moto_aws):
    import gc

    aws.client("sqs")
    assert gc.isenabled()  # paused while botocore built it, then running again
    gc.disable()
    try:
        aws.client("ssm")
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_given_a_cold_start_then_what_it_built_is_left_out_of_later_collections_until_reset(moto_aws):
    import gc

    aws.reset()
    aws.client("sqs")
    frozen = gc.get_freeze_count()

    assert frozen > 1000  # botocore's modules, data and the client: never traversed again by the collector
    gc.collect()
    assert gc.get_freeze_count() == frozen  # a full collection leaves them alone
    aws.reset()  # a new execution environment in the same process (tests): the collector has them back
    assert gc.get_freeze_count() == 0
