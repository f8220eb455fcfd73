"""A configuration's checked form, kept in the state table under the digest of its text, so that a function's
next cold start rebuilds it without pydantic (`config_light.py`; docs/performance.md, "Every function's cold
start").

    pk `config#<digest>`, sk `config`: data (JSON: `adapters/aws.checked_form`), ttl (30 days)

The digest covers the configuration's text and the code that checks it (the sources of the modules that define
what a valid configuration is): a new text, or a new release with other rules or defaults, finds no entry, is
checked in full (pydantic, then `config_checks`) and writes its own. So an invalid configuration is refused with
its path and reason exactly as before: only a text once checked in full is ever taken from here. The first cold
start after a configuration changes pays the full check (one function; the others find the entry).

Who may write: the functions that own the table (poll, reconcile, deliver, sweep) write after a full check; the
SCIM webhook, reachable from the internet, may only read (template.yaml: its policy allows GetItem on
`config#*`), so it cannot plant a "checked" form the others would trust. A failed read or write costs the full
check, never the function: the entry is a cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TTL_SECONDS = 30 * 86400
# what decides whether a configuration is valid, and its checked form (defaults included)
_RULES = ("config_models.py", "config_checks.py", "config_light.py", "normalize.py", "transform.py")
_rules: dict[str, str | None] = {}


def rule_files() -> tuple[str, ...]:
    """The sources (relative to the package) that decide what a checked configuration is: the configuration's
    models and checks, the models of the connector settings kept checked with it (`connectors.CHECKED_SETTINGS`)
    and the code their validators run (`connectors.CHECKED_SETTINGS_CALLS`)."""
    from ..connectors import CHECKED_SETTINGS, CHECKED_SETTINGS_CALLS

    modules = sorted({*CHECKED_SETTINGS.values(), *(m for calls in CHECKED_SETTINGS_CALLS.values() for m in calls)})
    return (*_RULES, *(m.removeprefix("peoplesync.").replace(".", "/") + ".py" for m in modules))


def _rules_digest() -> str | None:
    """The digest of the checking code's sources, once per process; None (no caching) if one is missing."""
    if "digest" not in _rules:
        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256(b"peoplesync checked configuration 3\0")
        try:
            for name in rule_files():
                h.update((root / name).read_bytes())
        except OSError:
            _rules["digest"] = None
        else:
            _rules["digest"] = h.hexdigest()
    return _rules["digest"]


def key(text: str) -> str | None:
    rules = _rules_digest()
    if rules is None:
        return None
    return "config#" + hashlib.sha256(f"{rules}\0{text}".encode()).hexdigest()


def get(client: Any, table: str, pk: str) -> dict[str, Any] | None:
    """The checked form stored under `pk`, or None (none yet, or it cannot be read: the caller checks in full)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        item = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "config"}},
                               ProjectionExpression="#d", ExpressionAttributeNames={"#d": "data"}).get("Item")
    except (BotoCoreError, ClientError) as exc:
        log.info("checked configuration not read (%s): checking it in full", type(exc).__name__)
        return None
    if not item or "data" not in item:
        return None
    try:
        dump = json.loads(item["data"]["S"])
    except (KeyError, ValueError):
        return None
    return dump if isinstance(dump, dict) and isinstance(dump.get("config"), dict) else None


def put(client: Any, table: str, pk: str, dump: dict[str, Any], *, now: float | None = None) -> None:
    """Keep a configuration's checked form (best effort: the webhook may not write, see above)."""
    from botocore.exceptions import BotoCoreError, ClientError

    expires = int((time.time() if now is None else now) + TTL_SECONDS)
    try:
        client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": "config"},
                                               "data": {"S": json.dumps(dump, sort_keys=True)},
                                               "ttl": {"N": str(expires)}})
    except (BotoCoreError, ClientError) as exc:
        log.info("checked configuration not kept (%s)", type(exc).__name__)
