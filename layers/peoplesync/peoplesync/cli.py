"""`peoplesync`: validate a configuration, run the bridge locally, see what it would do and why.

    peoplesync validate CONFIG            every problem with its path
    peoplesync schema                     JSON Schema of the configuration, for editors
    peoplesync sync CONFIG [--full] [--approve] [--json] [--quiet]
    peoplesync plan CONFIG [--full] [--approve] [--json] [--verbose]   what a sync would change, writing nothing
    peoplesync explain CONFIG PERSON [FIELD] [--cached]   where a person's values came from and why
    peoplesync dlq list|replay CONFIG     dead-lettered deliveries of the local run
    peoplesync dlq list|replay --dlq-url URL [--target-url URL]   ... of an SQS dead-letter queue (extra: aws)
    peoplesync reviews CONFIG [--json]    runs held by the change guard, accounts held for a human
    peoplesync reviews CONFIG approve ID  let one held run through at the next sync (also: reviews approve ID CONFIG)
    peoplesync serve CONFIG --port N      the SCIM webhook behind a local HTTP server (extra: scim)
    peoplesync report CONFIG [-o FILE]    the mapping drawn, what is owed, and why each value is what it is (HTML)
    peoplesync link CONFIG SYSTEM:KEY PERSON / unlink CONFIG SYSTEM:KEY   repair a wrong match
    peoplesync deploy-params CONFIG [--samconfig FILE]   the stack's schedules and targets, from the configuration

Exit codes (`sync` and `plan`; the other commands use 0 and 1):
    0  done, or in agreement: nothing left to write
    1  an error: the configuration, a file, a secret, a missing extra, a wrong argument (one line on stderr)
    2  something is held: a run by the change guard (max_changes_per_run), or an account for review
    3  a read failed or was incomplete: nothing was concluded from that system
    4  writes were dead-lettered (`peoplesync dlq list`)
When several apply, the first of 3, 4, 2 wins.

Local state lives in `.peoplesync/state.sqlite3` beside the configuration unless `--state` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import bootstrap
from .bootstrap import ConfigError
from .cli_errors import EXIT_DEAD_LETTERED, EXIT_ERROR, EXIT_OK, CliError, Parser, error_line


# --- the commands' arguments ---------------------------------------------------------------------------
def _config(p: argparse.ArgumentParser, state: bool = True) -> None:
    p.add_argument("config", help="the configuration (YAML)")
    if state:
        p.add_argument("--state", help="state database (default: .peoplesync/state.sqlite3 beside CONFIG)")


def _run_args(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("--full", action="store_true", help="read everything, not only changes")
    p.add_argument("--approve", action="store_true", help="let every change held by max_changes_per_run through")
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout, for scripts")
    p.add_argument("--report", metavar="FILE", help="also write the run's page (HTML, and its data as JSON)")


def _sync_args(p: argparse.ArgumentParser) -> None:
    _run_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _plan_args(p: argparse.ArgumentParser) -> None:
    _run_args(p)
    p.add_argument("--verbose", action="store_true", help="every decision, not only the writes")


def _explain_args(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("person", help="system:key, a match value (employee id, e-mail), or a record id")
    p.add_argument("field", nargs="?")
    p.add_argument("--cached", action="store_true", help="values as last read, without reading the systems now")


def _dlq_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("config", nargs="?", help="local run: its configuration")
    p.add_argument("--state")
    p.add_argument("--dlq-url", help="AWS: the dead-letter queue's URL")
    p.add_argument("--target-url", help="AWS replay: the queue to send the messages back to")


def _reviews_args(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("action", nargs="?", choices=sorted(REVIEW_ACTIONS), help="approve: let held runs through")
    p.add_argument("ids", nargs="*", help="the held runs' ids, as `peoplesync reviews CONFIG` lists them")
    p.add_argument("--json", action="store_true", help="the items as JSON on stdout")


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.description = bootstrap.serve.__doc__  # where the tokens come from, said once
    _config(p)
    p.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="peoplesync", description=(__doc__ or "").split("\n")[0],
                  epilog="Exit codes: 0 done or in agreement, 1 error, 2 held, 3 a read failed, 4 dead-lettered.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (text, arguments, _) in COMMANDS.items():
        arguments(sub.add_parser(name, help=text, description=text))
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 3 and argv[0] == "reviews" and argv[1] in REVIEW_ACTIONS:  # `reviews approve ID CONFIG`
        argv = ["reviews", argv[-1], *argv[1:-1]]
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a wrong argument (1, said in one line)
        return int(exc.code or 0)
    try:
        return int(COMMANDS[args.command][2](args) or 0)
    except ConfigError as exc:
        for path, reason in exc.problems:
            print(f"{getattr(args, 'config', None) or 'configuration'}: {path}: {reason}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"peoplesync {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every other error: one line, never a traceback (PEOPLESYNC_DEBUG=1 shows it)
        if os.environ.get("PEOPLESYNC_DEBUG", "").strip().lower() in ("1", "true", "yes"):
            raise
        print(f"peoplesync {args.command}: {error_line(exc)}", file=sys.stderr)
    return EXIT_ERROR


# --- the commands ---------------------------------------------------------------------------------------
def _load(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{path}: {'is a directory' if p.is_dir() else 'no such file'} (give the configuration file)")
    return p


def _validate(args: argparse.Namespace) -> int:
    plan, warnings = bootstrap.validate_file(_load(args.config))
    for path, reason in warnings:  # writes a system cannot take (planned nowhere), normalisers that do not settle
        print(f"{args.config}: warning: {path}: {reason}", file=sys.stderr)
    config = plan.config
    print(f"{args.config}: valid: {len(config.systems)} systems, {len(config.fields)} fields, "
          f"match {config.match}, fingerprint {plan.fingerprint}")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(bootstrap.json_schema(), indent=2))
    return EXIT_OK


def _bridge(args: argparse.Namespace, store: Any = None) -> Any:
    return bootstrap.local_from_file(_load(args.config), state=getattr(args, "state", None), store=store)


def _sync(args: argparse.Namespace) -> int:
    bridge = _bridge(args)

    def run(progress: Any = None) -> Any:
        if args.report:
            from .report_page import local as page

            return page.sync_with_page(bridge, args.report, title=args.config, full=args.full,
                                       approve=args.approve, progress=progress)
        return bridge.sync(full=args.full, approve=args.approve, progress=progress)

    if args.json:  # no output library needed: a script's run
        result = run()
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return int(result.exit_code)
    from . import report as out
    with out.progress(enabled=not args.quiet, rates=out.rates(bridge.plan)) as tick:
        result = run(tick)
    out.summary(result, config=args.config)
    return int(result.exit_code)


def _plan(args: argparse.Namespace) -> int:
    """A sync on a scratch copy of the state, delivering nothing: what it would write, person by person, and
    what it would hold."""
    scratch = bootstrap.memory_store()
    bridge = _bridge(args, store=scratch)
    bridge.copy_state(bootstrap.sqlite_store(bootstrap.state_path(args.config, args.state)))
    population, since = sum(1 for _ in scratch.all_ids("person")), time.time()
    result = bridge.sync(full=args.full, deliver=False, approve=args.approve)
    owed = [(rid, system, bridge.reconciler.pending(rid, system)) for rid, system in bridge.owed()]
    if args.report:
        from .report_page import local as page

        page.write(args.report, page.page_data(bridge, title=args.config, kind="plan", result=result,
                                               made=page.owed_now(bridge), since=since, population=population))
    labels = {rid: bridge.label(rid) for rid, _, _ in owed}
    code = result.exit_code
    if args.json:
        data = result.to_dict()
        data["planned"] = [{"record": rid, "person": labels[rid], "system": system, "op": w.op, "attrs": w.attrs}
                           for rid, system, writes in owed for w in writes]
        data["status"] = result.status if code or not owed else "writes planned"
        print(json.dumps(data, indent=2, default=str))
        return int(code)
    from . import report as out

    out.plan(result, owed, labels, out.Resolver(bridge.plan, bridge.store), verbose=args.verbose,
             waiting=out.references_owed(bridge.store), config=args.config, first_load=population == 0)
    return int(code)


def _explain(args: argparse.Namespace) -> int:
    from . import report as out

    bridge = _bridge(args)
    rid = bridge.find_record(args.person)
    if rid is None:
        raise CliError(f"no person found for {args.person!r} (give system:key, an employee id, an e-mail)")
    if args.field and args.field not in bridge.plan.fields.get("person", {}):
        raise CliError(f"no field {args.field!r} in {args.config} (fields: {', '.join(bridge.plan.fields['person'])})")
    info = bridge.reconciler.explain(rid, args.field)
    live = {} if args.cached else out.live_values(bridge, info["state"])
    out.explain(bridge.plan, info["state"], info["decisions"], args.field, out.Resolver(bridge.plan, bridge.store),
                live)
    return EXIT_OK


def _reviews(args: argparse.Namespace) -> int:
    bridge = _bridge(args)
    if args.action:
        return int(REVIEW_ACTIONS[args.action](bridge, args))
    from . import report as out

    items = bridge.reviews()
    if args.json:
        print(json.dumps(items, indent=2, default=str))
    else:
        out.reviews(items, out.Resolver(bridge.plan, bridge.store), config=args.config)
    return EXIT_OK


def _approve(bridge: Any, args: argparse.Namespace) -> int:
    if not args.ids:
        raise CliError("approve which held run? give its id, as `peoplesync reviews CONFIG` lists it")
    for hold_id in args.ids:
        try:
            item = bridge.approve(hold_id)
        except KeyError:
            known = ", ".join(h["id"] for h in bridge.holds()) or "none"
            raise CliError(f"no held run {hold_id!r} (held runs: {known})") from None
        print(f"approved {hold_id}: {item.get('count')} people in {item.get('system')}; "
              f"the next `peoplesync sync {args.config}` lets their changes through")
    return EXIT_OK


REVIEW_ACTIONS: dict[str, Callable[[Any, argparse.Namespace], int]] = {"approve": _approve}


def _dlq(args: argparse.Namespace) -> int:
    if args.dlq_url:
        return _dlq_sqs(args)
    if not args.config:
        raise CliError("give the local configuration, or --dlq-url for an SQS dead-letter queue")
    bridge = _bridge(args)
    if args.action == "list":
        letters = bridge.dead_letters()
        for letter in letters:
            print(f"{letter['record_id']}  {letter['system']}  {letter['reason']}")
        print(f"{len(letters)} dead-lettered deliveries")
        return EXIT_OK
    report = bridge.replay()
    print(f"replayed: {report.total_writes} writes delivered, {report.dead_letters} dead-lettered again")
    return EXIT_DEAD_LETTERED if report.dead_letters else EXIT_OK


def _dlq_sqs(args: argparse.Namespace) -> int:
    from .bootstrap import list_dead_letters, replay_dead_letters

    if args.action == "list":
        letters = list_dead_letters(args.dlq_url)
        for letter in letters:
            print(f"{letter['id']}  receives={letter.get('receive_count')}  {letter.get('reason') or '-'}  "
                  f"{letter['body'][:200]}")
        print(f"{len(letters)} messages in {args.dlq_url}")
        return EXIT_OK
    if not args.target_url:
        raise CliError("replay needs --target-url (the queue the messages came from)")
    result = replay_dead_letters(args.dlq_url, args.target_url)
    print(f"replayed {len(result)} messages to {args.target_url}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import importlib

    importlib.import_module("scim2_server")  # before anything starts: a missing extra is said at once
    return EXIT_ERROR if bootstrap.serve(_bridge(args), port=args.port) else EXIT_OK


# --- report: the page; link / unlink: repair a wrong match -------------------------------------------------
def _report_args(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("-o", "--output", default="report.html", help="the page (default: report.html)")


def _report(args: argparse.Namespace) -> int:
    from .report_page import local as page

    written = page.write(args.output, page.page_data(_bridge(args), title=args.config))
    print(f"report written to {written} (data: {written.with_suffix('.json')})")
    return EXIT_OK


def _link_args(p: argparse.ArgumentParser) -> None:
    _unlink_args(p)
    p.add_argument("person", help="system:key, a match value (employee id, e-mail), or a record id")


def _unlink_args(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("account", help="SYSTEM:KEY, the account as its system names it")


def _relink(args: argparse.Namespace) -> int:
    """`link` / `unlink`: one decision, recorded; the writes it makes owed go out with the next sync."""
    print(bootstrap.relink(_bridge(args), args.account, getattr(args, "person", None)))
    return EXIT_OK


def _deploy_params_args(p: argparse.ArgumentParser) -> None:
    _config(p, state=False)
    p.add_argument("--samconfig", metavar="FILE", help="write them into this samconfig.toml (docs/deploy.md)")


def _deploy_params(args: argparse.Namespace) -> int:
    from . import deploy_params

    return deploy_params.command(bootstrap.compile_config(bootstrap.load_config(_load(args.config))), args.config,
                                 args.samconfig)


Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
# name -> (help, its arguments, what it does). A new command is one entry here and its two functions.
COMMANDS: dict[str, Command] = {
    "validate": ("check a configuration", lambda p: _config(p, state=False), _validate),
    "schema": ("print the configuration's JSON Schema", lambda p: None, _schema),
    "sync": ("poll, reconcile and deliver once", _sync_args, _sync),
    "plan": ("show what a sync would change and hold, writing nothing", _plan_args, _plan),
    "explain": ("where a person's values came from and why", _explain_args, _explain),
    "dlq": ("dead-lettered deliveries (local run, or an SQS dead-letter queue)", _dlq_args, _dlq),
    "reviews": ("runs and accounts held for a human; approve a held run", _reviews_args, _reviews),
    "serve": ("run the SCIM webhook locally", _serve_args, _serve),
    "report": ("write the mapping drawn, what is owed, and why each value is what it is (one HTML page)",
               _report_args, _report),
    "link": ("attach an account to a person (repair a wrong match)", _link_args, _relink),
    "unlink": ("detach an account from its person (repair a wrong match)", _unlink_args, _relink),
    "deploy-params": ("the stack's schedules, targets and SCIM token secret, from the configuration, for `sam "
                      "deploy --parameter-overrides` or written into a samconfig.toml", _deploy_params_args,
                      _deploy_params),
}

if __name__ == "__main__":
    raise SystemExit(main())
