"""Cold start of each Lambda function: its module import plus the creation of what it needs (settings, the
configuration parsed and compiled, the DynamoDB store, its SQS queues, secrets, its connector), each in a
fresh interpreter, no network.

    python bench/cold_start.py                # 15 fresh processes per case, bytecode present
    python bench/cold_start.py --runs 7 --no-cold   # quicker, without the no-bytecode comparison
    python bench/cold_start.py --baseline /path/to/older/checkout   # also measure that tree, interleaved
    python bench/cold_start.py --shape customer   # the customer's systems (SPEC): AD, Workday, PostgreSQL, Genesys

Shapes: `csv` (the default, every figure before session 7): two CSV systems and a SCIM identity provider, one
case per function. `customer`: the SPEC's shape (examples/aws/peoplesync.yaml with the SPEC's badge database):
Active Directory (ldap), Workday, PostgreSQL (sql) and Genesys Cloud, and the SCIM identity provider; poll and
sweep_snapshot are measured once per polled system and deliver once per target (a cold start builds one
system's connector), each with its credentials read from Secrets Manager (stubbed, the client's creation counted).
Building a connector opens no connection; what the first read or write imports besides (ldap3 when the LDAP
connector binds, psycopg when the SQL connector first connects to PostgreSQL, and before session 8 SQLAlchemy's
PostgreSQL dialect with it) is not in these figures unless `--first-read-imports` adds it (the connection itself is
not made).

How a case is measured: a fresh `python -c` with the function's directory as its working directory (Lambda's
task root is first on sys.path, the layer is importable) times, with `time.perf_counter()` inside the
process, `import app` and then what the handler's first invocation builds: `bootstrap.aws()` (settings
from the environment, the SSM client and the configuration, the DynamoDB client and store, the Secrets Manager
client) and the queues and connectors the function uses. The configuration read
(`GetParameter`) is answered by botocore's `Stubber` on the real SSM client, so no request leaves the machine;
attaching the stubber is not counted. The configuration's checked form (`GetItem`, adapters/config_cache.py)
is answered with what the tree's own code stores for it: a cold start's usual case, every one but the first
after the configuration changes; `--changed` also measures that first one (the text checked in full, the form
written). Interpreter start-up is not in the figure; it is reported as the
`python -c pass` baseline (whole process, wall time), next to `import boto3` timed the same way as the
functions. Cases are interleaved (one of each, N times), so a burst of load on the shared machine hits
all of them alike.

Bytecode: every case runs once first to write the .pyc files; the "bytecode present" figures are the N runs
after that. The comparison without bytecode runs (a) a temporary copy of the functions and the layer with
no __pycache__ and PYTHONDONTWRITEBYTECODE=1 (our code compiled at each start, third-party bytecode kept) and
(b) everything compiled from source (PYTHONPYCACHEPREFIX set to an empty directory: no .pyc is found for
any module, stdlib, boto3 and pydantic included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "peoplesync"
BAR_MS = 500.0

REGION = "eu-west-1"
SQS = f"https://sqs.{REGION}.amazonaws.com/123456789012"
ENV = {
    "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "peoplesync-bench",
    "PEOPLESYNC_TABLE": "peoplesync-state", "PEOPLESYNC_CONFIG_PARAMETER": "/peoplesync/config",
    "PEOPLESYNC_SECRET_PREFIX": "peoplesync/",
    "PEOPLESYNC_RECONCILE_QUEUE_URL": f"{SQS}/ps-reconcile",
    "PEOPLESYNC_RECONCILE_DLQ_URL": f"{SQS}/ps-reconcile-dlq",
    "PEOPLESYNC_DELIVER_QUEUE_URL_PREFIX": f"{SQS}/ps-deliver-",
    "PEOPLESYNC_DELIVER_DLQ_URL_PREFIX": f"{SQS}/ps-deliver-dlq-",
    "PEOPLESYNC_DELIVER_TARGETS": "phonebook",
    "PEOPLESYNC_SNAPSHOT_BUCKET": "peoplesync-snapshots",
}
# Two CSV systems (building a CSV connector opens no file) and a SCIM identity provider for the webhook.
CONFIG = """
systems:
  hr:        {connector: csv, path: /nonexistent/hr.csv, key: Employee_ID, active_column: Status}
  phonebook: {connector: csv, path: /nonexistent/phonebook.csv, key: id, writable: true, provision: true}
  idp:       {connector: scim, tokens: "secret:peoplesync/scim"}
