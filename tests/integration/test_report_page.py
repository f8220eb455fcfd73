"""The report page as a person sees it: rendered by a real Chromium (Debian's, driven by Playwright), its drawing
read back through the DOM (every system and field of the configuration, each arrow from the right system to the
right one, in the right direction), its numbers and its search box used. Fails, never skips, when Chromium is
missing. Screenshots go to artifacts/ (gitignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.report_page import local as page_local
from peoplesync_dev import browser
from peoplesync_dev.memory import MemoryConnector

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                "cloud": {"connector": "memory", "provision": True},
                "badges": {"connector": "memory"}},
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID", "cloud": "employeeId",
                                                "badges": "emp"}},
        "email.work": {"source": "hr", "normalize": ["trim", "lower"], "map": {"hr": "Email", "ad": "mail",
                                                                              "cloud": "email"}},
        "department": {"source": "hr", "map": {"hr": {"attr": "Dept_Code", "values": {"10": "Sales"}},
                                               "ad": "department"}},
        "hire_date": {"source": "hr", "apply": "on_create", "map": {"hr": "Hire_Date", "cloud": "dateHire"}},
        "nickname": {"source": "cloud", "apply": "if_empty", "map": {"cloud": "nick", "ad": "info", "hr": "Nick"}},
        "phone.work": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                       "map": {"ad": "telephoneNumber", "cloud": "phone"}},
        "badge": {"source": "badges", "map": {"badges": "number", "ad": "badge"}},
    },
    "match": ["employee_id"],
    "lifecycle": {"source": "hr"},
    "policies": {"max_changes_per_run": 2},
}


def expected_arrows() -> set[tuple[str, str, str, bool]]:
    """(field, from, to, two-way) straight from the configuration: the drawing must show exactly these."""
    out = set()
    for name, f in CONFIG["fields"].items():
        sources = [f["source"]] if isinstance(f["source"], str) else f["source"]
        winner = f.get("winner", sources[0])
        out |= {(name, winner, s, True) for s in sources if s != winner}
        out |= {(name, winner, s, False) for s in f["map"] if s not in sources}
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two syncs: the first links and fills everyone; between them the work phone changes on both sides of a
    two-way field (ad wins), and a third person appears. The second writes the page."""
    if browser.chromium_path() is None:
        pytest.fail("Chromium is not installed: apt-get install chromium chromium-driver (.ci/run installs it)")
    plan = bootstrap.compile_config(bootstrap.load_config(CONFIG))

    def system(name: str, **options: Any) -> MemoryConnector:
        return MemoryConnector(name, bootstrap.system_attributes(plan, name), **options)

    hr = system("hr", writable=False, accounts={
        "1": {"Employee_ID": "E1", "Email": "ada@example.com", "Dept_Code": "10", "Hire_Date": "2020-01-01"},
        "2": {"Employee_ID": "E2", "Email": "alan@example.com", "Dept_Code": "10", "Hire_Date": "2021-02-02"}})
    ad = system("ad", accounts={
        "a1": {"employeeID": "E1", "mail": " Ada@Example.com", "telephoneNumber": "+1 317 555 0100"},
        "a2": {"employeeID": "E2", "mail": "alan@example.com"}})
    cloud = system("cloud", accounts={"c1": {"employeeId": "E1", "email": "ada@example.com",
                                                      "phone": "+13175550100", "nick": "Countess"}})
    badges = system("badges", accounts={"b1": {"emp": "E1", "number": "100"}})
    bridge = bootstrap.local(plan, store=bootstrap.memory_store(),
                             connectors={"hr": hr, "ad": ad, "cloud": cloud, "badges": badges})
    bridge.sync()
    ad.set("a1", telephoneNumber="+1 317 555 0111")
    cloud.set("c1", phone="+1 317 555 0122")
    hr.put("3", Employee_ID="E3", Email="grace@example.com", Dept_Code="10", Hire_Date="2022-03-03")
    path = tmp_path_factory.mktemp("report") / "report.html"
    page_local.sync_with_page(bridge, path, title="test configuration")
    return path


