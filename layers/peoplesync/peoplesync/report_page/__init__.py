"""The report page: the mapping drawn, a run (or plan) in numbers, and every decision per person and field, as
one self-contained HTML file (`peoplesync report CONFIG -o report.html`, `sync`/`plan --report FILE`, and in
AWS the scheduled full reconciliation's page in S3).

    gather.py   the report's data (plain dicts, also written as JSON) from a Plan, a run's report and the store
    mapping.py  the mapping as data: systems, field rows, arrows
    svg.py      the mapping drawn (inline SVG)
    page.py     the page (HTML), style.py its CSS and search script
    s3.py       the writer of the page and its JSON to an S3 prefix (given an S3 client)

Pure functions from data to text; nothing here imports boto3, rich or a connector.
"""

from __future__ import annotations

import json
from typing import Any

from .page import render

__all__ = ["render", "to_json"]


def to_json(data: dict[str, Any]) -> str:
    """The report's data as stable JSON (sorted keys), for machines and for diffs."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