fields:
  employee_id: {source: hr, map: {hr: Employee_ID, phonebook: employee_id, idp: externalId}}
  email.work:  {source: hr, normalize: [trim, lower], map: {hr: Work_Email, phonebook: email, idp: userName}}
  title:       {source: hr, map: {hr: Title, phonebook: title}}
  department:  {source: idp, map: {idp: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                                   phonebook: department}}
  phone.work:  {source: phonebook, normalize: e164, map: {phonebook: phone}}
match: [employee_id, email.work]
lifecycle: {source: hr}
"""

# The customer's shape (SPEC.md's configuration; examples/aws/peoplesync.yaml): Active Directory, Workday, the badge
# database on PostgreSQL, Genesys Cloud, and the identity provider pushing to the SCIM webhook.
CUSTOMER = """
systems:
  ad:     {connector: ldap, flavor: active_directory, url: ldaps://dc1.corp.example.com,
           base_dn: "OU=Staff,DC=corp,DC=example,DC=com", credentials: "secret:peoplesync/ad", writable: true}
  hr:     {connector: workday_raas, url: "https://wd5-services1.example.com/ccx/service/customreport2/acme/ISU/People_Sync?format=json",
           credentials: "secret:peoplesync/workday"}
  badges: {connector: sql, url: "postgresql+psycopg://badge-db.internal/badges", table: badge_holders,
           key: badge_holder_id, credentials: "secret:peoplesync/badges"}
  cloud:  {connector: genesys_cloud, region: mypurecloud.com, credentials: "secret:peoplesync/genesys", writable: true}
  idp:    {connector: scim, tokens: "secret:peoplesync/scim"}
fields:
  title:          {source: ad,     map: {ad: title, cloud: title, idp: title}}
  department:     {source: idp,    map: {idp: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                                         ad: department, cloud: department}}
  manager:        {source: ad,     map: {ad: manager, cloud: manager}, reference: person}
  email.work:     {source: hr,     normalize: [trim, lower],
                   map: {hr: Work_Email, ad: mail, cloud: email, idp: userName}}
  email.personal: {source: cloud,  map: {cloud: "addresses[mediaType=EMAIL,type=HOME]", ad: otherMailbox}}
  phone.work:     {source: [ad, cloud], winner: ad, normalize: e164,
                   map: {ad: telephoneNumber, cloud: "addresses[mediaType=PHONE,type=WORK]"}}
  employee_id:    {source: hr,
                   map: {hr: Employee_ID, ad: employeeID, cloud: employerInfo.employeeId, idp: externalId}}
  badge_id:       {source: badges, map: {badges: badge_number, ad: extensionAttribute5}}
  hire_date:      {source: hr,     map: {hr: Hire_Date, cloud: employerInfo.dateHire}, apply: on_create}
  location:       {source: hr,     map: {hr: Work_Location, cloud: locations}, apply: if_empty}
