"""What the `genesys_cloud` settings derive, and the loopback test their URLs are checked with: plain code, shared by
the settings checked now (`genesys_settings.py`, pydantic) and before (`checked_settings.py`, a Lambda function's
cold start), and importing neither the connector nor requests (the full check of a configuration imports this, not
the connector)."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

BATCH = 50  # group member ids per add or remove request: the API's documented maximum (genesys_groups)


def _loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class GenesysSettingsProps:
    """What the settings derive, checked now (`genesys_settings.GenesysSettings`) or before (`checked_settings`).
    No annotations: pydantic would take an annotated name for a field."""

    def urls(self) -> tuple[str, str]:
        s: Any = self
        if s.base_url is not None:
            return s.base_url.rstrip("/"), (s.login_url or s.base_url).rstrip("/")
        from .genesys_api import hosts_for

        api, login = hosts_for(s.region or "")
        return api, (s.login_url or login).rstrip("/")
