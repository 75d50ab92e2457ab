"""Screenshots of the demo's sessions in Arize Phoenix, for the README and the docs.

    python3 tasks.py phoenix --screenshots        # creates the environments first
    .venv-official/bin/python scripts/phoenix_screenshots.py [--out docs/images]

Starts a private Phoenix (tests/phoenix/_server.py: 127.0.0.1, telemetry off,
a fresh working directory), runs the demo into it, then opens three pages in
headless Chromium and saves them as PNG: the project's Sessions page
(``phoenix-sessions.png``), one conversation's page with its turns
(``phoenix-session.png``) and its last model call, the official instrumentation's
``chat`` span with the messages (``phoenix-model-call.png``). Before saving a
page, it reads the rendered page's text and fails unless the page shows what
it is there for (the session id; the first message and the last reply; the
model's reply), so a screenshot of empty turns is never written. Regenerate
the images when the demo changes.

Chromium comes from the system (``apt-get install -y chromium``; see
scripts/_chromium.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _chromium import Page, save  # noqa: E402
from tests.phoenix._api import PhoenixAPI  # noqa: E402
from tests.phoenix._demo import run_demo, wait_for_spans  # noqa: E402
from tests.phoenix._server import PhoenixServer, phoenix_executable  # noqa: E402

PROJECT = "otel-genai-session-demo"
SESSION = "acme-alice-1"  # three turns, two of them streamed, with tool calls
MODEL_REPLY = "llm.output_messages.0.message.content"  # Phoenix's name for the reply


def pages(api: PhoenixAPI, out: Path) -> list[Page]:
    """The Sessions page, one session's turns, and that session's last model call."""
    project_id = api.project_id(PROJECT)
    session = next((s for s in api.sessions(PROJECT) if s.session_id == SESSION), None)
    if project_id is None or session is None:
        raise RuntimeError(f"Phoenix has no session {SESSION!r} in project {PROJECT!r}")
    if not (session.first_input and session.last_output):
        raise RuntimeError(f"Phoenix has no first input or last output for {SESSION!r}")
    calls = [
        span
        for span in api.spans(PROJECT)
        if span.attributes.get("session.id") == SESSION and MODEL_REPLY in span.attributes
    ]
    if not calls:
        raise RuntimeError(f"no model call of {SESSION!r} shows its messages (content capture?)")
    call = max(calls, key=lambda span: span.start_time)
    sessions_url = f"{api.url}/projects/{project_id}/sessions"
    call_url = f"{api.url}/projects/{project_id}/traces/{call.trace_id}"
    return [
        Page(sessions_url, out / "phoenix-sessions.png", 900, (SESSION,)),
        Page(
            f"{sessions_url}/{session.global_id}",
            out / "phoenix-session.png",
            1000,
            (session.first_input, session.last_output),
        ),
        Page(
            f"{call_url}?selectedSpanNodeId={call.global_id}",
            out / "phoenix-model-call.png",
            1000,
            (str(call.attributes[MODEL_REPLY]),),
        ),
    ]


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
            for page in pages(api, args.out):
                save(page, workdir / "chromium-profile")
                print(f"wrote {page.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
