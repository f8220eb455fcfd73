"""`peoplesync serve`'s background worker: the webhook answers as soon as the IdP's write is stored and the
change is in the inbox (as the Lambda answers once the change is on the reconcile queue); this thread
reconciles what the inbox holds and delivers it to the targets in batches (one CSV rewrite for many writes).

- Durable: the inbox is in the state file; an item leaves it only after it was reconciled and the deliveries it
  owes were kept with the run's queued messages, so a stop or a crash at any point loses nothing: the next
  start handles what is left (reconciling twice is safe).
- Stopping (`stop()`): the worker finishes the step it is in (a retry's wait is cut short) and exits; what is
  still queued stays in the state for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from ..model import Observation
from . import messages
from .local import LocalBridge, RunReport

log = logging.getLogger("peoplesync")
BATCH = 500  # inbox items reconciled at once


class Inbox(Protocol):
    def put(self, message: dict[str, Any]) -> None: ...

    def take(self, limit: int) -> list[tuple[int, dict[str, Any]]]: ...

    def done(self, seqs: list[int]) -> None: ...

    def __len__(self) -> int: ...


class _Stopping(BaseException):
    """Raised in the worker's waits once `stop()` was called: unwinds the step, which keeps its queue."""


class Background:
    def __init__(self, bridge: LocalBridge, inbox: Inbox, *, idle: float = 1.0, linger: float = 0.2) -> None:
        self.bridge, self.inbox, self.idle, self.linger = bridge, inbox, idle, linger
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()  # one step at a time (the local run is not thread-safe)
        # short transactions: a chunk's would hold SQLite's write lock while a target is written, and the
        # webhook's own writes (the IdP's view, the inbox) would wait for it
        bridge.chunked = False
        bridge.sleep = self._sleep

    def submit(self, observation: Observation) -> None:
        """Called in the request: the change is durable in the inbox when this returns."""
        self.inbox.put(messages.observed([observation])[0])
        self._wake.set()

    def start(self) -> Background:
        self._thread = threading.Thread(target=self._run, name="peoplesync-deliver", daemon=True)
        self._thread.start()
        self._wake.set()  # what an earlier run left: handled at once
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until the inbox is empty, no step is running and nothing queued is due now (tests, the bench)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not len(self.inbox) and self.lock.acquire(blocking=False):
                try:
                    due = self.bridge.queues.waiting()
                    if not len(self.inbox) and (due is None or due > 0):
                        return True
                finally:
                    self.lock.release()
            time.sleep(0.01)
        return False

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopping

    def _run(self) -> None:
        rest = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.idle)
            # let changes gather, at least as long as the last step took: under a stream of requests each step
            # carries many writes (one CSV rewrite for all of them) and the worker takes at most about half
            # of the interpreter from the requests it runs beside
            if self._stop.wait(max(self.linger, rest)):
                break
            self._wake.clear()
            started = time.monotonic()
            try:
                self.step()
            except _Stopping:
                return
            except Exception:  # a store or target failure the flow did not absorb: try again later
                log.exception("background delivery failed; retrying in %.0f s", self.idle)
                self._stop.wait(self.idle)
            rest = min(self.idle * 5, time.monotonic() - started)

    def step(self) -> RunReport:
        """Reconcile everything in the inbox, then deliver what is owed."""
        with self.lock:
            while items := self.inbox.take(BATCH):
                self.bridge.reconcile_messages([m for _, m in items])  # its deliveries kept in the state
                self.inbox.done([seq for seq, _ in items])
            return self.bridge.deliver_owed()
