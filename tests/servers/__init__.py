"""Throwaway test servers on loopback (slapd, Samba AD), started and stopped by the test setup.

Importable from tests and from `bench/` scripts alike: `from tests.servers.slapd import Slapd`.
"""

from __future__ import annotations

import shutil
import socket
import time


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the usual tiny race with the server binding it is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float, host: str = "127.0.0.1", proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port, host):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before opening port {port}")
        time.sleep(0.05)
    raise TimeoutError(f"port {host}:{port} not open after {timeout:.0f}s")


def missing(*binaries: str) -> list[str]:
    """The binaries (searched on PATH and in /usr/sbin) that are not installed."""
    return [b for b in binaries if shutil.which(b) is None and shutil.which(b, path="/usr/sbin:/sbin") is None]


def which(binary: str) -> str:
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if found is None:
        raise FileNotFoundError(binary)
    return found
