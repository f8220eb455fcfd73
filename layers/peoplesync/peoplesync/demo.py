"""`make demo`: copy examples/demo to .peoplesync-demo/ and sync it twice, showing what changed, then that
nothing is left to do."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .cli import main

ROOT = Path(__file__).resolve().parents[3]


def run(target: Path | None = None) -> int:
    source = ROOT / "examples" / "demo"
    if not source.is_dir():
        print(f"demo files not found at {source} (run from a source checkout)", file=sys.stderr)
        return 1
    target = target or Path.cwd() / ".peoplesync-demo"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    config = str(target / "peoplesync.yaml")
    print(f"== demo copied to {target}\n== peoplesync validate {config}")
    if main(["validate", config]):
        return 1
    print("\n== what a first sync would do (peoplesync plan)")
    main(["plan", config])
    print("\n== first sync")
    if main(["sync", config, "--quiet"]):
        return 1
    print("\n== second sync: nothing changed since, so nothing is written")
    main(["sync", config, "--quiet"])
    print(f"\n== where Alan's values came from (peoplesync explain {config} E102)")
    return main(["explain", config, "E102"])


if __name__ == "__main__":
    raise SystemExit(run())
