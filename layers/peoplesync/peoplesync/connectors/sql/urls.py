"""A PostgreSQL URL (`postgresql+psycopg://` or `postgresql://`, SQLAlchemy's spelling) read without SQLAlchemy,
as psycopg's connection keywords: the SQL connector talks to PostgreSQL through psycopg directly (`pg.py`), so a
Lambda cold start does not import SQLAlchemy (about 265 ms of CPU here) to parse the URL.

The keywords are the ones SQLAlchemy's psycopg dialect gives psycopg for the same URL (`create_connect_args`):
user, password, host, port and dbname from the URL, every query parameter as given (`connect_timeout`,
`sslmode`, ...), several `host=h:p` parameters joined into libpq's `host=h1,h2 port=p1,p2`. User and password
are %-decoded from the URL and passed as keywords (psycopg quotes them), so '@', ':', '/' and '%' are safe."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

# the URL schemes the direct path serves: psycopg 3 is the driver we ship, and SQLAlchemy 2.1's default
# PostgreSQL driver (a URL naming another driver, postgresql+pg8000 say, stays on SQLAlchemy)
DIRECT_SCHEMES = ("postgresql+psycopg", "postgresql")


def is_direct(url: str) -> bool:
    """Is this a URL the connector serves with psycopg directly (no SQLAlchemy)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.strip().lower() in DIRECT_SCHEMES


@dataclass(frozen=True)
class PgUrl:
    """A parsed PostgreSQL URL. `repr` and `str` hide the password."""

    scheme: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    dbname: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    def set(self, username: str | None = None, password: str | None = None) -> PgUrl:
        """With these credentials (as SQLAlchemy's `URL.set`: None keeps what the URL had)."""
        return replace(self, user=self.user if username is None else username,
                       password=self.password if password is None else password)

    def connect_kwargs(self) -> dict[str, Any]:
        """psycopg.connect's keywords (see the module's docstring)."""
        kwargs: dict[str, Any] = {k: v for k, v in (("user", self.user), ("password", self.password),
                                                    ("host", self.host), ("dbname", self.dbname)) if v}
        if self.port is not None:
            kwargs["port"] = self.port
        hosts = [v for k, v in self.query if k == "host"]
        for k, v in self.query:
            if k != "host":
                kwargs[k] = v
        if len(hosts) > 1:  # host=h1:p1&host=h2:p2
            pairs = [h.rsplit(":", 1) if ":" in h and not h.startswith("/") else [h, ""] for h in hosts]
            kwargs["host"] = ",".join(h for h, _ in pairs)
            if any(p for _, p in pairs):
                kwargs["port"] = ",".join(p for _, p in pairs)
        elif hosts:
            kwargs["host"] = hosts[0]
        return kwargs

    def key(self) -> tuple[Any, ...]:
        """What tells two URLs' connections apart (the password included: a rotated secret is a new pool)."""
        return (self.scheme, self.user, self.password, self.host, self.port, self.dbname, self.query)

    def __str__(self) -> str:
        auth = ""
        if self.user is not None:
            auth = self.user + (":***" if self.password else "") + "@"
        where = (self.host or "") + (f":{self.port}" if self.port is not None else "")
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.scheme}://{auth}{where}/{self.dbname or ''}" + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        return str(self)


def parse(url: str) -> PgUrl:
    """`url` parsed; ValueError naming what is wrong (a port that is no number)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the URL's port is not a number") from None
    return PgUrl(scheme=parts.scheme.lower(), user=unquote(parts.username) if parts.username else None,
                 password=unquote(parts.password) if parts.password else None,
                 host=unquote(parts.hostname) if parts.hostname else None, port=port,
                 dbname=unquote(parts.path.lstrip("/")) or None,
                 query=tuple(parse_qsl(parts.query, keep_blank_values=True)))
