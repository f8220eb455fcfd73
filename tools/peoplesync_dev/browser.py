"""A real headless browser for the report page: Debian's Chromium (`apt-get install chromium`, as `.ci/run`
does) driven by Playwright. Used by the browser tests and to redraw the README's picture of the demo's mapping:

    python -m peoplesync_dev.browser report.html docs/img/demo-mapping.png

Chromium is started as the machine's probe showed it works here: headless, no sandbox (root), no GPU, and no
background networking (the page fetches nothing; Chromium's own update and sync calls would only be refused).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def page(url: str, *, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright page showing `url` in a fresh Chromium (its own empty profile). RuntimeError when Chromium
    is not installed."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    with tempfile.TemporaryDirectory(prefix="peoplesync-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=executable, args=ARGS,
                                                        viewport={"width": width, "height": height})
        try:
            tab = context.new_page()
            tab.goto(url)
            yield tab
        finally:
            context.close()


def screenshot_mapping(html: Path, png: Path) -> None:
    """The page's drawing of the mapping, as a PNG."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with page(html.resolve().as_uri()) as tab:
        tab.locator("svg.mapping").screenshot(path=str(png))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m peoplesync_dev.browser REPORT.html OUT.png")
    screenshot_mapping(Path(sys.argv[1]), Path(sys.argv[2]))
