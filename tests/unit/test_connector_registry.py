"""The connector registry: the layer's REGISTRY names only real connectors; the tests' and the demo's connectors
are plugins (entry-point group `peoplesync.connectors`), looked up only for a name REGISTRY does not know."""

from __future__ import annotations

import subprocess
import sys

from peoplesync import connectors


def test_given_the_production_registry_then_it_names_only_modules_of_the_layer() -> None:
    assert "memory" not in connectors.REGISTRY and "ldap_memory" not in connectors.REGISTRY
    assert all(path.startswith("peoplesync.connectors.") for path in connectors.REGISTRY.values())


def test_given_the_dev_tools_installed_when_a_test_connector_is_named_then_it_is_found_as_a_plugin() -> None:
    assert connectors.plugins()["memory"] == "peoplesync_dev.memory"
    assert connectors.module("memory").__name__ == "peoplesync_dev.memory"
    assert connectors.module("ldap_memory").__name__ == "peoplesync_dev.ldap_memory"
    assert connectors.settings_problems("memory", {"accounts": {}}) == []


def test_given_an_unknown_connector_then_settings_problems_names_it_and_what_is_known() -> None:
    [(path, reason)] = connectors.settings_problems("ldapp", {})
    assert path == "connector"
    assert "unknown connector 'ldapp'" in reason and "ldap" in reason and "memory" in reason


def test_given_a_built_in_connector_when_its_module_is_looked_up_then_no_entry_point_is_read() -> None:
    code = ("import sys\nfrom peoplesync import connectors\nconnectors.module('csv')\n"
            "print(connectors.plugins.cache_info().misses)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0"
