"""The demo's conversations are sessions in a real Arize Phoenix, with the right numbers.

The README's commands, run for real: ``phoenix serve`` on 127.0.0.1, then the
demo with ``--otlp`` into it under a project of its own. Phoenix's Sessions view
(GraphQL) and its stored spans (REST) must agree with the report the demo
computed from the same spans: every session id (the server-generated one
included), its user, its number of traces, its input and output tokens; every
span with its request's three ids. Then the same run without
``SessionSpanProcessor``, and without ``GenAISessionMiddleware``: the check
must fail, and say why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._api import PhoenixAPI
from ._demo import DemoRun, run_demo, wait_for_spans
from ._demo_without import REMOVED
from ._server import PhoenixServer
from ._sessions import compare

pytestmark = pytest.mark.timeout(600)  # the first test also waits for Phoenix to start

GENERATED = re.compile(r"^gen-[0-9a-f]{8}$")  # chat_service's generate_session_id


def check_in_phoenix(api: PhoenixAPI, project: str, run: DemoRun) -> list[str]:
    """Everything wrong with the run as Phoenix shows it; empty when all agrees."""
    problems = [] if run.returncode == 0 else [f"the demo exited with {run.returncode}"]
    if run.report is None:
        return [*problems, "the demo wrote no report"]
    wait_for_spans(api, project, run.report.spans)
    return problems + compare(run.report, api.sessions(project), api.spans(project))


def session_table(api: PhoenixAPI, project: str) -> str:
    rows = [
        f"{s.session_id:<16} {s.user_id or '-':<6} {s.traces:>6} {s.prompt_tokens:>9} "
        f"{s.completion_tokens:>10}"
        for s in sorted(api.sessions(project), key=lambda s: s.session_id)
    ]
    return "\n".join(["session          user   traces  tokens in  tokens out", *rows])


def test_phoenix_shows_each_demo_conversation_as_a_session(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str, tmp_path: Path
) -> None:
    run = run_demo(phoenix.url, project, tmp_path)

    assert check_in_phoenix(api, project, run) == [], run.output
    assert run.report is not None
    generated = [s.session_id for s in run.report.sessions if s.generated]
    assert len(generated) == 1, run.report.sessions  # globex's first conversation
    (generated_id,) = generated
    assert GENERATED.match(generated_id) and generated_id in run.stdout  # the id it printed
    users = {s.session_id: s.user_id for s in api.sessions(project)}
    assert users == {
        "acme-alice-1": "alice",
        "acme-bob-1": "bob",
        "globex-carol-7": "carol",
        generated_id: "carol",
    }
    print(f"\nPhoenix {api.version()}, project {project}:\n{session_table(api, project)}")


def test_the_check_fails_without_the_span_processor(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str, tmp_path: Path
) -> None:
    """The GenAI spans still carry ids (the handler sets them), so Phoenix's
    session rows alone would pass: the server and database spans do not."""
    run = run_demo(phoenix.url, project, tmp_path, without="processor")
    assert REMOVED.format("processor") in run.stderr, run.output

    problems = check_in_phoenix(api, project, run)

    assert any(
        re.match(r"trace \w+: span 'POST /chat' has no session.id, user.id, customer.id", line)
        for line in problems
    ), problems
    assert any("span 'SELECT orders' has no session.id" in line for line in problems), problems


def test_the_check_fails_without_the_middleware(
    phoenix: PhoenixServer, api: PhoenixAPI, project: str, tmp_path: Path
) -> None:
    """No request gets a session: no session row in Phoenix, no id on any span."""
    run = run_demo(phoenix.url, project, tmp_path, without="middleware")
    assert REMOVED.format("middleware") in run.stderr, run.output

    problems = check_in_phoenix(api, project, run)

    assert problems, run.output
    assert api.sessions(project) == []
