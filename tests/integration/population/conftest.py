"""Real servers for the population run: OpenLDAP (slapd) and PostgreSQL, started here, once per session. A
missing server fails the run (the population is checked in real servers or not at all)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from ldap3 import Connection, Server, Tls

from tests.servers import missing
from tests.servers import slapd as slapd_mod
from tests.servers.postgres import bin_dir, start_postgres


@pytest.fixture(scope="session")
def population_slapd() -> Iterator[Any]:
    if missing(*slapd_mod.BINARIES):
        pytest.fail(f"OpenLDAP not installed ({', '.join(missing(*slapd_mod.BINARIES))}): apt-get install slapd")
    server = slapd_mod.Slapd().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def population_pg() -> Iterator[Any]:
    if bin_dir() is None:
        pytest.fail("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def directory_admin(population_slapd: Any) -> Connection:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=population_slapd.ca_file)
    return Connection(Server("127.0.0.1", port=population_slapd.tls_port, use_ssl=True, tls=tls),
                      population_slapd.admin_dn, population_slapd.admin_password, auto_bind=True,
                      auto_referrals=False, return_empty_attributes=False)