match: [employee_id, email.work]
policies: {unmatched: create, ambiguous: review, removed: deactivate, max_changes_per_run: 10%}
"""
CUSTOMER_POLLED = ("ad", "badges", "cloud", "hr")
# `--first-read-imports`: what a connector's first read or write imports besides what building it does (its
# library's connection: ldap3 on the bind; psycopg on the first connect, and for a tree that reads PostgreSQL through
# SQLAlchemy (main before session 8: its connector has no `_db`) SQLAlchemy's psycopg dialect too; the HTTP
# connectors import requests when built). `_c` is the connector the case built.
FIRST_READ = {"ad": "import ldap3, ssl",
              "badges": "import psycopg\nif not hasattr(_c, '_db'): import sqlalchemy.dialects.postgresql.psycopg",
              "cloud": "", "hr": ""}
CUSTOMER_TARGETS = ("ad", "cloud")
# one secret holding every connector's keys (the webhook's tokens too): the Stubber answers any name with it
CUSTOMER_SECRET = json.dumps({"tokens": ["t0k"], "bind_dn": "CN=svc-sync,DC=corp,DC=example,DC=com", "password": "pw",
                              "username": "isu", "client_id": "cid", "client_secret": "cs"})

# What each function builds on its first invocation, after `import app` (see its handler).
BUILD = {
    "poll": "rt = bootstrap.aws(); rt.queue('reconcile'); rt.connector('hr')",
    "reconcile": ("rt = bootstrap.aws(); rt.queue('reconcile'); rt.delivery('phonebook'); "
                  "rt.dlq('reconcile')"),
    "deliver": ("rt = bootstrap.aws(); rt.connector('phonebook'); rt.delivery('phonebook'); "
                "rt.queue('reconcile'); rt.dead_letter('phonebook')"),
    # the handler's first call builds the SCIM app (tokens from Secrets Manager, the DynamoDB repository), then
    # answers an IdP's usual first two requests: is she there (filter), then create her (queued for reconcile)
    "scim_webhook": ("rt = bootstrap.aws(); h = bootstrap.scim_webhook(rt)\n"
                     "_ev = lambda m, q, b: {'rawPath': '/scim/v2/Users', 'rawQueryString': q, 'body': b, "
                     "'headers': {'authorization': 'Bearer t0k', 'content-type': 'application/scim+json'}, "
                     "'requestContext': {'http': {'method': m}, 'stage': '$default', 'domainName': 'bench'}}\n"
                     "_r = [h(_ev('GET', 'filter=userName%20eq%20%22new%40example.com%22', ''), None)['statusCode'], "
                     "h(_ev('POST', '', '{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], "
                     "\"userName\": \"new@example.com\", \"active\": true, \"externalId\": \"e1\"}'), "
                     "None)['statusCode']]\n"
                     "assert _r == [200, 201], _r"),
    "sweep": "rt = bootstrap.aws(); bootstrap.snapshots(); rt.delivery('phonebook')",
    "sweep_snapshot": "rt = bootstrap.aws(); bootstrap.snapshots(); rt.connector('hr')",
}
# The same for a checkout from before the composition root (commit 9610bb5 and earlier), for --baseline.
OLD_BUILD = {name: code.replace("bootstrap.aws()", "runtime.current()") for name, code in BUILD.items()}
OLD_BUILD["scim_webhook"] = "rt = runtime.current(); app.build(rt)"
# AWS answers the first invocation needs, given by botocore's Stubber: service: [(operation, response), ...]
STUBS = {
    "ssm": [("get_parameter", {"Parameter": {"Name": "/peoplesync/config", "Type": "String", "Value": CONFIG,
                                             "Version": 1}})],
    "secretsmanager": [("get_secret_value", {"Name": "peoplesync/scim", "SecretString": '{"tokens": ["t0k"]}'})],
    "dynamodb": [("query", {"Items": [], "Count": 0, "ScannedCount": 0}), ("transact_write_items", {})],
    "sqs": [("send_message_batch", {"Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "0" * 32}],
                                    "Failed": []})],
}
# clients stubbed before the build (their creation is counted either way); default: ssm only
NEEDS = {"scim_webhook": ("ssm", "secretsmanager", "dynamodb", "sqs")}
SHAPES = ("csv", "customer")
_shape: dict[str, object] = {"name": "csv", "first_read": False}


def config_text() -> str:
    return CUSTOMER if _shape["name"] == "customer" else CONFIG


def stubs() -> dict[str, list[tuple[str, dict[str, object]]]]:
    """STUBS for the shape measured: its configuration; the customer's connectors read their credentials."""
    if _shape["name"] != "customer":
        return STUBS
    ssm = [("get_parameter", {"Parameter": {**STUBS["ssm"][0][1]["Parameter"], "Value": CUSTOMER}})]  # type: ignore[dict-item]
    secret = [("get_secret_value", {"Name": "peoplesync/any", "SecretString": CUSTOMER_SECRET})]
    return {**STUBS, "ssm": ssm, "secretsmanager": secret}


def shape_env() -> dict[str, str]:
    """The functions' environment for the shape measured: the customer's delivery queues are its targets'."""
    return {"PEOPLESYNC_DELIVER_TARGETS": ",".join(CUSTOMER_TARGETS)} if _shape["name"] == "customer" else {}


