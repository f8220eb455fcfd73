"""Real directories for the LDAP connector's tests: one OpenLDAP slapd and one Samba AD DC per test session.

Each test works in an organizational unit of its own (`ou` fixtures), so tests share the servers but not data.
`Console` is what an administrator would do at the directory (ldap3 as the directory's admin): it sets up and
inspects entries independently of the connector under test.
"""

from __future__ import annotations

import itertools
import os
import ssl
from typing import Any

import pytest
from ldap3 import BASE, MODIFY_REPLACE, SUBTREE, Connection, Server, Tls
from ldap3.utils.dn import escape_rdn

from peoplesync.connectors import ldap as ldap_connector
from tests.servers import missing
from tests.servers import samba as samba_mod
from tests.servers import slapd as slapd_mod

_seq = itertools.count(1)


class FakeSecrets:
    """The SecretsPort, in memory; records which secrets were asked for."""

    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets
        self.asked: list[str] = []

    def get(self, name: str) -> dict[str, Any]:
        self.asked.append(name)
        return dict(self.secrets[name])


class Console:
    """An administrator at the directory: adds, changes and inspects entries (not through the connector)."""

    def __init__(self, conn: Connection, flavor: str) -> None:
        self.conn = conn
        self.flavor = flavor

    def reconnect(self) -> None:
        """After a server restart: a new connection with the same server and credentials."""
        old = self.conn
        self.conn = Connection(old.server, old.user, old.password, auto_bind=True, auto_referrals=False,
                               return_empty_attributes=False)

    def add_ou(self, parent: str, name: str) -> str:
        dn = f"ou={escape_rdn(name)},{parent}" if self.flavor != "ad" else f"OU={escape_rdn(name)},{parent}"
        assert self.conn.add(dn, ["top", "organizationalUnit"], {"ou": name}), self.conn.result
        return dn

    def add_user(self, parent: str, cn: str, *, password: str | None = None, disabled: bool = False,
                 **attrs: Any) -> str:
        dn = f"{'CN' if self.flavor == 'ad' else 'cn'}={escape_rdn(cn)},{parent}"
        values = {k: v for k, v in attrs.items() if v is not None}
        if self.flavor == "ad":
            classes = ["top", "person", "organizationalPerson", "user"]
            if password is not None:
                values["unicodePwd"] = f'"{password}"'.encode("utf-16-le")
                values["userAccountControl"] = str(0x200 | (0x2 if disabled else 0))
        else:
            classes = ["top", "person", "organizationalPerson", "inetOrgPerson"]
            values.setdefault("sn", cn)
        assert self.conn.add(dn, classes, values), self.conn.result
        return dn

    def set(self, dn: str, **attrs: Any) -> None:
        changes = {k: [(MODIFY_REPLACE, [] if v is None else v if isinstance(v, list) else [v])]
                   for k, v in attrs.items()}
        assert self.conn.modify(dn, changes), self.conn.result

    def delete(self, dn: str) -> None:
        assert self.conn.delete(dn), self.conn.result

    def get(self, dn: str, *attrs: str) -> dict[str, list[str]]:
        assert self.conn.search(dn, "(objectClass=*)", BASE, attributes=list(attrs)), self.conn.result
        raw = self.conn.response[0]["raw_attributes"]
        return {k: [v.decode("utf-8", "replace") for v in vals] for k, vals in raw.items()}

    def one(self, dn: str, attr: str) -> str | None:
        values = self.get(dn, attr).get(attr, [])
        return values[0] if values else None

    def find(self, base: str, flt: str, *attrs: str) -> list[tuple[str, dict[str, Any]]]:
        self.conn.search(base, flt, SUBTREE, attributes=list(attrs))
        return [(r["dn"], r["raw_attributes"]) for r in self.conn.response if r["type"] == "searchResEntry"]


# --- OpenLDAP ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def slapd():
    if missing(*slapd_mod.BINARIES):
        pytest.skip(f"OpenLDAP not installed ({', '.join(missing(*slapd_mod.BINARIES))}): apt-get install slapd")
    server = slapd_mod.Slapd().start()
    yield server
    server.close()


def _admin(url_host: str, port: int, ca: str, user: str, password: str, names: list[str] | None = None):
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca, valid_names=names)
    conn = Connection(Server(url_host, port=port, use_ssl=True, tls=tls), user, password, auto_bind=True,
                      auto_referrals=False, return_empty_attributes=False)
    return conn


@pytest.fixture(scope="session")
def ol_console(slapd) -> Console:
    return Console(_admin("127.0.0.1", slapd.tls_port, slapd.ca_file, slapd.admin_dn, slapd.admin_password), "ol")


@pytest.fixture
def ol_ou(ol_console, slapd, request) -> str:
    return ol_console.add_ou(slapd.people, f"t{next(_seq)}-{request.node.name[:40]}")


@pytest.fixture
def ol_secrets(slapd) -> FakeSecrets:
    return FakeSecrets({"peoplesync/ol": {"bind_dn": slapd.admin_dn, "password": slapd.admin_password}})


@pytest.fixture
def make_ol(slapd, ol_ou, ol_secrets):
    """Build an OpenLDAP connector through LdapConnector.from_system(), over LDAPS verified against the test CA."""

    def make(attributes: list[str], **settings: Any) -> ldap_connector.LdapConnector:
        system = {"connector": "ldap", "credentials": "secret:peoplesync/ol", "url": slapd.ldaps_url,
                  "flavor": "openldap", "base_dn": ol_ou, "ca_file": slapd.ca_file, **settings}
        return ldap_connector.LdapConnector.from_system("dir", system, attributes, secrets=ol_secrets)

    return make


# --- Samba AD ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def samba():
    if missing(*samba_mod.BINARIES):
        pytest.skip(f"Samba not installed ({', '.join(missing(*samba_mod.BINARIES))}): apt-get install samba "
                    f"samba-ad-provision samba-dsdb-modules samba-vfs-modules")
    if os.geteuid() != 0:
        pytest.skip("Samba AD listens on the fixed privileged ports 389/636: the test run must be root")
    server = samba_mod.SambaAD().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def ad_console(samba) -> Console:
    return Console(_admin("127.0.0.1", 636, samba.ca_file, samba.admin_dn, samba.admin_password,
                          [samba.tls_name]), "ad")


@pytest.fixture
def ad_ou(ad_console, samba, request) -> str:
    return ad_console.add_ou(samba.base_dn, f"t{next(_seq)}-{request.node.name[:40]}")


@pytest.fixture
def ad_secrets(samba) -> FakeSecrets:
    return FakeSecrets({"peoplesync/ad": {"bind_dn": samba.admin_dn, "password": samba.admin_password}})


@pytest.fixture
def ad_system(samba, ad_ou) -> dict[str, Any]:
    return {"connector": "ldap", "credentials": "secret:peoplesync/ad", "url": samba.ldaps_url,
            "flavor": "active_directory", "base_dn": ad_ou, "ca_file": samba.ca_file,
            "tls_server_name": samba.tls_name}


@pytest.fixture
def make_ad(ad_system, ad_secrets):
    def make(attributes: list[str], **settings: Any) -> ldap_connector.LdapConnector:
        return ldap_connector.LdapConnector.from_system("ad", {**ad_system, **settings}, attributes,
                                                        secrets=ad_secrets)

    return make
