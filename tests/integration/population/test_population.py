"""A generated organisation of 2,000 people with awkward names through real servers (OpenLDAP, PostgreSQL, an
HR CSV export, the Genesys Cloud stand-in over HTTP), synced twice: after the first run every target holds its
source's values, managers included (SPEC 13 with managers created in the same run, checked in the targets), the
duplicates are held (SPEC 12), and the second run writes nothing, as each server itself reports."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ldap3 import Connection

from tests.integration.population.world import Population, generate, mismatches

N = int(os.environ.get("POPULATION_SIZE", "2000"))
_ou = itertools.count(1)


@pytest.fixture
def population(tmp_path: Path, population_slapd: Any, population_pg: Any,
               directory_admin: Connection) -> Iterator[Population]:
    ou = f"ou=population{next(_ou)},{population_slapd.people}"
    assert directory_admin.add(ou, ["top", "organizationalUnit"]), directory_admin.result
    pop = Population(generate(N), tmp_path, population_slapd, directory_admin, ou, population_pg).start()
    yield pop
    pop.stop()


def test_two_thousand_people_reach_every_target_with_their_managers_and_a_second_run_writes_nothing(
        population: Population) -> None:
    pop = population
    created_in_cloud = N - len(pop.cloud_ids)
    first = pop.bridge.sync()
    assert first.errors == [] and first.read_failures == {} and first.dead_letters == 0
    assert mismatches(pop) == {}
    # SPEC 13 at scale: most cloud accounts were created in this run, many in the same batch as their manager's
    assert created_in_cloud > 1200
    assert first.writes["cloud"] >= created_in_cloud
    # SPEC 12 with duplicates in linked systems: held for review with both accounts named, no phantom person
    assert len(list(pop.store.all_ids("person"))) == N
    held = {r["system"]: r for r in pop.store.reviews()}
    assert set(held) == {"badges", "cloud"}
    assert held["badges"]["key"] == str(N + 1) and held["badges"]["duplicate_of"] == ["badges:6"]
    twins = {pop.duplicate_cloud_id, pop.cloud_ids[4]}  # whichever was read first is linked, the other held
    assert {held["cloud"]["key"], held["cloud"]["duplicate_of"][0].removeprefix("cloud:")} == twins
    assert len(pop.cloud_users()) == N + 1  # nobody created for the duplicate
    assert next(r for r in pop.badge_rows() if r["badge_number"] == "B-DUPLICATE")["email"] == pop.people[5].email

    ldap_before = {e["dn"]: e["modifyTimestamp"] for e in pop.ldap_entries().values()}
    versions_before = {uid: u["version"] for uid, u in pop.cloud_users().items()}
    pg_before = pop.badge_updates()
    second = pop.bridge.sync()
    assert second.total_writes == 0 and second.errors == []
    assert {e["dn"]: e["modifyTimestamp"] for e in pop.ldap_entries().values()} == ldap_before
    assert {uid: u["version"] for uid, u in pop.cloud_users().items()} == versions_before
    assert pop.badge_updates() == pg_before
    assert mismatches(pop) == {}
