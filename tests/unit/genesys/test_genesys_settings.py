"""The `genesys_cloud` and `scim_client` system settings, as the configuration check reports them."""

from __future__ import annotations

import pytest

from peoplesync.config import ConfigError, load_config
from peoplesync.connectors import connector_class
from peoplesync.connectors.genesys_api import hosts_for

FIELDS = {"title": {"source": "cloud", "map": {"cloud": "title"}}}


def check(system: dict) -> list[tuple[str, str]]:
    try:
        load_config({"systems": {"cloud": system}, "fields": FIELDS})
    except ConfigError as exc:
        return exc.problems
    return []


def test_given_a_region_then_the_configuration_is_valid() -> None:
    assert check({"connector": "genesys_cloud", "region": "eu-west-1", "credentials": "secret:g"}) == []


@pytest.mark.parametrize(("system", "says"), [
    ({"connector": "genesys_cloud"}, "exactly one of region"),
    ({"connector": "genesys_cloud", "region": "us-east-1", "base_url": "http://127.0.0.1:9"}, "exactly one"),
    ({"connector": "genesys_cloud", "base_url": "http://genesys.example.com"}, "only on loopback"),
    ({"connector": "genesys_cloud", "region": "us-east-1", "page_size": 5000}, "page_size"),
    ({"connector": "genesys_cloud", "region": "us-east-1", "budget_store": "dynamodb"}, "budget_table"),
    ({"connector": "genesys_cloud", "region": "us-east-1", "colour": "blue"}, "colour"),
    ({"connector": "scim_client", "base_url": "http://scim.example.com/v2"}, "only on loopback"),
])
def test_given_a_wrong_setting_then_the_check_names_it(system: dict, says: str) -> None:
    problems = check(system)
    assert problems and any(says in f"{path}: {reason}" for path, reason in problems), problems


def test_regions_and_domains_map_to_api_and_login_hosts() -> None:
    assert hosts_for("us-east-1") == ("https://api.mypurecloud.com", "https://login.mypurecloud.com")
    assert hosts_for("mypurecloud.ie") == ("https://api.mypurecloud.ie", "https://login.mypurecloud.ie")
    assert hosts_for("api.euw2.pure.cloud")[1] == "https://login.euw2.pure.cloud"


def test_given_a_secret_when_built_through_the_registry_then_the_client_id_comes_from_it() -> None:
    config = load_config({"systems": {"cloud": {"connector": "genesys_cloud", "region": "us-east-1",
                                                "credentials": "secret:peoplesync/genesys"}}, "fields": FIELDS})

    class Secrets:
        def get(self, name: str) -> dict:
            assert name == "peoplesync/genesys"
            return {"client_id": "abc", "client_secret": "xyz"}

    connector = connector_class("genesys_cloud").from_system("cloud", config.systems["cloud"], ["title"], secrets=Secrets())
    assert connector.client_id == "abc" and connector.writable
    assert connector.api.http.base_url == "https://api.mypurecloud.com"
