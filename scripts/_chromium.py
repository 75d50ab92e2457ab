"""Headless Chromium for the screenshot scripts (scripts/phoenix_screenshots.py,
scripts/docs_screenshots.py): a page is saved only once it shows its text.

Chromium comes from the system (``apt-get install -y chromium``); tools that
download a browser of their own cannot run on a closed network. As root it
needs ``--no-sandbox``; the other flags keep it from reaching the network and
from waiting on a profile. Nothing in CI depends on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
RENDER_BUDGET_MS = 15000  # virtual time for a single-page app to load its data
BROWSER_TIMEOUT = 120.0  # seconds, per page


def chromium_command(user_data_dir: Path, width: int, height: int) -> list[str]:
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        raise SystemExit("no Chromium on PATH: apt-get install -y chromium")
    flags = [
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={RENDER_BUDGET_MS}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
    return [browser, *flags]


def browse(command: list[str], *args: str) -> str:
    result = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=BROWSER_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited with {result.returncode}:\n{result.stderr[-2000:]}")
    return result.stdout


@dataclass(frozen=True)
class Page:
    """A page to save, and the text it must show first."""

    url: str
    path: Path
    height: int
    shows: tuple[str, ...]
    width: int = 1600


def save(page: Page, profile: Path) -> None:
    """Render the page; save it only if it shows its text."""
    browser = chromium_command(profile, page.width, page.height)
    dom = browse(browser, "--dump-dom", page.url)
    missing = [text for text in page.shows if _html_text(text.strip()) not in dom]
    if missing:
        raise RuntimeError(f"{page.url} does not show {missing}")
    browse(browser, f"--screenshot={page.path}", page.url)
    if not page.path.exists() or page.path.stat().st_size < 10_000:
        raise RuntimeError(f"no screenshot at {page.path}")


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
