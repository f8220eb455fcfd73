"""Genesys Cloud change events (Amazon EventBridge integration) -> "re-read user {id}" requests. Pure.

Genesys Cloud publishes the audit topic `v2.audits.entitytype.{type}.entityid.{id}` to a partner event bus
(`source: aws.partner/genesys.com/cloud/{orgId}/{suffix}`). An event says *that* a user changed and who did
it, not the whole new profile (its `propertyChanges` use names we do not rely on), so the bridge answers it by
re-reading that user through the API and reconciling the fresh observation, exactly as a poll would.

Echo suppression: every write the bridge makes is made with its own OAuth client, and the audit event carries
that client's id (`eventBody.clientId.id`). Events from the bridge's own client ids are dropped here, so a
write does not come back as a change to reconcile. Dropping them is safe even if one slipped through: the
re-read would show exactly what the shadow already holds, and nothing would be written.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

AUDIT_TOPIC = re.compile(r"^v2\.audits\.entitytype\.(?P<type>[^.]+)\.entityid\.(?P<id>[^.]+)$")
SOURCE_PREFIX = "aws.partner/genesys.com/cloud/"


@dataclass(frozen=True, slots=True)
class ReRead:
    """Ask the `system`'s connector to read user `key` again (`GenesysConnector.read_keys`)."""

    system: str
    key: str
    action: str  # Create / Update / Delete ... as the audit said
    event_id: str | None = None
    at: str | None = None  # the event's time, for logs

    def to_dict(self) -> dict[str, Any]:
        return {"type": "reread", "system": self.system, "key": self.key, "action": self.action,
                "event_id": self.event_id, "at": self.at}


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


def classify(event: Mapping[str, Any], *, system: str, own_client_ids: Collection[str] = (),
             org_id: str | None = None) -> ReRead | Ignored:
    """One EventBridge event (the envelope, or its `detail` alone) -> a re-read request or why not."""
    detail = event.get("detail", event) if isinstance(event, Mapping) else None
    if not isinstance(detail, Mapping):
        return Ignored("not an EventBridge event")
    source = str(event.get("source") or "")
    if source and not source.startswith(SOURCE_PREFIX):
        return Ignored(f"not from Genesys Cloud ({source})")
    if org_id and source and source.split("/")[3:4] != [org_id]:
        return Ignored("from another Genesys Cloud organisation")
    match = AUDIT_TOPIC.match(str(detail.get("topicName") or ""))
    if match is None:
        return Ignored(f"not an audit topic ({detail.get('topicName')!r})")
    if match.group("type").lower() != "user":
        return Ignored(f"not a user ({match.group('type')})")
    body = detail.get("eventBody") or {}
    if not isinstance(body, Mapping):
        return Ignored("no event body")
    client = (body.get("clientId") or {}).get("id") if isinstance(body.get("clientId"), Mapping) else None
    if client and client in own_client_ids:
        return Ignored(f"the bridge's own write (OAuth client {client})")
    entity = body.get("entity")
    key = str((entity.get("id") if isinstance(entity, Mapping) else None) or match.group("id"))
    return ReRead(system, key, str(body.get("action") or "Update"), str(event.get("id") or "") or None,
                  str(event.get("time") or detail.get("timestamp") or "") or None)


def reread_requests(events: Iterable[Mapping[str, Any]] | Mapping[str, Any], *, system: str,
                    own_client_ids: Collection[str] = (), org_id: str | None = None) -> list[ReRead]:
    """Re-read requests for a batch of events (one event, a list, or SQS records whose body is an event),
    one per user however many events named them, in the order first seen."""
    import json

    if isinstance(events, Mapping):
        events = events.get("Records", [events]) if "Records" in events else [events]
    out: dict[str, ReRead] = {}
    for event in events:
        if isinstance(event, Mapping) and "body" in event and "detail" not in event:  # an SQS record
            try:
                event = json.loads(event["body"])
            except (TypeError, ValueError):
                continue
        result = classify(event, system=system, own_client_ids=own_client_ids, org_id=org_id)
        if isinstance(result, ReRead) and result.key not in out:
            out[result.key] = result
    return list(out.values())
