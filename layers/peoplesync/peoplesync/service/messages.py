"""The flow's messages and queues: what travels between poll, reconcile and deliver, in AWS (SQS) and locally
(in-process queues) alike.

reconcile queue:
- `{"type": "observation", "observation": {...}}`: what a system showed about one account;
- `{"type": "reevaluate", "record_id": ...}`: decide a record again (a reference it waited for appeared);
- `{"type": "reread", "system": S, "keys": [...]}`: read these accounts of S again, then reconcile them;
- `{"type": "event", "system": S, "event": {...}}`: a vendor's change event; S's connector says which keys
  it names (`Connector.event_keys`), which are then re-read. `"genesys.audit"` is accepted as an old name.
delivery queue of target S: `{"type": "deliver", "record_id": ..., "system": S, "attempt": n}`, with
`"reassert": P` when it carries push system P's sync of the record (the account is read again first).

A message that can never be processed is `Poison`: it goes to the dead-letter queue with a `reason`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from ..model import Observation, observation_to_dict
from ..ports import PeoplesyncError
from ..redact import scrub

RECONCILE = "reconcile"


def delivery_queue(system: str) -> str:
    return f"deliver:{system}"


class Queue(Protocol):
    def send(self, messages: list[dict[str, Any]], *, delay_seconds: int = 0,
             attributes: dict[str, str] | None = None) -> Any: ...


class Poison(PeoplesyncError):
    """A message that can never be processed: it goes to the dead-letter queue with this reason."""


def observed(observations: list[Observation]) -> list[dict[str, Any]]:
    return [{"type": "observation", "observation": observation_to_dict(o)} for o in observations]


def reevaluate(record_ids: set[str] | list[str]) -> list[dict[str, Any]]:
    return [{"type": "reevaluate", "record_id": rid} for rid in sorted(record_ids)]


def deliver(record_id: str, system: str, attempt: int = 1, *, reassert: str | None = None) -> dict[str, Any]:
    """`reassert`: the push system whose sync this delivery re-asserts: the account is read again first, and
    that system's fields compared with what it holds now (`service.push`)."""
    message: dict[str, Any] = {"type": "deliver", "record_id": record_id, "system": system, "attempt": attempt}
    if reassert:
        message["reassert"] = reassert
    return message


def parse(body: str) -> dict[str, Any]:
    """A queue message's body as a JSON object, or Poison saying why not."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise Poison(f"not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(message, dict):
        raise Poison("a message must be a JSON object")
    return message


def parked(body: str) -> dict[str, Any]:
    """What goes to a dead-letter queue for a poison message: the message itself when it is JSON (so a
    replay sends it back unchanged), else its raw text."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return {"raw": body}
    return message if isinstance(message, dict) else {"raw": body}


def reason(text: str) -> dict[str, str]:
    """The `reason` attribute of a dead letter (SQS caps attribute values; 1,000 characters say enough),
    scrubbed of any known secret, whoever built the text."""
    return {"reason": scrub(text)[:1000]}