def cases_of(names: list[str]) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """case -> (function, what its first invocation builds, clients stubbed), for the shape measured."""
    if _shape["name"] != "customer":
        return {name: (name, BUILD[name], NEEDS.get(name, ("ssm",))) for name in names if name in BUILD}
    targets = "; ".join(f"rt.delivery({t!r})" for t in CUSTOMER_TARGETS)
    then = {s: f"; {FIRST_READ[s]}" if _shape["first_read"] and FIRST_READ[s] else "" for s in FIRST_READ}
    cases: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for s in CUSTOMER_POLLED:
        cases[f"poll {s}"] = ("poll", f"rt = bootstrap.aws(); rt.queue('reconcile'); "
                              f"_c = rt.connector({s!r}){then[s]}", ("ssm", "secretsmanager"))
    cases["reconcile"] = ("reconcile", f"rt = bootstrap.aws(); rt.queue('reconcile'); {targets}; rt.dlq('reconcile')",
                          ("ssm",))
    for t in CUSTOMER_TARGETS:
        cases[f"deliver {t}"] = ("deliver", f"rt = bootstrap.aws(); _c = rt.connector({t!r}); rt.delivery({t!r}); "
                                 f"rt.queue('reconcile'); rt.dead_letter({t!r}){then[t]}", ("ssm", "secretsmanager"))
    cases["scim_webhook"] = ("scim_webhook", BUILD["scim_webhook"], NEEDS["scim_webhook"])
    cases["sweep"] = ("sweep", f"rt = bootstrap.aws(); bootstrap.snapshots(); {targets}", ("ssm",))
    for s in CUSTOMER_POLLED:
        cases[f"sweep_snapshot {s}"] = ("sweep_snapshot", f"rt = bootstrap.aws(); bootstrap.snapshots(); "
                                        f"_c = rt.connector({s!r}){then[s]}", ("ssm", "secretsmanager"))
    return {case: c for case, c in cases.items() if c[0] in names}

CHILD = r"""
import time
_t0, _c0 = time.perf_counter(), time.process_time()
import app
_t1 = time.perf_counter()
from peoplesync.adapters import aws
IMPORTS
_paused = _cpaused = 0.0
for _service in SERVICES:
    _client = aws.client(_service)  # its creation is part of the cold start: counted
    _p0, _q0 = time.perf_counter(), time.process_time()
    from botocore.stub import Stubber
    _stub = Stubber(_client)
    for _operation, _response in STUBS[_service]:
        _stub.add_response(_operation, _response)
    _stub.activate()
    _paused += time.perf_counter() - _p0
    _cpaused += time.process_time() - _q0
BUILD
_t2, _c2 = time.perf_counter(), time.process_time()
import json, sys
print(json.dumps({"import": (_t1 - _t0) * 1000, "total": (_t2 - _t0 - _paused) * 1000,
                  "cpu": (_c2 - _c0 - _cpaused) * 1000, "modules": len(sys.modules),
                  "scim2": "scim2_models" in sys.modules, "pydantic": "pydantic" in sys.modules}))
"""


def checked_form(layer: Path) -> dict[str, str] | None:
    """The configuration's checked form as the state table holds it once one function has checked CONFIG
    (adapters/config_cache.py: every cold start but the first after a change reads it instead of checking the
    text again), made by that tree's own code; None for a tree without it."""
    if not (layer / "peoplesync" / "adapters" / "config_cache.py").is_file():
        return None
    code = ("import json, sys\nfrom peoplesync.adapters import config_cache\n"
            "from peoplesync.config import load_config\ntext = sys.stdin.read()\n"
            "from peoplesync.adapters.aws import checked_form\n"
            "print(json.dumps({'key': config_cache.key(text), 'data': json.dumps("
            "checked_form(load_config(text)), sort_keys=True)}))")
    out = subprocess.run([sys.executable, "-c", code], input=config_text(),
                         env={**os.environ, "PYTHONPATH": str(layer)},
                         capture_output=True, text=True, check=True)
    form: dict[str, str] = json.loads(out.stdout)
    return form


