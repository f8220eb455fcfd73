"""The webhook's first line: bearer tokens, and bounds on what a request may ask of us.

Stdlib only, so a refused request costs nothing of the SCIM machinery.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

REALM = "peoplesync-scim"
MAX_BODY_BYTES = 1_048_576  # matches the 1 MiB a large group PATCH from Entra/Okta needs, and no more
MAX_FILTER_CHARS = 2_000
MAX_FILTER_TERMS = 32  # comparisons joined by and / or / not, and value filters [ ... ]
MAX_FILTER_DEPTH = 8  # nested parentheses and brackets
MAX_PARAM_CHARS = 4_000  # attributes / excludedAttributes / sortBy ...


class TokenSet:
    """The bearer tokens accepted at once (several, so a rotation never breaks the IdP).

    Every configured token is compared in constant time, whatever matched first, so timing reveals
    neither a token nor which one matched. No token configured means every request is refused.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]

    def __len__(self) -> int:
        return len(self._tokens)

    def check(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        given = presented.strip().encode()
        ok = False
        for token in self._tokens:
            ok |= hmac.compare_digest(given, token)
        return ok


def challenge(authorization: str | None) -> str:
    """The WWW-Authenticate value of a 401 (RFC 6750 §3)."""
    if authorization:
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


def filter_problem(text: str) -> str | None:
    """Why a filter is too large or too complex to evaluate, or None. Counts outside quoted strings."""
    if len(text) > MAX_FILTER_CHARS:
        return f"filter is {len(text)} characters long; at most {MAX_FILTER_CHARS} are accepted"
    terms = depth = deepest = 0
    in_string = escaped = False
    word = []
    for ch in text + " ":
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "([":
            depth += 1
            deepest = max(deepest, depth)
            terms += ch == "["
        elif ch in ")]":
            depth -= 1
        if ch.isalpha():
            word.append(ch)
        else:
            if word and "".join(word).lower() in ("and", "or", "not"):
                terms += 1
            word = []
    if terms > MAX_FILTER_TERMS:
        return f"filter joins {terms} expressions; at most {MAX_FILTER_TERMS} are accepted"
    if deepest > MAX_FILTER_DEPTH:
        return f"filter nests {deepest} levels deep; at most {MAX_FILTER_DEPTH} are accepted"
    return None


def token_list(secret: Any) -> list[str]:
    """The bearer tokens a secret holds: {"tokens": [...]}, {"token": "..."}, a list, or one per line."""
    if isinstance(secret, Mapping):
        secret = secret.get("tokens", secret.get("token", []))
    if isinstance(secret, str):
        secret = secret.replace(",", "\n").splitlines()
    return [str(t).strip() for t in secret or [] if str(t).strip()]