def test_the_drawing_shows_every_system_and_field_and_each_arrow_in_its_direction(report: Path) -> None:
    with browser.page(report.as_uri()) as tab:
        drawing = tab.evaluate("""() => {
          const svg = document.querySelector('svg.mapping');
          const systems = [...svg.querySelectorAll('g.system')].map(g => ({name: g.dataset.system,
              x: Number(g.dataset.x), width: g.getBBox().width}));
          const fields = [...svg.querySelectorAll('g.field')].map(g => g.dataset.field);
          const cells = [...svg.querySelectorAll('g.cell')].map(g => ({field: g.dataset.field,
              system: g.dataset.system, role: g.dataset.role, winner: g.dataset.winner === 'true',
              text: g.textContent, transform: !!g.querySelector('.transform')}));
          const arrows = [...svg.querySelectorAll('path.arrow')].map(p => {
              const n = p.getTotalLength(), a = p.getPointAtLength(0), b = p.getPointAtLength(n);
              return {field: p.dataset.field, from: p.dataset.from, to: p.dataset.to,
                      two: p.dataset.twoWay === 'true', x0: a.x, x1: b.x,
                      start: p.getAttribute('marker-start'), end: p.getAttribute('marker-end'),
                      visible: p.getBoundingClientRect().width > 0};
          });
          const badges = {};
          svg.querySelectorAll('g.field').forEach(g => { badges[g.dataset.field] =
              [...g.querySelectorAll(':scope > g.badge')].map(b => b.dataset.badge); });
          return {systems, fields, cells, arrows, badges, text: svg.textContent};
        }""")
        ARTIFACTS.mkdir(exist_ok=True)
        tab.locator("svg.mapping").screenshot(path=str(ARTIFACTS / "report-mapping.png"))
        tab.screenshot(path=str(ARTIFACTS / "report-page.png"), full_page=True)

    assert [s["name"] for s in drawing["systems"]] == list(CONFIG["systems"])  # one column each, in order
    xs = [s["x"] for s in drawing["systems"]]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert all(s["width"] > 0 for s in drawing["systems"])  # drawn, not just present
    assert drawing["fields"] == list(CONFIG["fields"])  # one row each
    cells = {(c["field"], c["system"]): c for c in drawing["cells"]}
    assert len(cells) == len(CONFIG["fields"]) * len(CONFIG["systems"])
    for name, f in CONFIG["fields"].items():
        sources = [f["source"]] if isinstance(f["source"], str) else f["source"]
        for system in CONFIG["systems"]:
            role = cells[(name, system)]["role"]
            if system not in f["map"]:
                assert role == "never touched" and "never touched" in cells[(name, system)]["text"]
            elif system in sources:
                assert role == "source"
            else:
                assert role == ("read-only" if system == "hr" else "target")
    assert cells[("phone.work", "ad")]["winner"] and not cells[("phone.work", "cloud")]["winner"]
    assert cells[("department", "hr")]["transform"]  # the values mapping is marked on hr's cell

    shown = {(a["field"], a["from"], a["to"], a["two"]) for a in drawing["arrows"]}
    assert shown == expected_arrows()
    x = {s["name"]: s["x"] for s in drawing["systems"]}
    for a in drawing["arrows"]:
        assert a["visible"]
        # the path starts at its source's column and ends at its target's: the arrowhead sits at the end
        assert abs(a["x0"] - x[a["from"]]) < 70 and abs(a["x1"] - x[a["to"]]) < 70, a
        assert a["end"] == "url(#head-2)" if a["two"] else a["end"] == "url(#head)"
        assert (a["start"] is not None) == a["two"]  # a two-way arrow has heads at both ends

    assert "on_create" in drawing["badges"]["hire_date"] and "if_empty" in drawing["badges"]["nickname"]
    assert "normalize: trim, lower" in drawing["badges"]["email.work"]
    assert "match #1" in drawing["badges"]["employee_id"]
    assert "lifecycle source" in drawing["text"] and "matched by employee_id" in drawing["text"]


