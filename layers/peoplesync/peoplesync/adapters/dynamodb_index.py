"""`DynamoStore`'s index items and what a save changes in them (adapters/dynamodb.py holds the store).

The digest index (`ports.LinkDigest`, the poll's pre-screen) lives on the link items themselves: each
`link#<kind>#<system>#<key>` item carries, besides `rid`, the digests of its account as the record's last save
left them (`dg` present; `dr` the read digest, `ds` the settled one, each absent when None; `rm` removed). The
save that changes a record writes, in the same transaction, every link item whose digests changed, so an item
never answers for another version of its record than the one stored. A pre-screen of N accounts then reads N
small link items (BatchGetItem, 100 a call) instead of N GetItems for the links plus the N records.

Records saved before the index existed (no `dg` on the record item): their link items carry no digests, and
`link_digests` reads those records instead (the correct, slower answer); the record's next save writes every
one of its link items' digests. Known limit: while a deployment rolls out, a function still running the
previous version saves records without touching their link items, so those items keep the digests of the
version before (an account read later exactly as it was then would be screened out as no news); the first
save by the new version puts them right. Roll out with the queues drained (docs/deploy.md, "Upgrading").

The same link items list one system's accounts (`dynamodb_links.py`): a link item carries `gpk` =
`links#<kind>#<system>` and `gsk` = its record id (`<id>#removed` while its account is held as removed), so it
is in the sparse `byKind` index, and a complete read's vanished rule queries that partition instead of loading
every record. A record
whose link items are written so says it by its own `gpk` (`kind#<kind>#listed`, `record_gpk`); one saved
before (`kind#<kind>`) has its link items rewritten by its next save, and is listed from the record meanwhile.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..ports import LinkDigest, PermanentError

Entries = tuple[set[tuple[str, str, str]], set[tuple[str, str, str]], set[tuple[str, str, str]]]
Digests = dict[tuple[str, str, str], LinkDigest]

MAX_TRANSACTION_ITEMS = 100
_KEY_PART_LIMIT = 512  # bytes; the partition key limit is 2048
_MINE = "attribute_not_exists(pk) OR rid = :rid"
LISTED = "#listed"
REMOVED = "#removed"


def _part(text: str) -> str:
    """A key component, hashed when too long for a DynamoDB key."""
    if len(text.encode()) <= _KEY_PART_LIMIT:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def record_gpk(kind: str) -> str:
    """A record's `gpk` (the `byKind` index): its link items are listed (written by this version)."""
    return f"kind#{kind}{LISTED}"


def legacy_gpk(kind: str) -> str:
    """The `gpk` of a record saved before its link items were listed."""
    return f"kind#{kind}"


def links_gpk(kind: str, system: str) -> str:
    return f"links#{kind}#{system}"


def link_gsk(record_id: str, removed: bool) -> str:
    """A link item's place in its system's listing: its record id, marked when the account is held as removed
    (the index projects keys only, so the mark is in the key; it sorts right after the record id)."""
    return f"{record_id}{REMOVED}" if removed else record_id


def is_listed(item: dict[str, Any]) -> bool:
    """Whether a record item's link items carry their digests and their listing (written by this version)."""
    return item.get("gpk", {}).get("S", "").endswith(LISTED)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(pk), "sk": _s(sk)}


def _rec_key(record_id: str) -> dict[str, dict[str, str]]:
    return _key(f"rec#{record_id}", "rec")


def _link_key(kind: str, system: str, key: str) -> dict[str, dict[str, str]]:
    return _key(f"link#{kind}#{system}#{_part(key)}", "link")


def _ref_key(kind: str, system: str, ref: str) -> dict[str, dict[str, str]]:
    return _key(f"ref#{kind}#{system}#{_part(ref.lower())}", "ref")


def _value_pk(kind: str, field: str, value: str) -> str:
    return f"val#{kind}#{field}#{_part(value)}"


def digest_of_item(item: dict[str, Any]) -> LinkDigest | None:
    """The digests a link item carries, or None when it was written before the index (read the record)."""
    if "dg" not in item:
        return None
    return LinkDigest(item["rid"]["S"], item["dr"]["S"] if "dr" in item else None,
                      item["ds"]["S"] if "ds" in item else None, item.get("rm", {}).get("BOOL", False))


