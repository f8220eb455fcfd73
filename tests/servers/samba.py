"""A throwaway Samba AD domain controller on 127.0.0.1 (LDAP 389 / LDAPS 636), from the recipe.

Samba's LDAP ports are fixed, so only one can run per machine: `SambaAD` takes an exclusive file lock for its
life, and a second test run on the same machine waits for the first (bounded) instead of colliding.
Realm EXAMPLE.TEST, base DC=example,DC=test, Administrator / ADMIN_PASSWORD. Samba generates a self-signed
CA under private/tls/ca.pem; its server certificate names DC1.example.test (no IP), so clients connecting to
127.0.0.1 verify against that name.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import missing, port_open, wait_port, which

REALM, DOMAIN = "EXAMPLE.TEST", "EXAMPLE"
BASE_DN = "DC=example,DC=test"
USERS = f"CN=Users,{BASE_DN}"
ADMIN_DN = f"CN=Administrator,{USERS}"
ADMIN_PASSWORD = "Passw0rd!Example-tests"  # throwaway domain on loopback
TLS_NAME = "DC1.example.test"
LOCK_FILE = "/tmp/peoplesync-samba-ad.lock"
BINARIES = ("samba", "samba-tool")


class SambaAD:
    def __init__(self, workdir: str | Path | None = None, *, lock_timeout: float = 420) -> None:
        if missing(*BINARIES):
            raise FileNotFoundError(f"not installed: {', '.join(missing(*BINARIES))} (apt-get install samba)")
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="ps-samba-")
        self.dir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.lock_timeout = lock_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None
        self.base_dn, self.users, self.admin_dn, self.admin_password = BASE_DN, USERS, ADMIN_DN, ADMIN_PASSWORD
        self.tls_name = TLS_NAME
        self.provision_seconds = 0.0

    url = "ldap://127.0.0.1:389"
    ldaps_url = "ldaps://127.0.0.1:636"

    @property
    def ca_file(self) -> str:
        return str(self.dir / "private" / "tls" / "ca.pem")

    def _take_lock(self) -> None:
        fd = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o666)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(f"another Samba AD test server held {LOCK_FILE} for {self.lock_timeout:.0f}s")
                time.sleep(0.5)
        self._lock = fd
        # a Samba nobody locked (a crashed run) would make ours fail to bind: say so plainly
        deadline = time.monotonic() + 30
        while port_open(636) or port_open(389):
            if time.monotonic() > deadline:
                raise RuntimeError("127.0.0.1:389/636 is taken by a process that is not a peoplesync test Samba")
            time.sleep(0.5)

    def _provision(self) -> None:
        t0 = time.monotonic()
        d = self.dir
        args = [which("samba-tool"), "domain", "provision", f"--targetdir={d}", f"--realm={REALM}",
                f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE", f"--adminpass={ADMIN_PASSWORD}",
                "--host-name=dc1", "--option=interfaces=127.0.0.1", "--option=bind interfaces only=yes"]
        done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:  # e.g. samba-ad-provision / samba-dsdb-modules / samba-vfs-modules missing
            raise RuntimeError("samba-tool domain provision failed:\n" + done.stdout[-3000:])
        conf = d / "etc" / "smb.conf"
        lines = []
        for line in conf.read_text().splitlines():
            if line.strip().startswith("server services"):
                line = "\tserver services = ldap"
            lines.append(line)
            if line.strip() == "[global]":
                lines += [f"\tpid directory = {d}/run", f"\tncalrpc dir = {d}/run/ncalrpc",
                          f"\twinbindd socket directory = {d}/run/winbindd", f"\tlog file = {d}/log.%m",
                          "\tldap server require strong auth = no"]
        conf.write_text("\n".join(lines) + "\n")
        (d / "run").mkdir(exist_ok=True)
        self.provision_seconds = time.monotonic() - t0

    def load_offline(self, ldif_path: str | Path) -> None:
        """Bulk-add LDIF straight into sam.ldb in one transaction, with the server stopped (for benchmarks:
        adding over LDAP runs one transaction per entry). Uses the system Python's samba bindings."""
        if self.proc is not None:
            raise RuntimeError("stop the server before loading offline")
        if not (self.dir / "private" / "sam.ldb").exists():
            self._provision()
        script = (
            "import sys\n"
            "from samba.auth import system_session\n"
            "from samba.param import LoadParm\n"
            "from samba.samdb import SamDB\n"
            "lp = LoadParm(); lp.load(sys.argv[1])\n"
            "db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)\n"
            "db.transaction_start()\n"
            "for _, msg in db.parse_ldif(open(sys.argv[3]).read()):\n"
            "    db.add(msg)\n"
            "db.transaction_commit()\n")
        subprocess.run(["/usr/bin/python3", "-c", script, str(self.dir / "etc" / "smb.conf"),
                        str(self.dir / "private" / "sam.ldb"), str(ldif_path)], check=True)

    def start(self, timeout: float = 60) -> SambaAD:
        self._take_lock()
        try:
            if not (self.dir / "private" / "sam.ldb").exists():
                self._provision()
            log = open(self.dir / "samba.log", "ab")  # noqa: SIM115 - handed to the child
            self.proc = subprocess.Popen([which("samba"), "-s", str(self.dir / "etc" / "smb.conf"), "-i",
                                          "-M", "single"], stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            log.close()
            wait_port(636, timeout, proc=self.proc)
            wait_port(389, timeout, proc=self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> SambaAD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
