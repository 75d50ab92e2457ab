"""examples/flask_chat.py: through its factory, and run as a script on a free port."""

from __future__ import annotations

import importlib.util
import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._support import ids_of

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "flask_chat.py"
MODEL_SPAN = "chat fake-chat-1"


@pytest.fixture(scope="module")
def flask_chat() -> ModuleType:
    """The example imported as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("flask_chat", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def client(flask_chat: ModuleType, tracer_provider: TracerProvider) -> Any:
    return flask_chat.create_app(tracer_provider).test_client()


def model_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [span for span in exporter.get_finished_spans() if span.name == MODEL_SPAN]


def test_chat_with_ids_from_header_and_body(client: Any, exporter: InMemorySpanExporter) -> None:
    response = client.post(
        "/chat", json={"message": "hello", "session_id": "conv-1"}, headers={"X-User-ID": "alice"}
    )

    assert response.status_code == 200
    assert response.get_json() == {
        "reply": "You said: hello. Tell me more!",
        "session_id": "conv-1",
        "user_id": "alice",
    }
    assert response.headers["X-Session-ID"] == "conv-1"
    [span] = model_spans(exporter)
    assert ids_of(span) == {"session.id": "conv-1", "user.id": "alice"}
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.output_tokens"] == 6


def test_first_turn_gets_a_session_the_cookie_carries_on(
    client: Any, exporter: InMemorySpanExporter
) -> None:
    first = client.post("/chat", json={"message": "hi"})
    session_id = first.get_json()["session_id"]
    second = client.post("/chat", json={"message": "again"})  # the test client keeps cookies

    assert re.fullmatch(r"[0-9a-f-]{36}", session_id)
    assert client.get_cookie("chat_session").value == session_id
    assert second.get_json()["session_id"] == session_id
    assert [ids_of(span) for span in model_spans(exporter)] == [{"session.id": session_id}] * 2


def test_streamed_reply_spans_carry_the_ids(client: Any, exporter: InMemorySpanExporter) -> None:
    client.set_cookie("chat_session", "conv-7")

    response = client.post("/chat/stream", json={"message": "stream it"}, buffered=False)
    body = response.get_data(as_text=True)
    response.close()

    assert body.split() == ["You", "said:", "stream", "it.", "Tell", "me", "more!"]
    assert response.headers["X-Session-ID"] == "conv-7"
    [span] = model_spans(exporter)
    assert ids_of(span) == {"session.id": "conv-7"}
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.output_tokens"] == 7


def test_missing_message_is_a_400(client: Any, exporter: InMemorySpanExporter) -> None:
    response = client.post("/chat", json={"session_id": "conv-1"})

    assert response.status_code == 400
    assert model_spans(exporter) == []


def read_line_matching(process: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    """The first stdout line matching ``pattern``, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        if not selector.select(timeout=left):
            continue
        line = process.stdout.readline()
        if not line:
            break  # the process exited
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in {seen!r}")


def test_runs_as_a_script_on_a_free_port() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "*"})
    process = subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLE), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        banner = read_line_matching(process, r"Serving on http://127\.0\.0\.1:\d+", timeout=30)
        base = re.search(r"http://127\.0\.0\.1:\d+", banner).group(0)  # type: ignore[union-attr]
        with httpx.Client(base_url=base, timeout=10) as http:
            response = http.post(
                "/chat", json={"message": "ping"}, headers={"X-Session-ID": "conv-42"}
            )
        span_line = read_line_matching(process, re.escape(f"span '{MODEL_SPAN}'"), timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    assert response.status_code == 200
    assert response.json()["reply"] == "You said: ping. Tell me more!"
    assert response.headers["X-Session-ID"] == "conv-42"
    assert "session.id=conv-42" in span_line
