"""Connector registry. Each connector module exposes `Settings` (a pydantic model of its own keys in the
system's configuration) and `build(name, system_config, attributes, secrets) -> Connector`.

Modules are imported only when a system uses them, so a function pays only for its own connector's imports.

`REGISTRY` names the connectors the layer ships, and only those. Any other connector is a plugin: a module
declared in the `peoplesync.connectors` entry-point group of an installed distribution, e.g. in pyproject.toml

    [project.entry-points."peoplesync.connectors"]
    memory = "peoplesync_dev.memory"

(the tests' and the demo's connectors, `memory` and `ldap_memory`, come this way from `tools/peoplesync_dev`).
The entry points are read once, and only for a name `REGISTRY` does not know: reading the installed
distributions' metadata costs time at a Lambda cold start, so a built-in connector never pays for it.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

# connector name -> module. A connector listed here but not yet shipped reports so at validation time.
REGISTRY: dict[str, str] = {
    "csv": "peoplesync.connectors.csv_file",
    "ldap": "peoplesync.connectors.ldap",
    "sql": "peoplesync.connectors.sql",
    "workday_raas": "peoplesync.connectors.workday",
    "genesys_cloud": "peoplesync.connectors.genesys",
    "graph": "peoplesync.connectors.graph",
    "scim": "peoplesync.connectors.scim_inbound",
    "scim_client": "peoplesync.connectors.scim_client",
}

PLUGIN_GROUP = "peoplesync.connectors"

# connector name -> the module of its pydantic `Settings` alone (without the connector's own imports): a
# configuration checked in full keeps these connectors' settings checked too (`adapters/aws.checked_form`), and a
# Lambda function's cold start builds them from that without pydantic (`checked_settings.py`). The modules are part
# of what decides whether a configuration is valid (`adapters/config_cache.py` digests their sources).
CHECKED_SETTINGS: dict[str, str] = {
    "csv": "peoplesync.connectors.csv_settings",
    "workday_raas": "peoplesync.connectors.workday_settings",
    "scim_client": "peoplesync.connectors.scim_client_settings",
    "graph": "peoplesync.connectors.graph_settings",
    "ldap": "peoplesync.connectors.ldap.settings",
    "sql": "peoplesync.connectors.sql.settings",
    "genesys_cloud": "peoplesync.connectors.genesys_settings",
}
# connector name -> the modules whose code those models' validators run besides their own (a DN's or a filter's
# check, a flavour's rules, the loopback test): digested with them, so a release that changes what they accept
# checks the configuration in full again rather than trusting a form checked by the old rules
CHECKED_SETTINGS_CALLS: dict[str, tuple[str, ...]] = {
    "ldap": ("peoplesync.connectors.ldap.dn", "peoplesync.connectors.ldap.search",
             "peoplesync.connectors.ldap.flavors", "peoplesync.connectors.ldap.props"),
    "genesys_cloud": ("peoplesync.connectors.genesys_props",),
    "scim_client": ("peoplesync.connectors.genesys_props",),
    "graph": ("peoplesync.connectors.graph",),
}


@functools.cache
def plugins() -> dict[str, str]:
    """Connector name -> module, from the `peoplesync.connectors` entry points of the installed distributions
    (read once per process; `plugins.cache_clear()` after installing one at run time)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.module for ep in entry_points(group=PLUGIN_GROUP)}


def module(connector: str) -> Any:
    """The module of a connector: a built-in one from `REGISTRY`, else a plugin (KeyError when neither)."""
    path = REGISTRY.get(connector)
    if path is None:
        path = plugins().get(connector)
        if path is None:
            known = ", ".join(sorted({*REGISTRY, *plugins()}))
            raise KeyError(f"unknown connector {connector!r} (known: {known})")
    return importlib.import_module(path)


def settings_problems(connector: str, settings: dict[str, Any]) -> list[tuple[str, str]]:
    """Validate a system's connector-specific keys; return (path-within-system, reason) pairs."""
    try:
        mod = module(connector)
    except KeyError as exc:
        return [("connector", str(exc.args[0]))]
    except ImportError as exc:
        return [("connector", f"connector {connector!r} is not available: {exc}")]
    from pydantic import ValidationError

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
        return cls
    from .base import BaseConnector

    def from_system(klass: type, name: str, system_config: Any, attributes: Any, *, secrets: Any = None,
                    buckets: Any = None, checked: Any = None, **options: Any) -> Any:  # checked: not offered
        return mod.build(name, system_config, list(attributes), secrets, **options)

    return type(f"Built_{connector}", (BaseConnector,),
                {"Settings": mod.Settings, "from_system": classmethod(from_system), "__module__": mod.__name__})
