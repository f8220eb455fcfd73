"""The mapping engine: from what one system showed us, decide every field's agreed value, what to write
where, and why. Pure: no I/O, no clock; the only outside knowledge comes through `RecordIndex` lookups.

How a change is recognised without comparing clocks across systems: each system has a *shadow*, what we last
read from it or confirmed writing to it. A value that differs from the shadow (and from a write of ours still
in flight) was changed by that system. Each field's golden value carries a generation; a shadow remembers the
generation it last agreed to. When a source reports a change while the golden value has moved on since that
source last agreed, both sides changed concurrently: a conflict, settled by source priority (winner first).

Writes are an outbox kept in the record: `shadow.pending` (attributes), `shadow.pending_state` (deactivate,
activate, delete) and `create_pending`. `writes_for` turns them into `Write`s at delivery time, so a delivery
always sends the current decision, and a superseded one is never sent. `confirm` records a delivered write.

The package, each part small enough to read at once:
- `freshness`: is a read news (markers, digests), and which values did the system change (absorbing it);
- `precedence`: the one pure function that decides a field's value and whether a target gets it (`decide`);
- `golden`: applies those verdicts to the golden record (a source's change, a re-evaluation);
- `targets`: puts the golden value in a target's outbox; `outbox`: `writes_for` / `confirm`;
- `references`, `lifecycle`, `keys` (index keys), `norms` (per-system normalisation), `correlation`
  (which record an unlinked account belongs to), `outcome` (what one call produced);
- `core`: the `Engine` composing them.
"""

from .core import Engine
from .freshness import decode, observation_digest
from .outcome import MISSING, Outcome
from .precedence import Facts, Verdict, decide

__all__ = ["MISSING", "Engine", "Facts", "Outcome", "Verdict", "decide", "decode", "observation_digest"]
