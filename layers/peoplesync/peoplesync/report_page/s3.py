"""The report page and its JSON written to an S3 prefix: what the scheduled full reconciliation in AWS leaves
for people to open (a link from the logs), one pair of objects per run plus `latest.html` / `latest.json`.

An adapter given its S3 client (boto3's, or a fake in tests): nothing here imports boto3. Keys:

    <prefix><run>.html   the page (text/html; charset=utf-8)
    <prefix><run>.json   its data (application/json)
    <prefix>latest.html, <prefix>latest.json   the same, overwritten by each run
"""

from __future__ import annotations

import re
from typing import Any

from . import render, to_json

_RUN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def write_report(s3: Any, bucket: str, prefix: str, run: str, data: dict[str, Any]) -> dict[str, str]:
    """Put the page and its JSON under `prefix` as `<run>.html/.json` and as `latest.*`; return their
    `s3://` addresses (to log). `run` names the run (e.g. its start time, 20260131T060000Z)."""
    if not _RUN.match(run):
        raise ValueError(f"a run's name is letters, digits, '.', '_' and '-' (got {run!r})")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    html, text = render(data).encode("utf-8"), to_json(data).encode("utf-8")
    written = {}
    for name in (run, "latest"):
        for suffix, body, kind in ((".html", html, "text/html; charset=utf-8"), (".json", text, "application/json")):
            key = f"{prefix}{name}{suffix}"
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, CacheControl="no-cache")
            if name == run:
                written[suffix[1:]] = f"s3://{bucket}/{key}"
    return written
