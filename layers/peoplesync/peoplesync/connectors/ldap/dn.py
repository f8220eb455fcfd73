"""Pure helpers: DNs compared as the directory compares them, escaping, and LDAP values to and from text."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

BINARY_ATTRIBUTES = {"objectsid", "thumbnailphoto", "jpegphoto", "usercertificate", "photo", "msexchmailboxguid"}


def guid_string(raw: bytes) -> str:
    """objectGUID bytes (little-endian fields, as AD stores them) -> 'c01b15a2-3d3f-4ad8-887e-4935688a653c'."""
    return str(uuid.UUID(bytes_le=raw))


def _unescape_dn_value(v: str) -> str:
    out, i = bytearray(), 0
    while i < len(v):
        ch = v[i]
        if ch == "\\" and i + 1 < len(v):
            pair = v[i + 1:i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += v[i + 1].encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _split_unescaped(text: str, seps: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch in seps:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def dn_key(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN in comparable form: attribute types and values case-folded, escapes resolved (\\, and \\2C alike).
    Multi-valued RDNs (a=1+b=2) are flattened in order; a DN that does not parse raises ValueError."""
    out = []
    for rdn in _split_unescaped(dn, ",;"):
        if not rdn.strip():
            raise ValueError(f"empty RDN in {dn!r}")
        for ava in _split_unescaped(rdn, "+"):
            attr, eq, value = ava.partition("=")
            if not eq or not attr.strip():
                raise ValueError(f"not attribute=value: {ava!r}")
            value = value.lstrip()
            while value.endswith(" ") and not value.endswith("\\ "):  # an escaped trailing space stays
                value = value[:-1]
            out.append((attr.strip().lower(), _unescape_dn_value(value).lower()))
    return tuple(out)


def dn_within(dn: str, base: str) -> bool:
    d, b = dn_key(dn), dn_key(base)
    return len(d) >= len(b) and d[len(d) - len(b):] == b


def esc(value: str) -> str:
    """A value made safe inside an LDAP filter."""
    from ldap3.utils.conv import escape_filter_chars

    return str(escape_filter_chars(value))


def rdn(attribute: str, value: str) -> str:
    """attribute=value with the value escaped for a DN."""
    from ldap3.utils.dn import escape_rdn

    return f"{attribute}={escape_rdn(value)}"


def text(attr: str, raw: bytes) -> str:
    """One stored value as the engine sees it: GUIDs as strings, binary attributes in base64."""
    if attr.lower() == "objectguid" and len(raw) == 16:
        return guid_string(raw)
    if attr.lower() in BINARY_ATTRIBUTES:
        return base64.b64encode(raw).decode()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode()


def values_of(value: Any) -> list[str]:
    """A value as the engine hands it -> the list of LDAP values to store (empty list = clear)."""
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    out = []
    for item in items:
        if item is None or item == "":
            continue
        if isinstance(item, bool):
            out.append("TRUE" if item else "FALSE")
        else:
            out.append(str(item))
    return out


def encode(attr: str, value: str) -> Any:
    """A text value back to what the directory stores (binary attributes from base64)."""
    if attr.lower() in BINARY_ATTRIBUTES:
        return base64.b64decode(value)
    return value


def new_name(system: str, attrs: dict[str, Any], candidates: list[str]) -> str:
    """The value naming a new entry: the first of `candidates` (attribute names) that has one."""
    from ...ports import PermanentError

    lower = {a.lower(): a for a in attrs}
    for candidate in candidates:
        values = values_of(attrs.get(lower.get(candidate.lower(), "")))
        if values:
            return values[0]
    raise PermanentError(f"{system}: cannot name the new account: none of {candidates[1:]} has a value")


def checked_dn(value: str | None) -> str | None:
    """A DN from a system's configuration, or ValueError saying why it is none (for settings validators)."""
    if value is not None:
        try:
            dn_key(value)
        except ValueError as exc:
            raise ValueError(f"not a valid DN: {exc}") from None
    return value
