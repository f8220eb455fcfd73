"""A throwaway PostgreSQL cluster on 127.0.0.1 for integration tests and benchmarks.

`start_postgres()` runs initdb in a temporary directory (as the `postgres` user when we are root: initdb
refuses root), starts the server on a free loopback port with password (scram) authentication over TCP,
creates a database, and returns a `PostgresServer`; `stop()` shuts it down and removes the directory.
Durability is switched off (fsync, synchronous_commit, full_page_writes): this data is thrown away.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

SUPERUSER = "postgres"
PASSWORD = "s3cr:et@p/w%d"  # deliberately full of URL-special characters


def bin_dir() -> str | None:
    """The newest installed PostgreSQL server binaries, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    directory: str
    port: int
    database: str
    bin: str
    runas: list[str] = field(default_factory=list)
    user: str = SUPERUSER
    password: str = PASSWORD

    @property
    def url(self) -> str:
        """SQLAlchemy URL without credentials (they come from the secret)."""
        return f"postgresql+psycopg://127.0.0.1:{self.port}/{self.database}"

    @property
    def credentials(self) -> dict[str, str]:
        return {"username": self.user, "password": self.password}

    def url_with_credentials(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(username=self.user, password=self.password).render_as_string(
            hide_password=False)

    def stop(self) -> None:
        data = os.path.join(self.directory, "data")
        if os.path.isdir(data):
            subprocess.run([*self.runas, os.path.join(self.bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w",
                            "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(database: str = "sync", attempts: int = 3) -> PostgresServer:
    """Start a fresh cluster. Raises RuntimeError (with the server's log) if it cannot."""
    pg_bin = bin_dir()
    if pg_bin is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb) not found; apt-get install postgresql")
    runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    directory = tempfile.mkdtemp(prefix="peoplesync-pg-")
    if runas:
        shutil.chown(directory, "postgres", "postgres")
    data = os.path.join(directory, "data")
    pwfile = os.path.join(directory, "pw")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    if runas:
        shutil.chown(pwfile, "postgres", "postgres")
    try:
        subprocess.run([*runas, os.path.join(pg_bin, "initdb"), "-D", data, "-U", SUPERUSER, "-E", "UTF8",
                        "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync",
                        "--no-instructions"], capture_output=True, timeout=120, check=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')[-2000:]}") from None
    os.unlink(pwfile)
    log = os.path.join(directory, "pg.log")
    for _ in range(attempts):
        port = _free_port()
        opts = (f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        started = subprocess.run([*runas, os.path.join(pg_bin, "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60",
                                  "-o", opts, "start"], capture_output=True, timeout=90, check=False)
        if started.returncode == 0:
            server = PostgresServer(directory, port, database, pg_bin, runas)
            atexit.register(server.stop)  # a session that dies before its teardown leaves no server behind
            _createdb(server)
            return server
        time.sleep(0.2)  # probably lost the port to someone else: try another
    text = ""
    if os.path.exists(log):
        with open(log) as f:
            text = f.read()[-2000:]
    shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {text}")


def _createdb(server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(host=server.directory, port=server.port, user=SUPERUSER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{server.database}"')
