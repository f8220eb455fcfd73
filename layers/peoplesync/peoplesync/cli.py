"""`peoplesync`: validate a configuration, run the bridge locally, see what it would do and why.

    peoplesync validate CONFIG            every problem with its path; exit 1 if any
    peoplesync schema                     JSON Schema of the configuration, for editors
    peoplesync sync CONFIG [--full] [--approve]
    peoplesync plan CONFIG                what a sync would change, person by person, writing nothing
    peoplesync explain CONFIG PERSON [FIELD]
    peoplesync dlq list|replay CONFIG     dead-lettered deliveries of the local run
    peoplesync dlq list|replay --dlq-url URL [--target-url URL]   ... of an SQS dead-letter queue
    peoplesync reviews CONFIG             accounts and runs held for a human
    peoplesync serve CONFIG --port N      the SCIM webhook behind a local HTTP server

Local state lives in `.peoplesync/state.sqlite3` beside the configuration unless `--state` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import bootstrap
from .bootstrap import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peoplesync", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a configuration")
    p.add_argument("config")
    sub.add_parser("schema", help="print the configuration's JSON Schema")
    for name, text in (("sync", "poll, reconcile and deliver once"), ("plan", "show what a sync would change")):
        p = sub.add_parser(name, help=text)
        p.add_argument("config")
        p.add_argument("--state", help="state database (default: .peoplesync/state.sqlite3 beside CONFIG)")
        p.add_argument("--full", action="store_true", help="read everything, not only changes")
        if name == "sync":
            p.add_argument("--approve", action="store_true", help="apply a run held by max_changes_per_run")
            p.add_argument("--quiet", action="store_true", help="no progress bar")
        else:
            p.add_argument("--verbose", action="store_true", help="every decision, not only the writes")
    p = sub.add_parser("explain", help="where a person's values came from and why")
    p.add_argument("config")
    p.add_argument("person", help="record id, system:key, or a match value (employee id, e-mail)")
    p.add_argument("field", nargs="?")
    p.add_argument("--state")
    p = sub.add_parser("dlq", help="dead-lettered deliveries (local run, or an SQS dead-letter queue)")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("config", nargs="?", help="local run: its configuration")
    p.add_argument("--state")
    p.add_argument("--dlq-url", help="AWS: the dead-letter queue's URL")
    p.add_argument("--target-url", help="AWS replay: the queue to send the messages back to")
    p = sub.add_parser("reviews", help="accounts and runs held for a human")
    p.add_argument("config")
    p.add_argument("--state")
    p = sub.add_parser("serve", help="run the SCIM webhook locally")
    p.add_argument("config")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--state")
    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except ConfigError as exc:
        for path, reason in exc.problems:
            print(f"{args.config}: {path}: {reason}", file=sys.stderr)
        return 1


def _validate(args: argparse.Namespace) -> int:
    config = bootstrap.load_config(Path(args.config))
    plan = bootstrap.compile_config(config)
    print(f"{args.config}: valid: {len(config.systems)} systems, {len(config.fields)} fields, "
          f"match {config.match}, fingerprint {plan.fingerprint}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(bootstrap.json_schema(), indent=2))
    return 0


def _bridge(args: argparse.Namespace, store: Any = None) -> Any:
    return bootstrap.local_from_file(args.config, state=getattr(args, "state", None), store=store)


def _sync(args: argparse.Namespace) -> int:
    from . import report as out

    bridge = _bridge(args)
    with out.progress(enabled=not args.quiet) as tick:
        result = bridge.sync(full=args.full, approve=args.approve, progress=tick)
    out.summary(result)
    return 2 if result.held_by_guard else 0


def _plan(args: argparse.Namespace) -> int:
    """A sync on a scratch copy of the state, delivering nothing: what it would write, person by person."""
    from . import report as out

    scratch = bootstrap.memory_store()
    bridge = _bridge(args, store=scratch)
    copy_state(bootstrap.sqlite_store(bootstrap.state_path(args.config, args.state)), scratch, bridge.plan.systems)
    result = bridge.sync(full=args.full, deliver=False, approve=True)  # approval is sync's question, not plan's
    owed = bridge.owed()
    out.plan(result, [(rid, system, bridge.reconciler.pending(rid, system)) for rid, system in owed],
             _labeller(bridge), verbose=args.verbose, waiting=out.references_owed(bridge.store))
    return 0


def _labeller(bridge: Any) -> Any:
    """A person as people know them: the first match field's value (an employee id), else the record id."""
    first_rule = (bridge.plan.match.get("person") or [None])[0]

    def label(record_id: Any) -> str:
        other = bridge.store.load(record_id) if isinstance(record_id, str) else None
        value = other.golden.get(first_rule) if other is not None and first_rule else None
        return str(value) if value else str(record_id)

    return label


