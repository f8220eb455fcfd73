"""Transforms between a system's attributes and a field's value, for mappings a plain attribute cannot say.

A mapping entry is either an attribute name, or an object:

    map:
      hr:    {template: "{First_Name} {Last_Name}"}           # concatenation on read, splitting on write
      hr:    {attr: Dept_Code, values: {FIN: Finance, ENG: Engineering}}   # HR codes to display names
      badge: {attr: hired_on, date_format: "%m/%d/%Y"}        # a system's date format <-> ISO dates

The engine never sees the system's own attributes for such a mapping: `decode` turns what was read into one
*virtual attribute* per transformed field (named by the mapping's `key`), and `encode` turns what the engine
wants written back into the system's attributes. Connectors only ever see real attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(slots=True)
class Codec:
    key: str  # the virtual attribute the engine uses
    attrs: tuple[str, ...]  # the system's real attributes behind it
    template: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    _split: re.Pattern[str] | None = None
    _reverse: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, attr: str | None, template: str | None, values: dict[str, str] | None,
              date_format: str | None) -> Codec:
        if template is not None:
            names = tuple(_PLACEHOLDER.findall(template))
            parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
            pattern = "".join(re.escape(p) if i % 2 == 0 else ("(.*)" if i == len(parts) - 2 else "(.*?)")
                              for i, p in enumerate(parts))
            return cls(template, names, template=template, _split=re.compile(f"^{pattern}$", re.DOTALL))
        assert attr is not None
        reverse = {v: k for k, v in (values or {}).items()}
        return cls(f"{attr}|{'values' if values else 'date'}", (attr,), values=dict(values or {}),
                   date_format=date_format, _reverse=reverse)

    def decode(self, raw: dict[str, Any]) -> Any:
        if self.template is not None:
            if all(raw.get(a) in (None, "") for a in self.attrs):
                return None
            return _PLACEHOLDER.sub(lambda m: str(raw.get(m.group(1)) or ""), self.template).strip() or None
        value = raw.get(self.attrs[0])
        if value in (None, ""):
            return None
        if self.values:
            return self.values.get(str(value), value)  # an unknown code passes through unchanged
        if self.date_format:
            try:
                return datetime.strptime(str(value).strip(), self.date_format).date().isoformat()
            except ValueError:
                return value  # not in the expected format: compared verbatim, never invented
        return value

    def encode(self, value: Any) -> dict[str, Any]:
        if self.template is not None:
            if value in (None, ""):
                return dict.fromkeys(self.attrs)
            m = self._split.match(str(value)) if self._split else None
            if m is None:  # the literal separators are not in the value: all of it goes to the first part
                return {a: (str(value) if i == 0 else None) for i, a in enumerate(self.attrs)}
            return {a: (g.strip() or None) for a, g in zip(self.attrs, m.groups(), strict=True)}
        attr = self.attrs[0]
        if value in (None, ""):
            return {attr: None}
        if self.values:
            return {attr: self._reverse.get(str(value), value)}
        if self.date_format:
            try:
                return {attr: date.fromisoformat(str(value)[:10]).strftime(self.date_format)}
            except ValueError:
                return {attr: value}
        return {attr: value}


def decode(codecs: list[Codec], attrs: dict[str, Any]) -> dict[str, Any]:
    """A system's attributes as read -> the same with each transformed mapping as its virtual attribute.
    A virtual attribute is present only when every real attribute behind it was read."""
    out = dict(attrs)  # the real attributes stay: another field may map one of them directly
    for c in codecs:
        if all(a in attrs for a in c.attrs):
            out[c.key] = c.decode(attrs)
    return out


def encode(codecs: dict[str, Codec], attrs: dict[str, Any]) -> dict[str, Any]:
    """What the engine wants written (virtual attributes) -> the system's real attributes."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        codec = codecs.get(key)
        if codec is None:
            out[key] = value
        else:
            out.update(codec.encode(value))
    return out
