"""Transforms a real mapping needs: concatenation and splitting, code-to-name value maps, date formats, and
default values on create."""

from __future__ import annotations

import pytest

from peoplesync.config import ConfigError, load_config
from peoplesync.transform import Codec
from tests.unit.conftest import World, config


def transform_world() -> World:
    cfg = config()
    cfg["systems"]["cloud"]["provision"] = True
    cfg["fields"]["name"] = {"source": "hr", "map": {"hr": {"template": "{First_Name} {Last_Name}"},
                                                     "ad": "displayName", "cloud": "name"}}
    cfg["fields"]["department"] = {"source": "hr", "map": {
        "hr": {"attr": "Dept_Code", "values": {"FIN": "Finance", "ENG": "Engineering"}},
        "ad": "department", "cloud": "department"}}
    cfg["fields"]["hire_date"] = {"source": "hr", "apply": "on_create", "map": {
        "hr": {"attr": "Hire_Date", "date_format": "%m/%d/%Y"}, "cloud": "employerInfo.dateHire"}}
    cfg["fields"]["employee_type"] = {"source": "hr", "default": "Full-time", "apply": "on_create",
                                      "map": {"hr": "Worker_Type", "cloud": "employerInfo.employeeType"}}
    return World(cfg)


def test_given_and_family_names_are_joined_codes_become_names_and_dates_become_iso() -> None:
    w = transform_world()
    w["hr"].put("W1", Employee_ID="E1", Work_Email="ada@corp.example", First_Name="Ada", Last_Name="Lovelace",
                Dept_Code="ENG", Hire_Date="03/01/2024")
    w["ad"].put("guid-1", employeeID="E1", mail="ada@corp.example", displayName="A. Lovelace", department="?")
    w.sync()
    assert w["ad"].get("guid-1", "displayName") == "Ada Lovelace"
    assert w["ad"].get("guid-1", "department") == "Engineering"
    [key] = w["cloud"].accounts
    assert w["cloud"].get(key, "name") == "Ada Lovelace"
    assert w["cloud"].get(key, "employerInfo.dateHire") == "2024-03-01"
    assert w["cloud"].get(key, "employerInfo.employeeType") == "Full-time"  # HR had none: the default
    assert w.sync().total_writes == 0


def test_a_name_is_split_back_into_its_parts_when_written() -> None:
    codec = Codec.build(None, "{givenName} {sn}", None, None)
    assert codec.encode("Grace Brewster Hopper") == {"givenName": "Grace", "sn": "Brewster Hopper"}
    assert codec.encode("Cher") == {"givenName": "Cher", "sn": None}
    assert codec.decode({"givenName": "Grace", "sn": "Hopper"}) == "Grace Hopper"
    dated = Codec.build("hired", None, None, "%d.%m.%Y")
    assert dated.decode({"hired": "01.03.2024"}) == "2024-03-01" and dated.encode("2024-03-01") == {"hired": "01.03.2024"}
    coded = Codec.build("dept", None, {"FIN": "Finance"}, None)
    assert coded.decode({"dept": "FIN"}) == "Finance" and coded.encode("Finance") == {"dept": "FIN"}
    assert coded.decode({"dept": "XYZ"}) == "XYZ"  # an unknown code passes through unchanged


def test_written_parts_of_a_template_are_changed_in_the_system_and_read_back_as_equal() -> None:
    w = transform_world()
    w["hr"].put("W1", Employee_ID="E1", Work_Email="ada@corp.example", First_Name="Ada", Last_Name="Lovelace")
    w.sync()
    w["hr"].set("W1", Last_Name="King")
    w.sync()
    [key] = w["cloud"].accounts
    assert w["cloud"].get(key, "name") == "Ada King"
    assert w.sync().total_writes == 0


@pytest.mark.parametrize(("entry", "reason"), [
    ({"attr": "X"}, "needs values, date_format or a template"),
    ({"attr": "X", "template": "{X}"}, "exactly one of attr or template"),
    ({"template": "no braces"}, "names attributes in braces"),
])
def test_a_malformed_transform_is_refused_with_its_path(entry: dict, reason: str) -> None:
    cfg = config()
    cfg["fields"]["title"]["map"]["ad"] = entry
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert any(p.startswith("fields.title.map.ad") and reason in r for p, r in err.value.problems), err.value


def test_two_fields_may_not_write_the_same_attribute_through_a_template() -> None:
    cfg = config()
    cfg["fields"]["name"] = {"source": "ad", "map": {"ad": {"template": "{title} {mail}"}, "cloud": "name"}}
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert any("already written by field" in r for _, r in err.value.problems)