def child_code(case: tuple[str, str, tuple[str, ...]], old: bool = False, checked: dict[str, str] | None = None,
               changed: bool = False) -> str:
    """`case`: (function, what its first invocation builds, the clients stubbed; `cases_of`). `checked`: the tree
    reads the configuration's checked form from DynamoDB (GetItem answered with it, or, `changed`, with nothing:
    the configuration is then checked in full and its form written, PutItem)."""
    function, build, needs = case
    if old:  # a checkout from before the composition root
        build = (OLD_BUILD[function] if function == "scim_webhook" else
                 build.replace("bootstrap.aws()", "runtime.current()"))
    imports = "from peoplesync.service import runtime" if old else "from peoplesync import bootstrap"
    services, stubbed = needs, dict(stubs())
    if checked is not None:
        services = (*services, "dynamodb") if "dynamodb" not in services else services
        first = ([("get_item", {}), ("put_item", {})] if changed else
                 [("get_item", {"Item": {"data": {"S": checked["data"]}}})])
        stubbed["dynamodb"] = first + STUBS["dynamodb"] if "dynamodb" in needs else first
    return (CHILD.replace("SERVICES", repr(services)).replace("IMPORTS", imports)
            .replace("STUBS", repr(stubbed)).replace("BUILD", build))


BASELINE_BOTO3 = ("import time\n_t0, _c0 = time.perf_counter(), time.process_time()\nimport boto3\n"
                  "_t1, _c1 = time.perf_counter(), time.process_time()\nimport json\n"
                  "print(json.dumps({'import': (_t1 - _t0) * 1000, 'total': (_t1 - _t0) * 1000, "
                  "'cpu': (_c1 - _c0) * 1000}))\n")
BASELINE_CLIENTS = ("import time\n_t0, _c0 = time.perf_counter(), time.process_time()\nimport boto3\n"
                    "_t1 = time.perf_counter()\n"
                    "boto3.client('dynamodb'); boto3.client('sqs'); boto3.client('ssm')\n"
                    "_t2, _c2 = time.perf_counter(), time.process_time()\nimport json\n"
                    "print(json.dumps({'import': (_t1 - _t0) * 1000, 'total': (_t2 - _t0) * 1000, "
                    "'cpu': (_c2 - _c0) * 1000}))\n")


def functions() -> list[str]:
    return sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").is_file())


def missing_functions() -> list[str]:
    return sorted(p.name for p in FUNCTIONS.iterdir() if p.is_dir() and not (p / "app.py").is_file())


# `--lambda-like`: every case (the baselines too) as if awscrt and pyOpenSSL were not installed, as in Lambda's
# Python runtime (it ships boto3, botocore, urllib3, jmespath, dateutil, s3transfer, six; not awscrt:
# aws/aws-lambda-base-images#147 asks for a CRT build). botocore imports either when it finds it (~175 ms of
# `import boto3` in this virtualenv); marking them absent in sys.modules is what their absence does (ImportError).
LAMBDA_LIKE = "import sys as _sys\n_sys.modules.update(OpenSSL=None, awscrt=None)\n"
_prelude = {"code": ""}


