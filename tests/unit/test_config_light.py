"""A configuration rebuilt from its checked form without pydantic (config_light.py, what a Lambda function's cold
start runs on) plans exactly what the checked configuration plans: same fingerprints, fields, systems, policies."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from peoplesync.config import compile_config, load_config
from peoplesync.config_light import SYSTEM_KEYS, light_config
from peoplesync.config_models import SystemConfig
from tests.unit.conftest import BASE

ROOT = Path(__file__).resolve().parents[2]

RICH: dict[str, Any] = copy.deepcopy(BASE)
RICH["defaults"] = {"phone_region": "DE"}
RICH["systems"]["ad"].update({"schedule": "rate(5 minutes)", "provision": True, "reference": "dn",
                              "base_dn": "ou=people", "options": {"page_size": 500}})
RICH["fields"]["title"].update({"apply": "if_empty", "default": "Staff", "on_blank": "clear"})
RICH["fields"]["manager"]["placeholder"] = {"cloud": "vacant"}
RICH["fields"]["manager"]["ref_by"] = {"cloud": "employee_id"}
RICH["fields"]["name.display"] = {"source": "hr", "normalize": "collapse", "map": {
    "hr": {"template": "{First_Name} {Last_Name}"}, "cloud": "displayName"}}
RICH["fields"]["cost_center"] = {"source": "hr", "map": {
    "hr": {"attr": "CC", "values": {"10": "Sales", "20": "Support"}}, "cloud": "costCenter"}}
RICH["fields"]["start_date"] = {"source": "hr", "map": {"hr": {"attr": "Hire", "date_format": "%m/%d/%Y"},
                                                        "ad": "startDate"}}
RICH["policies"] = {"unmatched": "report", "ambiguous": "ignore", "removed": "delete", "max_changes_per_run": 25}
RICH["groups"] = {"source": "ad", "match": ["name"], "provision": ["cloud"], "fields": {
    "name": {"map": {"ad": "cn", "cloud": "name"}},
    "members": {"map": {"ad": "member", "cloud": "members"}, "reference": "person", "multi": True,
                "apply": "add_only"}}}

CONFIGS = {
    "unit BASE": BASE,
    "rich (transforms, groups, policies)": RICH,
    "examples/aws": ROOT / "examples" / "aws" / "peoplesync.yaml",
    "examples/demo": ROOT / "examples" / "demo" / "peoplesync.yaml",
}


def both(source: Any) -> tuple[Any, Any]:
    checked = load_config(source)
    return checked, light_config(json.loads(json.dumps(checked.model_dump(mode="json"))))


def field_view(f: Any) -> tuple[Any, ...]:
    return (f.name, f.kind, f.sources, f.winner, f.map, f.apply, f.multi, f.reference, f.ref_by, f.push,
            f.fingerprint, sorted(f.codecs), f.default, f.placeholder, f.keep_blank, f.plain,
            f.norm1("  A  b ") if f.norm1 else None)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_given_a_checked_configuration_then_its_light_form_compiles_to_the_same_plan(name):
    checked, light = both(CONFIGS[name])

    a, b = compile_config(checked), compile_config(light)

    assert b.fingerprint == a.fingerprint and b.semantic == a.semantic
    assert b.match == a.match and b.lifecycle == a.lifecycle
    assert {k: [field_view(f) for f in v.values()] for k, v in b.fields.items()} == \
        {k: [field_view(f) for f in v.values()] for k, v in a.fields.items()}
    for system, sp in a.systems.items():
        lp = b.systems[system]
        assert (lp.connector, lp.asks_write, lp.asks_provision, lp.reference, lp.push, lp.attributes,
                sorted(lp.codecs)) == (sp.connector, sp.asks_write, sp.asks_provision, sp.reference, sp.push,
                                       sp.attributes, sorted(sp.codecs))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_given_the_light_form_then_what_the_code_reads_of_a_configuration_is_the_same(name):
    checked, light = both(CONFIGS[name])

    assert light.model_dump(mode="json") == checked.model_dump(mode="json")
    assert light.policies.model_dump(mode="json") == checked.policies.model_dump(mode="json")
    assert (light.policies.removed, light.policies.unmatched, light.policies.ambiguous,
            light.policies.max_changes_per_run) == (checked.policies.removed, checked.policies.unmatched,
                                                    checked.policies.ambiguous, checked.policies.max_changes_per_run)
    assert light.defaults.phone_region == checked.defaults.phone_region
    assert (light.lifecycle and light.lifecycle.sources) == (checked.lifecycle and checked.lifecycle.sources)
    assert (light.groups is None) == (checked.groups is None)
    for system, s in checked.systems.items():
        ls = light.systems[system]
        assert (ls.connector, ls.schedule, ls.writable, ls.provision, ls.credentials, ls.reference, ls.settings) \
            == (s.connector, s.schedule, s.writable, s.provision, s.credentials, s.reference, s.settings)
        copied, light_copied = s.model_copy(update={"writable": False}), ls.model_copy(update={"writable": False})
        assert (light_copied.writable, light_copied.settings) == (copied.writable, copied.settings)
    for fname, f in checked.fields.items():
        lf = light.fields[fname]
        assert (lf.sources, lf.normalizers, lf.clears_blank) == (f.sources, f.normalizers, f.clears_blank)
        assert {k: isinstance(v, str) for k, v in lf.map.items()} == {k: isinstance(v, str) for k, v in f.map.items()}


def test_given_the_light_form_then_it_cannot_be_changed():
    _, light = both(BASE)

    with pytest.raises(TypeError, match="frozen"):
        light.policies.removed = "delete"


def test_given_the_system_model_then_the_light_form_knows_its_own_keys():
    assert set(SYSTEM_KEYS) == set(SystemConfig.model_fields)