def _link_put(table: str, state_id: str, link: tuple[str, str, str], digest: LinkDigest | None) -> dict[str, Any]:
    """A new link: taken only if nobody else holds it (role "link"), with its digests."""
    item: dict[str, Any] = {**_link_key(*link), "rid": _s(state_id), "gpk": _s(links_gpk(link[0], link[1])),
                            "gsk": _s(link_gsk(state_id, digest is not None and digest.removed))}
    if digest is not None:
        item["dg"], item["rm"] = {"N": "1"}, {"BOOL": digest.removed}
        item.update({name: _s(value) for name, value in (("dr", digest.read), ("ds", digest.settled)) if value})
    return {"Put": {"TableName": table, "ConditionExpression": _MINE, "ExpressionAttributeValues": {
        ":rid": _s(state_id)}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD", "Item": item}}


def _digest_update(table: str, state_id: str, link: tuple[str, str, str], digest: LinkDigest) -> dict[str, Any]:
    """A kept link's new digests, written only while the link is still this record's (role "digest": a link
    another record took meanwhile is not ours to describe, and is skipped as a release is)."""
    values: dict[str, Any] = {":rid": _s(state_id), ":one": {"N": "1"}, ":rm": {"BOOL": digest.removed}}
    sets, removes = ["dg = :one", "rm = :rm"], []
    for name, value in (("dr", digest.read), ("ds", digest.settled)):
        if value:
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = _s(value)
        else:
            removes.append(name)
    sets += ["gpk = :gpk", "gsk = :gsk"]  # the system's listing (`links_gpk`), which says removed in `gsk`
    values[":gpk"], values[":gsk"] = _s(links_gpk(link[0], link[1])), _s(link_gsk(state_id, digest.removed))
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {"Update": {"TableName": table, "Key": _link_key(*link), "ConditionExpression": "rid = :rid",
                       "UpdateExpression": expression, "ExpressionAttributeValues": values}}


def index_ops(table: str, state_id: str, old: Entries, new: Entries, digests: tuple[Digests, Digests, bool],
              ) -> list[tuple[str, dict[str, Any]]]:
    """(role, transaction item) for every index entry that changed, and every kept link whose digests changed
    (all of them when the record was saved before the index: `digests` is (old, new, old_indexed)). Roles:
    "link" (a put that must not take another record's link), "release" (a delete that is skipped if another
    record holds the entry now), "digest" (skipped likewise), "plain"."""
    rid = {":rid": _s(state_id)}
    ops: list[tuple[str, dict[str, Any]]] = []
    (old_links, old_refs, old_values), (new_links, new_refs, new_values) = old, new
    old_digests, new_digests, indexed = digests
    for link in sorted(new_links - old_links):
        ops.append(("link", _link_put(table, state_id, link, new_digests.get(link))))
    for link in sorted(new_links & old_links):
        digest = new_digests.get(link)
        if digest is not None and (not indexed or old_digests.get(link) != digest):
            ops.append(("digest", _digest_update(table, state_id, link, digest)))
    for kind, system, key in sorted(old_links - new_links):
        ops.append(("release", {"Delete": {"TableName": table, "Key": _link_key(kind, system, key),
                                           "ConditionExpression": _MINE, "ExpressionAttributeValues": rid}}))
    for kind, system, ref in sorted(new_refs - old_refs):
        ops.append(("plain", {"Put": {"TableName": table,
                                      "Item": {**_ref_key(kind, system, ref), "rid": _s(state_id)}}}))
    for kind, system, ref in sorted(old_refs - new_refs):
        ops.append(("release", {"Delete": {"TableName": table, "Key": _ref_key(kind, system, ref),
                                           "ConditionExpression": _MINE, "ExpressionAttributeValues": rid}}))
    for kind, field, value in sorted(new_values - old_values):
        ops.append(("plain", {"Put": {"TableName": table, "Item": _key(_value_pk(kind, field, value), state_id)}}))
    for kind, field, value in sorted(old_values - new_values):
        ops.append(("plain", {"Delete": {"TableName": table, "Key": _key(_value_pk(kind, field, value), state_id)}}))
    if len(ops) + 1 > MAX_TRANSACTION_ITEMS:
        raise PermanentError(f"record {state_id}: saving it changes {len(ops)} index entries; a DynamoDB "
                             f"transaction holds at most {MAX_TRANSACTION_ITEMS - 1} besides the record")
    return ops