def run(code: str, cwd: Path, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    """One fresh interpreter: the in-process figures it prints, plus its whole wall time. Bytecode is written
    and read unless `extra_env` says otherwise: a PYTHONDONTWRITEBYTECODE in the caller's environment is not
    passed on, else "bytecode present" would compile our code from source at every start (the layer ships it
    compiled: layers/peoplesync/Makefile)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env = {**inherited, **ENV, **shape_env(), "PYTHONPATH": str(LAYER), **(extra_env or {})}
    code = _prelude["code"] + code
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=120)
    wall = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise RuntimeError(f"{cwd}: child failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}
    return {**result, "wall": wall}


def stats(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "p25": q[0],
            "p75": q[2], "n": len(values)}


def fmt(s: dict[str, float]) -> str:
    return f"{s['median']:7.0f}  [{s['min']:.0f}-{s['max']:.0f}, IQR {s['p25']:.0f}-{s['p75']:.0f}]"


def importtime_top(cwd: Path, n: int = 12) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) of the largest imports under `import app` (python -X importtime)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", _prelude["code"] + "import app"], cwd=cwd,
                         env={**inherited, **ENV, "PYTHONPATH": str(LAYER)}, capture_output=True, text=True,
                         timeout=120)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        rows.append((name.strip(), int(self_us), int(cum_us)))
    rows.sort(key=lambda r: -r[2])
    return rows[:n]


def copy_tree(dest: Path) -> Path:
    """Functions and layer copied without bytecode; returns the layer root to put on PYTHONPATH."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(FUNCTIONS, dest / "functions", ignore=ignore)
    shutil.copytree(LAYER / "peoplesync", dest / "layer" / "peoplesync", ignore=ignore)
    return dest / "layer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per case (default 15)")
    parser.add_argument("--no-cold", action="store_true", help="skip the runs without bytecode")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--baseline", type=Path, help="an older checkout: its functions measured alongside")
    parser.add_argument("--changed", action="store_true",
                        help="also each function's first cold start after a configuration change (checked in full)")
    parser.add_argument("--lambda-like", action="store_true",
                        help="every case without awscrt and pyOpenSSL, which Lambda's Python runtime does not ship")
    parser.add_argument("--shape", choices=SHAPES, default="csv",
                        help="the configuration: csv (two CSV systems, the default) or customer (SPEC: AD, Workday, "
                             "PostgreSQL, Genesys Cloud; one case per polled system and per target)")
    parser.add_argument("--first-read-imports", action="store_true",
                        help="with --shape customer: also import what each connector's first read needs (ldap3; "
                             "psycopg, and SQLAlchemy's dialect on a tree that reads PostgreSQL through it), "
                             "which building it does not")
    args = parser.parse_args()
    if args.lambda_like:
        _prelude["code"] = LAMBDA_LIKE
    _shape.update(name=args.shape, first_read=args.first_read_imports)

    own = cases_of(functions())
    names = list(own)  # the cases: a function, or a function for one system (`--shape customer`)
    cases: dict[str, tuple[str, Path, dict[str, str]]] = {
        "python -c pass": ("pass", ROOT, {}),
        "import boto3": (BASELINE_BOTO3, ROOT, {}),
        "import boto3 + 3 clients": (BASELINE_CLIENTS, ROOT, {}),
    }
    checked = checked_form(LAYER)
    cases.update({f"fn {name}": (child_code(own[name], checked=checked), FUNCTIONS / own[name][0], {})
                  for name in names})
    if args.changed:
        cases.update({f"fn {name} (new config)": (child_code(own[name], checked=checked, changed=True),
                                                  FUNCTIONS / own[name][0], {}) for name in names})
    if args.baseline:
        base = args.baseline.resolve()
        pkg = base / "layers" / "peoplesync" / "peoplesync"
        old = not ((pkg / "bootstrap.py").exists() or (pkg / "bootstrap").is_dir())
        base_checked = checked_form(base / "layers" / "peoplesync")
        cases.update({f"baseline {name}": (child_code(own[name], old, base_checked), base / "functions" / own[name][0],
                                           {"PYTHONPATH": str(base / "layers" / "peoplesync")})
                      for name in names if (base / "functions" / own[name][0] / "app.py").exists()})
        if args.changed and base_checked is not None:
            cases.update({f"baseline {name} (new config)": (child_code(own[name], old, base_checked, changed=True),
                                                            base / "functions" / own[name][0],
                                                            {"PYTHONPATH": str(base / "layers" / "peoplesync")})
                          for name in names if (base / "functions" / own[name][0] / "app.py").exists()})

    for code, cwd, env in cases.values():  # write the bytecode
        run(code, cwd, env)
    samples: dict[str, dict[str, list[float]]] = {c: {"import": [], "total": [], "cpu": [], "wall": []}
                                                  for c in cases}
    pydantic: dict[str, bool] = {}  # was pydantic imported by the case (any run)
    for _ in range(args.runs):
        for case, (code, cwd, env) in cases.items():
            for k, v in run(code, cwd, env).items():
                if k in samples[case]:
                    samples[case][k].append(v)
                elif k == "pydantic":
                    pydantic[case] = pydantic.get(case, False) or bool(v)
    load = os.getloadavg()
    figures: dict[str, dict[str, dict[str, float]]] = {
        case: {k: stats(v) for k, v in s.items() if v} for case, s in samples.items()}

    if args.lambda_like:
        print("--lambda-like: awscrt and pyOpenSSL absent in every case, as in Lambda's Python runtime")
    print(f"shape {args.shape}" + (" with the first read imports" if args.first_read_imports else "") +
          f"; python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load[0]:.1f} "
          f"{load[1]:.1f} {load[2]:.1f} after the runs; {args.runs} fresh processes per case, bytecode present")
    print("ms: median [min-max, IQR p25-p75]")
    print(f"{'case':34} {'import (in-process)':>36} {'import + first call':>36} {'the same, CPU':>36} "
          f"{'process wall':>36}  pydantic")
    for case, f in figures.items():
        cols = [fmt(f[k]) if k in f and case != "python -c pass" else "" for k in ("import", "total", "cpu")]
        seen = {True: "imported", False: "no"}.get(pydantic[case], "") if case in pydantic else ""
        print(f"{case:34} {cols[0]:>36} {cols[1]:>36} {cols[2]:>36} {fmt(f['wall']):>36}  {seen}")
    boto3_ms = figures["import boto3"]["total"]["median"]
    boto3_cpu = figures["import boto3"]["cpu"]["median"]
    pass_ms = figures["python -c pass"]["wall"]["median"]
    print()
    for name in names:
        f = figures[f"fn {name}"]
        total, cpu = f["total"]["median"], f["cpu"]["median"]
        verdict = "meets" if total <= BAR_MS or total <= 1.5 * boto3_ms else "MISSES"
        print(f"{name:22} import + first call {total:6.0f} ms, {total / boto3_ms:.2f}x `import boto3` "
              f"({verdict} the bar: under {BAR_MS:.0f} ms or within 1.5x); CPU {cpu:.0f} ms, "
              f"{cpu / boto3_cpu:.2f}x boto3's CPU; process wall {f['wall']['median']:.0f} ms = "
              f"{f['wall']['median'] / pass_ms:.1f}x `python -c pass`")
    for name in names:
        if f"fn {name} (new config)" in figures:
            total = figures[f"fn {name} (new config)"]["total"]["median"]
            cpu = figures[f"fn {name} (new config)"]["cpu"]["median"]
            base_new = figures.get(f"baseline {name} (new config)", {}).get("cpu", {}).get("median")
            print(f"{name:22} first cold start after a configuration change (checked in full): {total:6.0f} ms, "
                  f"{total / boto3_ms:.2f}x `import boto3`; CPU {cpu:.0f}"
                  + (f" (baseline tree {base_new:.0f})" if base_new is not None else ""))
    for name in names:
        if f"baseline {name}" in figures:
            now, then = figures[f"fn {name}"]["total"]["median"], figures[f"baseline {name}"]["total"]["median"]
            cpu_now, cpu_then = figures[f"fn {name}"]["cpu"]["median"], figures[f"baseline {name}"]["cpu"]["median"]
            print(f"{name:22} against the baseline tree: {now:6.0f} ms vs {then:6.0f} ms = {now / then:.2f}x; "
                  f"CPU {cpu_now:.0f} vs {cpu_then:.0f} ms = {cpu_now / cpu_then:.2f}x")
    for name in missing_functions():
        print(f"{name:10} not measured: functions/{name}/app.py does not exist yet")

    cold: dict[str, dict[str, dict[str, float]]] = {}
    if not args.no_cold:
        cold_runs = max(3, args.runs // 3)
        with tempfile.TemporaryDirectory(prefix="ps-cold-") as tmp:
            layer = copy_tree(Path(tmp))
            empty = Path(tmp) / "empty-pycache"
            empty.mkdir()
            variants = {
                "our code from source": {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(layer)},
                "everything from source": {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(layer),
                                           "PYTHONPYCACHEPREFIX": str(empty)},
            }
            for variant, extra in variants.items():
                for name in names:
                    values = [run(child_code(own[name], checked=checked), Path(tmp) / "functions" / own[name][0],
                                  extra) for _ in range(cold_runs)]
                    assert not list(Path(tmp, "layer").rglob("*.pyc")), "bytecode was written"
                    cold[f"{name} / {variant}"] = {k: stats([v[k] for v in values]) for k in ("total", "wall")}
        print(f"\nwithout bytecode ({cold_runs} fresh processes each; ms: median [min-max, IQR])")
        print(f"{'function / variant':40} {'import + creation':>36} {'process wall':>36}")
        for case, f in cold.items():
            print(f"{case:40} {fmt(f['total']):>36} {fmt(f['wall']):>36}")

    print("\nlargest imports under `import app` (python -X importtime, cumulative ms):")
    for name in functions():
        top = importtime_top(FUNCTIONS / name, 8)
        print(f"  {name}: " + ", ".join(f"{mod} {cum / 1000:.0f}" for mod, _, cum in top[1:]))

    if args.json:
        Path(args.json).write_text(json.dumps({"shape": args.shape, "load": load, "runs": args.runs, "warm": figures,
                                               "pydantic": pydantic, "cold": cold}, indent=2))


if __name__ == "__main__":
    main()
