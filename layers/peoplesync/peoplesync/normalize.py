"""Normalisers: turn a value as a system wrote it into the form values are compared and agreed in.

A normaliser is a plain function `str -> str | None`. They run in the order configured. Blank ("" or None)
always becomes None, so "no value" has one spelling. Multi-valued attributes are normalised per element and
kept as a sorted tuple: membership is a set, its order in a system carries no meaning.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

Normaliser = Callable[[str], str | None]

_SPACES = re.compile(r"\s+")
# A North American number written one of the usual ways (+1 317 555 0101, (317) 555-0101, 317.555.0101,
# 1-317-555-0101), area code and exchange as the plan assigns them ([2-9]..): phonenumbers gives "+1" and the ten
# digits for each (tests/unit/test_phone_fast_path.py compares the two on generated numbers), at ~80 us a parse
# where this match costs ~1 us. Anything else (other countries, extensions, letters) is parsed.
_NANP = re.compile(r"(?:\+1|1)?[ .-]?(?:\(([2-9][0-9]{2})\)|([2-9][0-9]{2}))[ .-]?([2-9][0-9]{2})[ .-]?([0-9]{4})")
_NANP_REGIONS = frozenset({"US", "CA"})


def _trim(v: str) -> str:
    return v.strip()


def _collapse(v: str) -> str:
    # str.split() splits on exactly what the regex's \s matches (both ask Py_UNICODE_ISSPACE), at a quarter of
    # the cost; tests/unit/test_normalize*.py compares the two over every code point
    return " ".join(v.split())


def _digits(v: str) -> str:
    return "".join(ch for ch in v if ch.isdigit())


@lru_cache(maxsize=8192)  # a population has few distinct dates (hire dates repeat); each is read once
def _date(v: str) -> str | None:
    """ISO date (YYYY-MM-DD) from an ISO date, datetime, or US/EU slashed date is refused as ambiguous."""
    v = v.strip()
    try:
        return date.fromisoformat(v[:10]).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return v  # leave it as it is: a value we cannot read is compared verbatim, never invented


def _e164(region: str) -> Normaliser:
    nanp = region in _NANP_REGIONS

    @lru_cache(maxsize=65536)
    def e164(v: str) -> str | None:
        # No short cut for text already shaped like E.164 ("+" and digits): phonenumbers rewrites some of it
        # (a trunk prefix kept after the country code, "+44 0 20..." -> "+4420...", "+7 8..." -> "+7...",
        # "+1 1..." -> "+1..."), so keeping it as written would compare "+4402079460958" and
        # "+44 (0)20 7946 0958" as two numbers. Each distinct value is parsed once (the cache above).
        if nanp and (m := _NANP.fullmatch(v.strip())):
            return f"+1{m[1] or m[2]}{m[3]}{m[4]}"
        import phonenumbers  # ~25 ms, paid only by configurations that normalise phones

        try:
            parsed = phonenumbers.parse(v, region)
        except phonenumbers.NumberParseException:
            return v.strip() or None  # not a phone number we can read: keep verbatim
        if not phonenumbers.is_possible_number(parsed):
            return v.strip() or None
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if parsed.extension:
            text += f";ext={parsed.extension}"
        return text

    return e164


_SIMPLE: dict[str, Normaliser] = {
    "trim": _trim,
    "lower": str.lower,
    "upper": str.upper,
    "collapse": _collapse,
    "digits": _digits,
    "date": _date,
}

NAMES = (*_SIMPLE, "e164", "e164:<REGION>")


def build(spec: str, default_region: str = "US") -> Normaliser:
    """Return the normaliser named by `spec` ("lower", "e164", "e164:GB"). Raises ValueError if unknown."""
    name, _, arg = spec.partition(":")
    if name == "e164":
        region = (arg or default_region).upper()
        if not re.fullmatch(r"[A-Z]{2}", region):
            raise ValueError(f"e164 needs a two-letter region, got {region!r}")
        return _e164(region)
    if arg or name not in _SIMPLE:
        raise ValueError(f"unknown normaliser {spec!r} (known: {', '.join(NAMES)})")
    return _SIMPLE[name]


def chain(specs: list[str], default_region: str = "US") -> Callable[[Any, bool], Any]:
    """Compose normalisers into one function `(value, multi) -> normalised value`."""
    return _chain([build(s, default_region) for s in specs])


def _chain(steps: list[Normaliser]) -> Callable[[Any, bool], Any]:

    def one(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, bool | int | float):
            return v
        s = str(v)
        for step in steps:
            if not s:
                return None
            s = step(s)  # type: ignore[assignment]
            if s is None:
                return None
        return s or None

    if not steps:  # the common case: only blank is normalised
        def plain(v: Any, multi: bool) -> Any:
            if multi:
                return apply(v, multi)
            if v is None or v == "" or isinstance(v, bool | int | float):
                return None if v == "" else v
            if isinstance(v, list | tuple):
                return one(v[0]) if v else None
            return v if isinstance(v, str) else (str(v) or None)

    def apply(v: Any, multi: bool) -> Any:
        if multi:
            if v is None or v == "":
                return ()
            items = v if isinstance(v, list | tuple | set | frozenset) else (v,)
            return tuple(sorted({n for n in map(one, items) if n is not None}, key=str))
        if isinstance(v, list | tuple):  # a single-valued field read from a multi-valued attribute
            v = v[0] if v else None
        return one(v)

    return apply if steps else plain


def pair(specs: list[str], default_region: str = "US") -> tuple[Callable[[Any, bool], Any], Callable[[Any], Any]]:
    """(`chain(specs)`, the same for a single value as a one-argument function), sharing their steps (and the
    phone parser's cache). The engine normalises every value it reads: a string (what nearly every connector
    gives) takes a short path in the second; anything else goes through the first."""
    steps = [build(s, default_region) for s in specs]
    both = _chain(steps)
    return both, _single(steps, both)


def _single(steps: list[Normaliser], both: Callable[[Any, bool], Any]) -> Callable[[Any], Any]:
    if not steps:
        def plain(v: Any) -> Any:
            return (v or None) if v.__class__ is str else both(v, False)
        return plain
    if len(steps) == 1:
        step = steps[0]

        def one_step(v: Any) -> Any:
            if v.__class__ is str:
                return (step(v) or None) if v else None
            return both(v, False)
        return one_step

    def steps_(v: Any) -> Any:
        if v.__class__ is not str:
            return both(v, False)
        s = v
        for step in steps:
            if not s:
                return None
            s = step(s)  # type: ignore[assignment]
            if s is None:
                return None
        return s or None

    return steps_
