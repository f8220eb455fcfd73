"""Connector registry. Each connector module exposes `Settings` (a pydantic model of its own keys in the
system's configuration) and `build(name, system_config, attributes, secrets) -> Connector`.

Modules are imported only when a system uses them, so a function pays only for its own connector's imports.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

# connector name -> module. A connector listed here but not yet shipped reports so at validation time.
REGISTRY: dict[str, str] = {
    "memory": "peoplesync.connectors.memory",
    "csv": "peoplesync.connectors.csv_file",
    "ldap": "peoplesync.connectors.ldap",
    "sql": "peoplesync.connectors.sql",
    "workday_raas": "peoplesync.connectors.workday",
    "genesys_cloud": "peoplesync.connectors.genesys",
    "scim": "peoplesync.connectors.scim_inbound",
    "scim_client": "peoplesync.connectors.scim_client",
    "ldap_memory": "peoplesync.standins.ldap_memory",  # the demo's in-process directory (ldap3's mock)
}


def module(connector: str) -> Any:
    if connector not in REGISTRY:
        raise KeyError(f"unknown connector {connector!r} (known: {', '.join(sorted(REGISTRY))})")
    return importlib.import_module(REGISTRY[connector])


def settings_problems(connector: str, settings: dict[str, Any]) -> list[tuple[str, str]]:
    """Validate a system's connector-specific keys; return (path-within-system, reason) pairs."""
    try:
        mod = module(connector)
    except KeyError as exc:
        return [("connector", str(exc.args[0]))]
    except ImportError as exc:
        return [("connector", f"connector {connector!r} is not available: {exc}")]
    try:
        mod.Settings.model_validate(settings)
    except ValidationError as exc:
        return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
    return []


# --- connector classes (each module's `CONNECTOR`, built with `from_system`) --------------------------------
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from .base import BaseConnector


def connector_class(connector: str) -> type[BaseConnector]:
    """The class a connector module exposes as `CONNECTOR`; build one with `.from_system(...)`.

    A module not yet on the base (it has only a `build()` function) is wrapped, so that every caller can
    already use `from_system`; the wrapper goes once every connector exposes `CONNECTOR`."""
    mod = module(connector)
    cls = getattr(mod, "CONNECTOR", None)
    if cls is not None:
        return cls  # type: ignore[no-any-return]
    from .base import BaseConnector

    def from_system(klass: type, name: str, system_config: Any, attributes: Any, *, secrets: Any = None,
                    buckets: Any = None, **options: Any) -> Any:
        return mod.build(name, system_config, list(attributes), secrets, **options)

    return type(f"Built_{connector}", (BaseConnector,),
                {"Settings": mod.Settings, "from_system": classmethod(from_system), "__module__": mod.__name__})
