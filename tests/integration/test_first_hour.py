"""The first hour of issue 15, as a newcomer meets it: `make demo` on a fresh Debian machine's own Python (no
virtualenv; the distribution refuses `pip install` outside one), and the demo's last page, the report, opened in
a real Chromium: it draws every system and field of the demo's configuration and shows the conflict the demo's
two-way field settled by its winner."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from peoplesync import bootstrap
from peoplesync_dev import browser
from peoplesync_dev.demo import run

ROOT = Path(__file__).resolve().parents[2]
DISTRO_PYTHON = Path("/usr/bin/python3")


def test_the_demo_ends_with_its_report_page_showing_the_mapping_and_the_winners_conflict(tmp_path: Path) -> None:
    if browser.chromium_path() is None:
        pytest.fail("Chromium is not installed: apt-get install chromium chromium-driver (.ci/run installs it)")
    assert run(tmp_path / "demo") == 0
    page = tmp_path / "demo" / "report.html"
    config = bootstrap.load_config(ROOT / "examples" / "demo" / "peoplesync.yaml")
    with browser.page(page.as_uri()) as tab:
        systems = tab.eval_on_selector_all("svg.mapping g.system", "gs => gs.map(g => g.dataset.system)")
        fields = tab.eval_on_selector_all("svg.mapping g.field", "gs => gs.map(g => [g.dataset.kind, g.dataset.field])")
        two_way = tab.eval_on_selector_all("svg.mapping path.arrow.two-way",
                                           "ps => ps.map(p => [p.dataset.field, p.dataset.from, p.dataset.to])")
        tab.fill("#search", "E100 phone.work conflict")
        conflicts = [r.inner_text() for r in tab.locator("#decisions tbody tr").all() if r.is_visible()]
        tab.locator("svg.mapping").screenshot(path=str(tmp_path / "demo-mapping.png"))
    groups = [["group", name] for name in (config.groups.fields if config.groups else {})]
    assert systems == list(config.systems) and fields == [["person", name] for name in config.fields] + groups
    assert groups, "the demo syncs a group's membership: its rows are drawn too"
    assert two_way == [["phone.work", "phonebook", "cloud"]]
    assert len(conflicts) == 1 and "+13175550177" in conflicts[0] and "phonebook prevails" in conflicts[0]
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "demo-mapping.png", artifacts / "demo-mapping.png")


@pytest.mark.slow
def test_make_demo_works_with_the_distributions_python_and_no_virtualenv(tmp_path: Path) -> None:
    """As the README says, on a fresh checkout: the Makefile makes .venv itself (about two minutes: it installs
    the package and its connectors from the package index)."""
    if not (DISTRO_PYTHON.exists() and list(DISTRO_PYTHON.parent.parent.glob("lib/python3*/EXTERNALLY-MANAGED"))):
        pytest.fail("this test needs Debian's own Python 3 (/usr/bin/python3, externally managed)")
    checkout = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    env = {"PATH": f"{DISTRO_PYTHON.parent}:/usr/sbin:/sbin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8"}  # no virtualenv, no pyenv: the machine's own python3 first on the PATH
    done = subprocess.run(["make", "demo"], cwd=checkout, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "externally-managed-environment" not in done.stderr
    assert (checkout / ".venv" / "bin" / "peoplesync").exists()
    assert (checkout / ".peoplesync-demo" / "report.html").is_file()
