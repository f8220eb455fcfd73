"""JSON for the local state store and the connectors' cursors: orjson when it is installed (`peoplesync[cli]`;
records encode about 9x and decode about 2.5x faster), the standard library otherwise, and the same values back
either way.

orjson cannot write an integer past 64 bits (the standard library's form is written then), and it READS one as
a float, silently: an LDAP range position (a 128-bit entryUUID), or a big number a SQL column gave, would come
back rounded. So what orjson read is looked through for a float (our data seldom holds one: values are nearly
all strings), and a text that gave one is read again by the standard library, which reads each number as
written. On a CSV cursor of 5,000 rows (150 KB): orjson 0.95 ms, with the look 1.64 ms (the standard library
1.68 ms); a scan of the text for long runs of digits instead cost 5.9 ms.

The look is first made the cheap way: what orjson read is written again by orjson and compared with the text.
Equal, the text is orjson's own writing of that value, so it held no integer orjson rounded (one read as a float
is written back in a float's form, never in the integer's digits) and each float in it is written as its
shortest repr, which the standard library reads to the same float: the value is what `json.loads` gives. A
text written otherwise (by the standard library, by hand, or with spaces) is looked through as before. On a
stored record (2 KB): 4.5 us against the scan's 23 us (the scan, a Python loop over every value, was about 3%
of a first local sync; it is paid for every record decoded).
"""

from __future__ import annotations

import json
from typing import Any


def _holds_float(value: Any) -> bool:
    """Whether a decoded JSON value holds a float anywhere (lists and objects looked through, without recursion)."""
    stack = [value]
    while stack:
        v = stack.pop()
        cls = v.__class__
        if cls is dict:
            stack.extend(v.values())
        elif cls is list:
            stack.extend(v)
        elif cls is float:
            return True
    return False

try:
    import orjson

    # How `dumps` writes, and how `loads` writes a value back to compare: orjson's default, which takes string
    # keys only (every value read from JSON has them, and every record a store writes), at about half the cost
    # of OPT_NON_STR_KEYS (a 2 KB record: 5.1 against 9.7 us); the text is the same, the option changing only
    # what a dict with another key (an int) is written as. A value with such a key is written with the option.
    _write = orjson.dumps

    def dumps(value: Any) -> str:
        try:
            return _write(value).decode()
        except TypeError:  # a key that is not a string, or what orjson refuses (an int past 64 bits)
            try:
                return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
            except TypeError:  # an int past 64 bits: the standard library's form
                return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def loads(text: str | bytes) -> Any:
        value = orjson.loads(text)
        try:  # written back as it was read: orjson's own text, exact (the module's docstring says why)
            if _write(value) == (text.encode() if isinstance(text, str) else text):
                return value
        except orjson.JSONEncodeError:  # nested too deep for orjson to write: looked through instead
            pass
        return json.loads(text) if _holds_float(value) else value

except ImportError:  # pragma: no cover - the standard library alone
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def loads(text: str | bytes) -> Any:
        return json.loads(text)
