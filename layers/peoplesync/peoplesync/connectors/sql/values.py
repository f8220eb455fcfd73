"""Values between SQL and peoplesync: database values as JSON scalars, incoming values as the column's type,
flags compared as text, watermarks as markers and in cursors, per-row content hashes."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from ...ports import PermanentError

HASH_BYTES = 8  # per-row content hash kept in the cursor; compared per key, so a miss needs a 2^-64 collision


def jsonable(v: Any) -> Any:
    """A database value as a JSON-compatible scalar (the model's value type)."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.isoformat()
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    if isinstance(v, list | tuple):
        return tuple(jsonable(x) for x in v)
    return str(v)


def flag(v: Any) -> str:
    """Text a flag value is compared by, so True, 1, '1' and 'true' agree across drivers."""
    if isinstance(v, bool):
        return "1" if v else "0"
    text = str(v).strip().lower()
    return {"true": "1", "t": "1", "false": "0", "f": "0"}.get(text, text)


def marker(v: Any) -> int | float | str | None:
    """A watermark value as an Observation marker: comparable within this system."""
    if v is None or (isinstance(v, int | float | str) and not isinstance(v, bool)):
        return v
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    if isinstance(v, date):
        return v.toordinal()
    if isinstance(v, Decimal):
        return float(v)
    return str(v)


def encode_wm(v: Any) -> dict[str, Any]:
    if isinstance(v, datetime):
        return {"t": "datetime", "v": v.isoformat()}
    if isinstance(v, date):
        return {"t": "date", "v": v.isoformat()}
    if isinstance(v, Decimal):
        return {"t": "decimal", "v": str(v)}
    if isinstance(v, bool | int | float | str):
        return {"t": "plain", "v": v}
    return {"t": "plain", "v": str(v)}


def decode_wm(d: dict[str, Any]) -> Any:
    t, v = d["t"], d["v"]
    if t == "datetime":
        return datetime.fromisoformat(v)
    if t == "date":
        return date.fromisoformat(v)
    if t == "decimal":
        return Decimal(v)
    return v


def python_type(column: Any) -> type | None:
    """An SQLAlchemy column's Python type (`coerce`'s `py`); None where its type names none."""
    try:
        py: type = column.type.python_type
    except (NotImplementedError, AttributeError):
        return None
    return py


def coerce(value: Any, name: str, py: type | None) -> Any:
    """Turn a value from another system (usually text) into the Python type `py` of column `name`, where that
    is clear; `py` None: the value as given (the database casts it, or refuses)."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        raise PermanentError(f"column {name!r} holds one value; got a list")
    if py is None:
        return value
    if isinstance(value, py) and not (py is int and isinstance(value, bool)):
        return value
    try:
        if py is bool:
            return flag(value) == "1"
        if py is int:
            return int(str(value).strip())
        if py is float:
            return float(value)
        if py is Decimal:
            return Decimal(str(value))
        if py is datetime:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if py is date:
            return date.fromisoformat(str(value)[:10])
        if py is str:
            return str(value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise PermanentError(f"column {name!r} cannot hold {type(value).__name__} value") from exc
    return value


def row_hash(values: Sequence[Any]) -> bytes:
    return hashlib.blake2b(repr(values).encode(), digest_size=HASH_BYTES).digest()


def pack_hashes(hashes: dict[str, bytes]) -> dict[str, Any]:
    """Per-row hashes as cursor state: the keys as compressed JSON, the hashes concatenated (about 11 bytes
    a row in all)."""
    keys = list(hashes)
    blob = json.dumps(keys, separators=(",", ":")).encode()
    return {"mode": "hash", "keys": base64.b64encode(zlib.compress(blob, 6)).decode(),
            "h": base64.b64encode(b"".join(hashes[k] for k in keys)).decode()}


def unpack_hashes(state: dict[str, Any]) -> dict[str, bytes]:
    keys = json.loads(zlib.decompress(base64.b64decode(state["keys"])))
    raw = base64.b64decode(state["h"])
    return {k: raw[i * HASH_BYTES:(i + 1) * HASH_BYTES] for i, k in enumerate(keys)}


def gt(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:
        return str(a) > str(b)


def reason(exc: Exception) -> str:
    """The driver's message, first line only: no statement, no parameters, no URL."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
