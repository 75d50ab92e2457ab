"""Screenshots of the demo's sessions in Arize Phoenix, for the README and the docs.

    python3 tasks.py phoenix --screenshots        # creates the environments first
    .venv-official/bin/python scripts/phoenix_screenshots.py [--out docs/images]

Starts a private Phoenix (tests/phoenix/_server.py: 127.0.0.1, telemetry off,
a fresh working directory), runs the demo into it, then opens two pages in
headless Chromium and saves them as PNG: the project's Sessions page
(``phoenix-sessions.png``) and one conversation's page with its turns
(``phoenix-session.png``). Before saving, it reads the rendered page's text and
fails unless the session page shows the conversation's first message and last
reply, so a screenshot of empty turns is never written. Regenerate the
images when the demo changes.

Chromium comes from the system (``apt-get install -y chromium``); tools that
download a browser of their own cannot run on a closed network. As root it
needs ``--no-sandbox``; the other flags keep it from reaching the network and
from waiting on a profile.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.phoenix._api import PhoenixAPI, PhoenixSession  # noqa: E402
from tests.phoenix._demo import run_demo, wait_for_spans  # noqa: E402
from tests.phoenix._server import PhoenixServer, phoenix_executable  # noqa: E402

PROJECT = "otel-genai-session-demo"
SESSION = "acme-alice-1"  # three turns, two of them streamed, with tool calls
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
RENDER_BUDGET_MS = 15000  # virtual time for the single-page app to load its data
BROWSER_TIMEOUT = 120.0  # seconds, per page


def chromium_command(user_data_dir: Path, width: int, height: int) -> list[str]:
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        raise SystemExit("no Chromium on PATH: apt-get install -y chromium")
    flags = [
        "--headless",
        "--disable-gpu",
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


def shows_turns(dom: str, session: PhoenixSession) -> list[str]:
    """What the session page lacks of the conversation's text; empty when it shows it."""
    lacking = []
    texts = (("first message", session.first_input), ("last reply", session.last_output))
    for label, text in texts:
        if not text:
            lacking.append(f"Phoenix has no {label} for session {session.session_id!r}")
        elif _html_text(text.strip()) not in dom:
            lacking.append(f"the session page does not show its {label} {text.strip()!r}")
    return lacking


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def take(api: PhoenixAPI, out: Path, profile: Path) -> list[Path]:
    project_id = api.project_id(PROJECT)
    session = next((s for s in api.sessions(PROJECT) if s.session_id == SESSION), None)
    if project_id is None or session is None:
        raise RuntimeError(f"Phoenix has no session {SESSION!r} in project {PROJECT!r}")
    sessions_url = f"{api.url}/projects/{project_id}/sessions"
    session_url = f"{sessions_url}/{session.global_id}"

    wide = chromium_command(profile, 1600, 900)
    lacking = shows_turns(browse(wide, "--dump-dom", session_url), session)
    if lacking:
        raise RuntimeError("; ".join(lacking))
    shots = [(sessions_url, out / "phoenix-sessions.png", 900)]
    shots.append((session_url, out / "phoenix-session.png", 1000))
    for url, path, height in shots:
        browse(chromium_command(profile, 1600, height), f"--screenshot={path}", url)
        if not path.exists() or path.stat().st_size < 10_000:
            raise RuntimeError(f"no screenshot at {path}")
    return [path for _, path, _ in shots]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--phoenix", type=Path, default=None, help="the phoenix executable")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="phoenix-screenshots-") as scratch:
        workdir = Path(scratch)
        executable = args.phoenix or phoenix_executable()
        print(f"Starting Phoenix ({executable}) ...", flush=True)
        with PhoenixServer(executable, workdir / "phoenix") as phoenix:
            api = PhoenixAPI(phoenix.url)
            print(f"Phoenix {api.version()} on {phoenix.url}; running the demo into it ...")
            run = run_demo(phoenix.url, PROJECT, workdir)
            if run.returncode != 0 or run.report is None:
                print(run.output, file=sys.stderr)
                return 1
            wait_for_spans(api, PROJECT, run.report.spans)
            for path in take(api, args.out, workdir / "chromium-profile"):
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
