"""The poll's hand-over in AWS: the poll function invokes itself asynchronously (`InvocationType=Event`) with
the run to resume, when its time budget is spent before the read ended (see `service/poll.py`)."""

from __future__ import annotations

import json
from typing import Any


def invoke_async(function_arn: str, event: dict[str, Any]) -> None:
    from .aws import client  # the process's one botocore session (adapters/aws_clients.py)

    client("lambda").invoke(FunctionName=function_arn, InvocationType="Event",
                                  Payload=json.dumps(event).encode())