def copy_state(src: Any, dst: Any, systems: Any) -> None:
    """Copy records, cursors and the flow's meta, so a plan can run on a scratch copy and write nothing."""
    for kind in ("person", "group"):
        for rid in src.all_ids(kind):
            state = src.load(rid)
            state.version = 0
            dst.save(state)
    for name in ["queued", "outbox", *(f"fingerprint|{system}" for system in systems)]:
        meta = src.get_meta(name)
        if meta is not None:
            dst.put_meta(name, meta)
    for system in systems:
        dst.put_cursor(system, src.get_cursor(system))


def find_record(store: Any, plan: Any, person: str) -> str | None:
    if store.load(person) is not None:
        return person
    system, _, key = person.partition(":")
    if key and system in plan.systems:
        rid = store.by_link("person", system, key)
        if rid:
            return str(rid)
    for kind in ("person", "group"):  # a group by its link or match fields (its name) too
        if key and system in plan.systems and kind == "group" and store.by_link(kind, system, key):
            return str(store.by_link(kind, system, key))
        for rule in plan.match.get(kind, []):
            f = plan.fields[kind][rule]
            found = store.by_value(kind, rule, f.norm(person, False))
            if len(found) == 1:
                return str(next(iter(found)))
    return None


def _explain(args: argparse.Namespace) -> int:
    from . import report as out

    bridge = _bridge(args)
    rid = find_record(bridge.store, bridge.plan, args.person)
    if rid is None:
        print(f"no person found for {args.person!r}", file=sys.stderr)
        return 1
    info = bridge.reconciler.explain(rid, args.field)
    short = _labeller(bridge)
    first_rule = (bridge.plan.match.get("person") or ["id"])[0]

    def label(record_id: Any) -> str:
        shown = short(record_id)
        return repr(record_id) if shown == str(record_id) else f"{record_id} ({first_rule}={shown!r})"

    out.explain(bridge.plan, info["state"], info["decisions"], args.field, label)
    return 0


def _reviews(args: argparse.Namespace) -> int:
    items = _bridge(args).store.reviews()
    for item in items:
        print(f"{item['id']}: {item.get('reason', '')}"
              + (f" (candidates: {', '.join(item['candidates'])})" if item.get("candidates") else ""))
    print(f"{len(items)} held for review")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    if args.dlq_url:
        from .bootstrap import list_dead_letters, replay_dead_letters

        if args.action == "list":
            letters = list_dead_letters(args.dlq_url)
            for letter in letters:
                print(f"{letter['id']}  receives={letter.get('receive_count')}  {letter.get('reason') or '-'}  "
                      f"{letter['body'][:200]}")
            print(f"{len(letters)} messages in {args.dlq_url}")
            return 0
        if not args.target_url:
            print("replay needs --target-url (the queue the messages came from)", file=sys.stderr)
            return 2
        result = replay_dead_letters(args.dlq_url, args.target_url)
        print(f"replayed {len(result)} messages to {args.target_url}")
        return 0
    if not args.config:
        print("give the local configuration, or --dlq-url for an SQS dead-letter queue", file=sys.stderr)
        return 2
    bridge = _bridge(args)
    if args.action == "list":
        letters = bridge.dead_letters()
        for letter in letters:
            print(f"{letter['record_id']}  {letter['system']}  {letter['reason']}")
        print(f"{len(letters)} dead-lettered deliveries")
        return 0
    report = bridge.replay()
    print(f"replayed: {report.total_writes} writes delivered, {report.dead_letters} dead-lettered again")
    return 1 if report.dead_letters else 0


def _serve(args: argparse.Namespace) -> int:
    return bootstrap.serve(_bridge(args), port=args.port)


COMMANDS = {"validate": _validate, "schema": _schema, "sync": _sync, "plan": _plan, "explain": _explain,
            "dlq": _dlq, "reviews": _reviews, "serve": _serve}

if __name__ == "__main__":
    raise SystemExit(main())