def test_the_run_numbers_the_guard_and_a_conflict_with_its_losing_value(report: Path) -> None:
    with browser.page(report.as_uri()) as tab:
        systems = tab.evaluate("""() => Object.fromEntries([...document.querySelectorAll('table.systems tbody tr')]
            .map(r => { const c = [...r.cells].map(td => td.textContent.trim()); return [c[0], c]; }))""")
        guard = tab.locator("p.guard").inner_text()
        conflict = tab.locator("#decisions tr.conflict").all_inner_texts()
        same = tab.locator("#decisions tr.same").all_inner_texts()
    # columns: system, read, creates, updates, deactivations, activations, deletions, membership, read status
    assert systems["hr"][1] == "3" and systems["hr"][8] == "ok"
    assert systems["cloud"][2] == "1"  # E3's cloud account created (E2's was made by the first sync)
    assert int(systems["cloud"][3]) >= 1  # ad's phone goes to the cloud, the cloud's edit overwritten
    assert "max_changes_per_run = 2" in guard and "did not hold the run" in guard
    assert len(conflict) == 1 and "phone.work" in conflict[0] and "+13175550122" in conflict[0]  # cloud's lost
    assert any("email.work" in row and "no write: already equal after normalisation" in row for row in same)


def test_search_filters_the_rows(report: Path) -> None:
    with browser.page(report.as_uri()) as tab:
        rows = tab.locator("#decisions tbody tr")
        total = rows.count()
        assert total > 3
        tab.fill("#search", "E3")
        visible = [r for r in rows.all() if r.is_visible()]
        assert 0 < len(visible) < total and all("E3" in r.inner_text() for r in visible)
        assert tab.locator("#shown").inner_text() == f"{len(visible)} rows"
        tab.fill("#search", "phone.work conflict")  # every word must match
        assert [r.inner_text() for r in rows.all() if r.is_visible()] == tab.locator(
            "#decisions tr.conflict").all_inner_texts()
        tab.fill("#search", "")
        assert sum(r.is_visible() for r in rows.all()) == total


def test_the_page_fetches_nothing_and_is_the_same_for_the_same_state(report: Path) -> None:
    html = report.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "<script src" not in html and "<link" not in html
    data = __import__("json").loads(report.with_suffix(".json").read_text())
    from peoplesync.report_page import render

    assert render(data) == html  # the JSON beside the page holds everything it shows


def test_sync_and_plan_write_the_page_from_the_command_line(tmp_path: Path) -> None:
    """`sync --report` and `plan --report` as typed: the page and its JSON, with the run's numbers per system."""
    import json

    from peoplesync.cli import main

    config = tmp_path / "peoplesync.yaml"
    config.write_text("""
systems:
  hr: {connector: memory, writable: false, accounts: {"1": {id: E1, mail: ada@example.com},
                                                      "2": {id: E2, mail: alan@example.com}}}
  ad: {connector: memory, provision: true, accounts: {"a1": {employeeID: E1, mail: ADA@example.com}}}
fields:
  employee_id: {source: hr, map: {hr: id, ad: employeeID}}
  email.work: {source: hr, normalize: [trim, lower], map: {hr: mail, ad: mail}}
match: [employee_id]
""")
    assert main(["plan", str(config), "--report", str(tmp_path / "plan.html")]) == 0
    planned = json.loads((tmp_path / "plan.json").read_text())
    assert planned["run"]["kind"] == "plan"
    assert {s["name"]: s["ops"] for s in planned["run"]["systems"]} == {"hr": {}, "ad": {"create": 1}}
    assert main(["sync", str(config), "--quiet", "--report", str(tmp_path / "sync.html")]) == 0
    synced = json.loads((tmp_path / "sync.json").read_text())
    assert synced["run"]["kind"] == "sync"
    rows = {s["name"]: s for s in synced["run"]["systems"]}
    assert rows["hr"]["read"] == 2 and rows["ad"]["ops"] == {"create": 1}
    assert 'data-system="ad"' in (tmp_path / "sync.html").read_text()
    people = {p["label"]: p for p in synced["people"]}
    assert set(people) == {"E1", "E2"}
    e2 = {(f["field"], f["rule"]): f for f in people["E2"]["fields"]}
    assert e2[("email.work", "source")]["new"] == "alan@example.com" and e2[("email.work", "source")]["system"] == "hr"
    assert ("(account)", "create") in e2  # why the account in ad was made
