"""What the `ldap` settings derive from their keys, for settings checked now (`settings.Settings`, pydantic) or
before (`checked_settings.py`, a Lambda function's cold start): plain code, no pydantic."""

from __future__ import annotations

import re
from typing import Any

from .flavors import flavor_of

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def seconds(text: str) -> int:
    """'30m', '6h', '7d', '45' -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError("a duration such as 30m, 6h or 7d (0 = every poll is a full read)")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class LdapSettingsProps:
    """The settings' derived values; the model declares this mixin too. No annotations: pydantic would take an
    annotated name for a field."""

    @property
    def filter(self) -> str:
        s: Any = self
        return str(s.user_filter or flavor_of(s.flavor).filter)

    @property
    def full_read_seconds(self) -> int:
        s: Any = self
        return seconds(s.full_read_every)
