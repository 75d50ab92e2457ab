"""Every example runs on its own, exits 0 and prints what it claims to show.

Each example checks its own claims and exits non-zero when one fails; these
tests also read its output, so a regression shows as the wrong line, not only
as a status code.
"""

from __future__ import annotations

import re

import pytest

from .conftest import EXAMPLES, REPO, RunPython

pytestmark = pytest.mark.servers

EXPECTED_OUTPUT = [
    pytest.param(
        "manual_api.py",
        [
            r"2\. set_session_context\(conv-1, alice, acme\)\s+conv-1\s+alice\s+acme\s+ok",
            r"3\. nested session_context\(user_id='bob'\)\s+conv-1\s+bob\s+acme\s+ok",
            r"6\. clear_session_context\(token\): conv-1 is back\s+conv-1\s+alice\s+acme\s+ok",
            r"8\. @session_context\(\.\.\.\) as a decorator\s+nightly-7\s+scheduler\s+-\s+ok",
            r"log WARNING: Dropped user_id from set_session_context\(\): longer than 200",
            r"10 spans, each with exactly the ids expected\.",
        ],
        id="manual_api",
    ),
    pytest.param(
        "env_fallback.py",
        [
            r"1\. no session: all three from the environment\s+nightly-2024-06-01\s+etl-bot\s+acme",
            r"2\. a plain span gets them too \(the processor\)\s+nightly-2024-06-01",
            r"3\. session sets user only: others from env\s+nightly-2024-06-01\s+alice\s+acme",
            r"4\. explicit customer_id on the invocation\s+nightly-2024-06-01\s+alice\s+globex",
            r"5\. env changed at run time: read again\s+nightly-2024-06-02",
            r"Dropped user_id from environment variable OTEL_INSTRUMENTATION_GENAI_USER_ID",
        ],
        id="env_fallback",
    ),
    pytest.param(
        "asyncio_isolation.py",
        [
            r"up to (?:[2-9]|[1-9]\d+) model calls were in flight at the same moment",
            r"200 spans; 0 carry ids of another conversation\.",
            r"The caller's session after gather: caller / ops",
        ],
        id="asyncio_isolation",
    ),
    pytest.param(
        "thread_pool.py",
        [
            r"plain ThreadPoolExecutor\s+-\s+-\s+no\s+LOST",
            r"loop\.run_in_executor\s+-\s+-\s+no\s+LOST",
            r"bind_context\(fn\) on a plain pool\s+conv-42\s+alice\s+yes\s+carried",
            r"run_in_executor helper\s+conv-42\s+alice\s+yes\s+carried",
            r"asyncio\.to_thread\s+conv-42\s+alice\s+yes\s+carried",
            r"ContextThreadPoolExecutor\.submit\s+conv-42\s+alice\s+yes\s+carried",
            r"ContextThreadPoolExecutor\.map\s+conv-42\s+alice\s+yes\s+carried",
            r"bind_context\(fn\) Thread\s+conv-42\s+alice\s+yes\s+carried",
        ],
        id="thread_pool",
    ),
    pytest.param(
        "multi_tenant_extract.py",
        [
            r"alice, authenticated, on acme\s+conv-1\s+alice\s+acme\s+ok",
            r"bob's token, claims to be alice on acme\s+conv-2\s+bob\s+globex\s+ok",
            r"no token, claims X-User-ID: admin\s+conv-3\s+-\s+acme\s+ok",
        ],
        id="multi_tenant_extract",
    ),
    pytest.param(
        "langgraph_style_workflow.py",
        [
            r"'How are sessions stored\?' -> 'They live in a ContextVar\.'  \(11 spans\)",
            r"\n  invoke_workflow support-graph\s+thread-1\s+alice\s+acme\n",
            r"\n     step research\s+thread-1\s+alice\s+acme\n",
            r"\n           execute_tool search_docs\s+thread-1\s+alice\s+acme\n",
            r"'Thanks, great work!' -> 'You are welcome!'  \(6 spans\)",
            r"\n        invoke_agent writer\s+thread-2\s+carol\s+globex\n",
        ],
        id="langgraph_style_workflow",
    ),
    pytest.param(
        "queued_jobs.py",
        [
            r"15 'chat model' spans, 15 with their own request's session and user",
            r"15 'summarise' spans, 15 with their own request's session and user",
            r"([1-9]\d*) batches made by the lifespan task, \1 without ids",
            r"\n0 spans with no ids or another request's ids\.",
        ],
        id="queued_jobs",
    ),
    pytest.param(
        "baggage_services.py",
        [
            r"baggage B received:\s+session\.id=conv-1,user\.id=ada,customer\.id=acme,region=eu",
            r"inside a nested session:\s+session\.id=conv-1-retry,user\.id=ada",
            r"B's span b\.orders carries:\s+conv-1 ada acme",
            r"A's request ids reached B's spans\.",
        ],
        id="baggage_services",
    ),
    pytest.param(
        "celery_tasks.py",
        [
            r"task sent in conv-1\s+conv-1 ada\s+ok",
            r"next task, sent outside a session\s+- -\s+ok",
            r"a retried task, second try\s+conv-2 bob\s+ok",
            r"the second task of a chain\s+conv-2 bob\s+ok",
            r"6 consumer spans \(instrumentation-celery\), 5 with ids",
        ],
        id="celery_tasks",
    ),
    pytest.param(
        "mcp_server.py",
        [
            r"initialize\s+session\.id=\(none yet\)\s+user\.id=ada",
            r"tools/call search\s+session\.id=<Mcp-Session-Id>\s+user\.id=bob",
            r"tools/call search_in_background\s+session\.id=<Mcp-Session-Id>\s+user\.id=bob",
            r"Every tool span: the MCP session and the calling user\.",
        ],
        id="mcp_server",
    ),
]


@pytest.mark.parametrize(("script", "patterns"), EXPECTED_OUTPUT)
def test_example_runs_on_its_own_and_shows_its_point(
    run_python: RunPython, script: str, patterns: list[str]
) -> None:
    result = run_python(f"examples/{script}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    for pattern in patterns:
        assert re.search(pattern, result.stdout), f"{pattern!r} not in:\n{result.stdout}"
    assert "UNEXPECTED" not in result.stdout


def test_env_fallback_uses_the_variables_the_shell_set(run_python: RunPython) -> None:
    shell = {
        "OTEL_INSTRUMENTATION_GENAI_SESSION_ID": "from-shell",
        "OTEL_INSTRUMENTATION_GENAI_USER_ID": "cron",
        "OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID": "initech",
    }

    result = run_python("examples/env_fallback.py", env=shell)

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"1\. no session: all three from the environment\s+from-shell\s+cron\s+initech",
        result.stdout,
    )
    assert re.search(
        r"3\. session sets user only: others from env\s+from-shell\s+alice\s+initech", result.stdout
    )


def test_examples_run_from_any_directory(run_python: RunPython) -> None:
    """The README says ``python examples/X.py``; from elsewhere it must work too."""
    result = run_python(str(EXAMPLES / "manual_api.py"), cwd=REPO / "examples")

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_example_is_run_by_some_test() -> None:
    """A script under examples/ that no test names would rot unseen."""
    tests = "\n".join(path.read_text() for path in (REPO / "tests").rglob("*.py"))
    names = [path.stem for path in EXAMPLES.glob("*.py")] + ["demo/demo.py"]

    unrun = [name for name in names if name not in tests]

    assert unrun == []
