"""Workday report contents, pure: values (dates in ISO form, JSON numbers as text), attribute paths into
multi-instance groups, JSON and CSV report bodies, and who is still working. No HTTP here (`workday.py`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from ..ports import ReadFailed

if TYPE_CHECKING:
    from .workday import Settings


# --- values: dates, groups, paths -----------------------------------------------------------------------
_DATE_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def iso_value(value: str, *, is_date: bool = False) -> str:
    """A Workday date or dateTime in ISO form. Unrecognised text comes back unchanged.

    `2024-01-15`, `2024-01-15-08:00` (Workday XML style), `2024-01-15Z` -> `2024-01-15`;
    `2024-01-15T08:30:00.000-08:00` -> `2024-01-15T16:30:00Z` (UTC); with `is_date`, also `1/15/2024`.
    """
    text = value.strip()
    if not is_date and not (len(text) >= 10 and text[4] == "-" and text[:4].isdigit()):
        return value  # the common case, cheaply: not a date
    m = _DATE_OFFSET.match(text)
    if m:
        return m.group(1)
    if _DATETIME.match(text):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return value
        if is_date:
            return when.date().isoformat()
        if when.tzinfo is None:
            return when.isoformat()
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    if is_date:
        m = _US_DATE.match(text)
        if m:
            try:
                return date(int(m.group(3)), int(m.group(1)), int(m.group(2))).isoformat()
            except ValueError:
                return value
    return value


def _text(v: Any) -> Any:
    """A report scalar as text (JSON numbers -> their text, so JSON and CSV reports agree)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return v


def clean_entry(entry: dict[str, Any], date_fields: frozenset[str] = frozenset(),
                only: frozenset[str] | None = None) -> dict[str, Any]:
    """One report entry with scalars as text, dates in ISO form, blanks as absent; groups kept as lists.
    With `only`, just those fields (the ones a read needs) are kept."""
    out: dict[str, Any] = {}
    for k, v in entry.items():
        if only is not None and k not in only:
            continue
        if isinstance(v, list):
            items = [clean_entry(i, date_fields) if isinstance(i, dict) else i for i in v]
            out[k] = [i for i in items if i not in ({}, None, "")]
        elif isinstance(v, dict):
            out[k] = clean_entry(v, date_fields)
        elif v is None or v == "":
            continue
        else:
            v = _text(v)
            out[k] = iso_value(v, is_date=k in date_fields) if isinstance(v, str) else v
    return out


_PATH = re.compile(r"^(?P<field>[^\[\]]+?)(?:\[(?P<sel>[^\]]*)\](?:\.(?P<sub>[^\[\]]+))?)?$")


def compile_path(path: str) -> tuple[str, str | None, str | None]:
    """(field, selector, subfield) of an attribute path; see `resolve`."""
    m = _PATH.match(path)
    if m is None:
        return path, None, None
    return m.group("field"), m.group("sel"), m.group("sub")


def resolve(entry: dict[str, Any], path: str | tuple[str, str | None, str | None]) -> Any:
    """The value a mapped attribute names in one (cleaned) entry. None when blank or absent.

    `Work_Email`                                -> the field's value
    `Emergency_Contacts_group[].Phone`          -> every contact's phone, a tuple (multi-valued)
    `Emergency_Contacts_group[0].Name`          -> the first contact's name
    `Emergency_Contacts_group[Relationship=Spouse].Phone` -> the first Spouse's phone (case-insensitive)
    `Emergency_Contacts_group`                  -> each contact as compact JSON, a tuple
    """
    field, sel, sub = compile_path(path) if isinstance(path, str) else path
    value = entry.get(field)
    if sel is None:
        if isinstance(value, list):
            return tuple(_as_json(i) for i in value) or None
        return value
    items = value if isinstance(value, list) else ([value] if isinstance(value, dict) else [])
    if sel.strip() == "":
        picked = [i.get(sub) if isinstance(i, dict) else i for i in items] if sub else [_as_json(i) for i in items]
        return tuple(p for p in picked if p is not None) or None
    item: Any = None
    if sel.strip().isdigit():
        index = int(sel)
        item = items[index] if index < len(items) else None
    else:
        name, _, wanted = sel.partition("=")
        for candidate in items:
            if isinstance(candidate, dict) and str(candidate.get(name.strip(), "")).lower() == wanted.strip().lower():
                item = candidate
                break
    if item is None:
        return None
    if sub:
        return item.get(sub) if isinstance(item, dict) else None
    return _as_json(item)


def _as_json(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":")) if isinstance(item, dict) else str(item)


# --- report bodies --------------------------------------------------------------------------------------
def parse_json_report(body: bytes | str) -> list[dict[str, Any]]:
    """`{"Report_Entry": [...]}` -> the entries. An empty object is an empty report; anything else without
    `Report_Entry` is not a report (ReadFailed)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ReadFailed(f"the report is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReadFailed("the report is not a JSON object")
    if "Report_Entry" not in data:
        if not data:
            return []
        raise ReadFailed(f"the report has no Report_Entry (keys: {sorted(data)[:5]})")
    entries = data["Report_Entry"]
    if isinstance(entries, dict):  # a single entry, as XML-to-JSON converters sometimes give
        entries = [entries]
    if not isinstance(entries, list):
        raise ReadFailed("Report_Entry is not a list")
    return [e for e in entries if isinstance(e, dict)]


def parse_csv_report(body: bytes | str, separator: str = "\n") -> list[dict[str, Any]]:
    """A CSV report with a header row. A column named `Group.Sub` is a subfield of a multi-instance group:
    its cell holds one value per instance joined by `separator`; the instances are rebuilt by position."""
    text = body.decode("utf-8-sig") if isinstance(body, bytes) else body.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    entries: list[dict[str, Any]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        entry: dict[str, Any] = {}
        groups: dict[str, dict[str, list[str]]] = {}
        for name, cell in zip(header, row, strict=False):
            group, dot, sub = name.partition(".")
            if dot:
                groups.setdefault(group, {})[sub] = cell.split(separator) if cell != "" else []
            elif cell != "":
                entry[name] = cell
        for group, subs in groups.items():
            count = max((len(v) for v in subs.values()), default=0)
            entry[group] = [{s: vals[i] for s, vals in subs.items() if i < len(vals) and vals[i] != ""}
                            for i in range(count)]
        entries.append(entry)
    return entries


# --- who is still working -------------------------------------------------------------------------------
def worker_state(entry: dict[str, Any], settings: Settings, today: date) -> tuple[bool, bool]:
    """(active, removed) for one cleaned entry.

    A termination date decides when present: from the day after it (the last day worked) the worker is
    terminated; a future date leaves them active until then; a hire date after it is a rehire (active).
    Without a date, `status_field` decides against `inactive_statuses`.
    """
    terminated = False
    term = _as_date(entry.get(settings.termination_date)) if settings.termination_date else None
    if term is not None:
        hired = _as_date(entry.get(settings.hire_date)) if settings.hire_date else None
        terminated = today > term and not (hired is not None and hired > term)
    elif settings.status_field:
        status = str(entry.get(settings.status_field, "")).strip().lower()
        terminated = status in {s.lower() for s in settings.inactive_statuses}
    if not terminated:
        return True, False
    return False, settings.terminated_as == "removed"


def _as_date(v: Any) -> date | None:
    if not isinstance(v, str):
        return None
    try:
        return date.fromisoformat(iso_value(v, is_date=True)[:10])
    except ValueError:
        return None
