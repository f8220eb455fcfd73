"""A throwaway OpenLDAP slapd on 127.0.0.1 (plain LDAP and LDAPS on free ports), from the recipe.

Suffix dc=example,dc=org with ou=people, rootdn cn=admin,dc=example,dc=org. mdb + syncprov (so the suffix
carries contextCSN); entryCSN, entryUUID and modifyTimestamp are indexed. TLS with a throwaway CA.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import free_port, missing, wait_port, which
from .tls import make_ca_and_server

SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "secret-for-tests-only"
BINARIES = ("slapd", "slapadd", "slappasswd")

_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
suffix "{suffix}"
rootdn "{admin}"
rootpw {pw}
directory {d}/data
maxsize 1073741824
index objectClass eq
index entryCSN,entryUUID eq
index modifyTimestamp eq
index uid,mail,employeeNumber eq
overlay syncprov
syncprov-checkpoint 100 10
"""

_BASE_LDIF = f"""\
dn: {SUFFIX}
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

"""


class Slapd:
    def __init__(self, workdir: str | Path | None = None) -> None:
        if missing(*BINARIES):
            raise FileNotFoundError(f"not installed: {', '.join(missing(*BINARIES))} (apt-get install slapd)")
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="ps-slapd-")
        self.dir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.suffix, self.people, self.admin_dn, self.admin_password = SUFFIX, PEOPLE, ADMIN_DN, ADMIN_PASSWORD
        self._configure()

    # --- addresses -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        return str(self.dir / "tls" / "ca.pem")

    # --- life cycle ------------------------------------------------------------------------------------
    def _configure(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        tls = make_ca_and_server(self.dir / "tls")
        pw = subprocess.run([which("slappasswd"), "-s", ADMIN_PASSWORD], check=True, capture_output=True,
                            text=True).stdout.strip()
        (self.dir / "slapd.conf").write_text(_CONF.format(d=self.dir, ca=tls["ca"], cert=tls["cert"],
                                                          key=tls["key"], suffix=SUFFIX, admin=ADMIN_DN, pw=pw))
        self.load_offline(_BASE_LDIF)

    def load_offline(self, ldif: str | Path) -> None:
        """Bulk-load LDIF with slapadd (fast, offline): stops the server first if it runs, restarts it after."""
        was_running = self.running
        if was_running:
            self.stop()
        args = [which("slapadd"), "-q", "-f", str(self.dir / "slapd.conf"), "-b", SUFFIX]
        if isinstance(ldif, Path):
            subprocess.run([*args, "-l", str(ldif)], check=True, capture_output=True)
        else:
            subprocess.run(args, input=ldif.encode(), check=True, capture_output=True)
        if was_running:
            self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15) -> Slapd:
        urls = f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"
        log = open(self.dir / "slapd.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([which("slapd"), "-f", str(self.dir / "slapd.conf"), "-h", urls, "-d", "0"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_port(self.port, timeout, proc=self.proc)
        wait_port(self.tls_port, timeout, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        time.sleep(0.05)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
