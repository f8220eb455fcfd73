"""Redaction: what may leave the process in an error text, a report or a log line.

Pure (the standard library only; imports nothing of the bridge). Two things are masked:

- **Known secret values**: the secrets adapters `register()` every value they hand out (passwords, client
  secrets, tokens; see `register_secret`), and the OAuth cache registers the tokens it receives. Their URL- and
  base64-encoded forms are registered too, so `Basic base64(id:secret)` and a form body echoed back are caught.
- **Patterns**, for what was never registered: `Authorization:` headers, `Bearer` / `Basic` / `Token`
  credentials, the password of a URL (`https://user:pw@host`), and `password=` / `client_secret=` /
  `access_token=` / `refresh_token=` / `token=` parameters.

`scrub(text)` applies both. `RedactingFilter` is a `logging.Filter` that scrubs a record's message (with its
args), and its formatted traceback; `install_log_redaction()` puts it on the root logger, the root's handlers
and the named third-party loggers, and wraps the log-record factory so that a record made by any logger,
including one created later, is scrubbed before any handler sees it. Values shorter than `MIN_LENGTH` are not
registered (masking every "1" or "yes" in the logs would hide more than it protects).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4

#: keys of a secret whose values identify rather than authenticate: not masked (they help to read an error)
NOT_SECRET_KEYS = frozenset({"username", "user", "user_name", "client_id", "clientid", "bind_dn", "dn", "host",
                             "url", "base_url", "token_url", "region", "tenant", "domain", "port", "database"})

#: loggers of the libraries the bridge uses, given their own filter by `install_log_redaction()`
THIRD_PARTY_LOGGERS = ("botocore", "boto3", "urllib3", "requests", "ldap3", "sqlalchemy", "psycopg",
                       "aws_lambda_powertools", "peoplesync")

#: (words one of which the lower-cased text must hold for the pattern to be tried, pattern, replacement)
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # a whole header line or a header in a dict's repr / JSON: `Authorization: Bearer x`, "authorization": "x"
    (("authorization",),
     re.compile(r"""(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)[^"'\r\n,}]+"""), r"\1" + MASK),
    # a credential on its own: Bearer eyJ..., Basic dXNlcjpwdw==
    # (case as sent; the value must hold a digit or a symbol, so that prose like "Basic authentication" stays)
    (("bearer", "basic"),
     re.compile(r"\b(Bearer|bearer|Basic|BASIC|BEARER)(\s+)"
                r"(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{6,}"), r"\1\2" + MASK),
    # a URL's password: scheme://user:password@host
    (("://",), re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # parameters of a query string, a form body or JSON
    (("secret", "passw", "pwd", "token", "api"),
     re.compile(r"""(?i)\b((?:client_secret|password|passwd|pwd|secret|access_token|refresh_token|id_token"""
                r"""|api_key|apikey|token)["']?\s*[=:]\s*["']?)[^&"'\s,}]+"""), r"\1" + MASK),
)

_lock = threading.Lock()
_known: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first: a value that contains another is masked whole


def register(*values: Any) -> None:
    """Remember secret values (strings; anything else is ignored), with their URL-encoded forms."""
    global _ordered
    added = set()
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            continue
        for form in (value, quote(value, safe=""), quote_plus(value)):
            if form not in _known:
                added.add(form)
    if added:
        with _lock:
            _known.update(added)
            _ordered = tuple(sorted(_known, key=len, reverse=True))


def register_secret(secret: Mapping[str, Any]) -> None:
    """Every value of a secret as the secrets adapters return it (nested values too), except the ones that
    identify (`NOT_SECRET_KEYS`); plus `base64(id:secret)` for an HTTP Basic pair it holds."""
    def walk(node: Any, key: str = "") -> Iterable[str]:
        if isinstance(node, Mapping):
            for k, v in node.items():
                yield from walk(v, str(k))
        elif isinstance(node, list | tuple):
            for v in node:
                yield from walk(v, key)
        elif isinstance(node, str) and key.lower() not in NOT_SECRET_KEYS:
            yield node

    register(*walk(secret))
    for user_key, pw_key in (("client_id", "client_secret"), ("username", "password")):
        user, pw = secret.get(user_key), secret.get(pw_key)
        if isinstance(user, str) and isinstance(pw, str):
            register_basic(user, pw)


def register_basic(user: str, password: str) -> None:
    """The `Basic` credential of a user and password (what an echoed Authorization header would show)."""
    register(base64.b64encode(f"{user}:{password}".encode()).decode())


def forget_all() -> None:
    """Forget every registered value (tests)."""
    global _ordered
    with _lock:
        _known.clear()
        _ordered = ()


def scrub(text: Any) -> str:
    """`text` (made a string) with every known secret value and every credential pattern masked."""
    text = text if isinstance(text, str) else str(text)
    for value in _ordered:  # substring tests: much faster than one alternation of every value
        if value in text:
            text = text.replace(value, MASK)
    lower = text.lower()
    for words, pattern, replacement in _PATTERNS:
        if any(w in lower for w in words):
            text = pattern.sub(replacement, text)
    return text


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub a log record in place: its message merged with its args, and its traceback text."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it to the handler to report, scrubbed as it is
        message = str(record.msg)
    clean = scrub(message)
    if clean != message or record.args:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    for key, value in list(vars(record).items()):  # fields given as `extra=` (structured loggers show them)
        if isinstance(value, str) and key not in _STANDARD:
            setattr(record, key, scrub(value))


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Masks known secret values and credential patterns in every record it sees; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)  # again if the factory did: `extra=` fields are set after the factory ran
        return True


_FILTER = RedactingFilter()
_installed: dict[str, Any] = {}


def install_log_redaction(*loggers: str | logging.Logger, third_party: bool = True) -> RedactingFilter:
    """Scrub every log record of this process. Idempotent; call it once at start-up (a Lambda function's
    module level, the command line's `main`), again after a library adds its own handlers if you like.
    `loggers`: more loggers (or names) to filter, e.g. a powertools `Logger`'s own, which does not
    propagate to the root."""
    if "factory" not in _installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed["factory"], _installed["previous"] = factory, previous
    names: list[str | logging.Logger] = ["", *(THIRD_PARTY_LOGGERS if third_party else ()), *loggers]
    for name in names:
        logger = name if isinstance(name, logging.Logger) else logging.getLogger(name or None)
        for target in (logger, *logger.handlers):
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)
                _installed.setdefault("targets", []).append(target)
    return _FILTER


def uninstall_log_redaction() -> None:
    """Undo `install_log_redaction()` (tests)."""
    if logging.getLogRecordFactory() is _installed.get("factory"):
        logging.setLogRecordFactory(_installed["previous"])
    for target in _installed.get("targets", []):
        target.removeFilter(_FILTER)
    _installed.clear()
