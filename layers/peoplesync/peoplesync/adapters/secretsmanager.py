"""`SecretsManagerSecrets`: the `SecretsPort` on AWS Secrets Manager, cached across invocations.

A secret holds JSON (`{"username": ..., "password": ...}`); a secret that is not a JSON object comes back as
`{"value": <the text>}`. Names may be given as in the configuration (`secret:peoplesync/ad`) or bare. Only
names under `prefix` are asked for: the functions' IAM policy allows no others, and a clear error beats an
AccessDenied. Every value read is registered with `peoplesync.redact`, so that no error text or log record
shows it.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import redact
from ..ports import PermanentError, TransientError

_NOT_THERE = {"ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException",
              "DecryptionFailure", "InvalidParameterException"}


class SecretsManagerSecrets:
    """`ttl`: seconds a fetched secret is reused (a rotated secret is seen after at most this long)."""

    def __init__(self, prefix: str = "", client: Any = None, *, ttl: float = 300,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if client is None:
            import boto3  # only where secrets are really read

            client = boto3.client("secretsmanager")
        self.prefix = prefix
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> dict[str, Any]:
        name = name.removeprefix("secret:")
        if self.prefix and not name.startswith(self.prefix):
            raise PermanentError(f"secret {name!r} is outside the allowed prefix {self.prefix!r}")
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and self._clock() - hit[0] < self.ttl:
                return copy.deepcopy(hit[1])
        value = self._fetch(name)
        redact.register_secret(value)  # masked from now on in error texts and log records
        with self._lock:
            self._cache[name] = (self._clock(), value)
        return copy.deepcopy(value)

    def forget(self, name: str | None = None) -> None:
        """Drop one cached secret (e.g. after the system refused its credentials), or all of them."""
        with self._lock:
            if name is None:
                self._cache.clear()
            else:
                self._cache.pop(name.removeprefix("secret:"), None)

    def _fetch(self, name: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_secret_value(SecretId=name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_THERE:
                raise PermanentError(f"secret {name!r} cannot be read: {code}") from None
            raise TransientError(f"secret {name!r}: {code or exc}") from None
        except BotoCoreError as exc:
            raise TransientError(f"secret {name!r}: {exc}") from None
        text = answer.get("SecretString")
        if text is None:
            return {"value": answer.get("SecretBinary")}
        try:
            value = json.loads(text)
        except ValueError:
            return {"value": text}
        return value if isinstance(value, dict) else {"value": value}
