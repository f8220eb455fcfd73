"""What every local stand-in's HTTP side shares: a threaded server on 127.0.0.1 that carries its stand-in's state
(`server.standin`), started in a background thread and stopped with `server.stop()`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    standin: Any
    thread: threading.Thread | None = None

    def wait(self) -> None:
        """Until the serving thread ends (Ctrl-C in a command that runs a stand-in)."""
        if self.thread is not None:
            self.thread.join()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


Server = TypeVar("Server", bound=StandinServer)


def serve_in_thread(server: Server, name: str) -> Server:
    """Serve `server` from a daemon thread called `name` (a quick poll interval: tests stop it often)."""
    server.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                                     daemon=True)
    server.thread.start()
    return server


class Dispatching(BaseHTTPRequestHandler):
    """A handler whose every method goes to `_dispatch(method)`."""

    def _dispatch(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
