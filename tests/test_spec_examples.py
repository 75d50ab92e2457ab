"""Every example of the session-context spec, run as written.

``chain``, ``workflow`` and ``async_chain`` are the application's own objects in
the spec; here they are small stand-ins that make GenAI spans through the
handler, so the examples' promises can be checked on the exported spans.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask, jsonify, request
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.types import (
    AgentInvocation,
    LLMInvocation,
    ToolCall,
    Workflow,
)

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "session-context.md"
SESSION_KEYS = ("session.id", "user.id", "customer.id")


class Chain:
    """Stand-in for a LangChain runnable: a workflow span around a model call."""

    def __init__(self, handler: TelemetryHandler) -> None:
        self.handler = handler

    def invoke(self, inputs: Mapping[str, Any]) -> str:
        with (
            self.handler.workflow(Workflow(name="chain")),
            self.handler.llm(LLMInvocation(request_model="gpt-4", provider="openai")) as call,
        ):
            call.input_tokens, call.output_tokens = 3, 5
            return f"echo: {inputs.get('input')}"

    async def ainvoke(self, inputs: Mapping[str, Any]) -> str:
        with self.handler.workflow(Workflow(name="async_chain")):
            await asyncio.sleep(0)
            with self.handler.llm(LLMInvocation(request_model="gpt-4", provider="openai")):
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)
            return f"echo: {inputs.get('input')}"


class Graph:
    """Stand-in for a LangGraph graph: workflow > agent > (llm, tool)."""

    def __init__(self, handler: TelemetryHandler) -> None:
        self.handler = handler

    def invoke(self, state: Mapping[str, Any]) -> dict[str, Any]:
        with (
            self.handler.workflow(Workflow(name="graph")),
            self.handler.agent(AgentInvocation(name="assistant")),
        ):
            with self.handler.llm(LLMInvocation(request_model="gpt-4o")):
                pass
            with self.handler.tool_call(ToolCall(name="search")):
                pass
        return {**state, "output": "done"}


@pytest.fixture
def chain(handler: TelemetryHandler) -> Chain:
    return Chain(handler)


@pytest.fixture
def async_chain(handler: TelemetryHandler) -> Chain:
    return Chain(handler)


@pytest.fixture
def workflow(handler: TelemetryHandler) -> Graph:
    return Graph(handler)


def ids_of(span: ReadableSpan) -> dict[str, Any]:
    attributes: Mapping[str, Any] = span.attributes or {}
    return {key: attributes[key] for key in SESSION_KEYS if key in attributes}


# -- Quick Start -------------------------------------------------------------------------


def test_quick_start_context_manager(chain: Chain, exporter: InMemorySpanExporter) -> None:
    from otel_genai_session import session_context

    # All GenAI operations within this block will include session attributes
    with session_context(session_id="conv-123", user_id="user-456"):
        result = chain.invoke({"input": "Hello"})
        # Spans will have: session.id="conv-123", user.id="user-456"

    assert result == "echo: Hello"
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} == {"invoke_workflow chain", "chat gpt-4"}
    for span in spans:
        assert ids_of(span) == {"session.id": "conv-123", "user.id": "user-456"}


def test_manual_context_management(
    chain: Chain, exporter: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_genai_session.session import (
        clear_session_context,
        get_session_context,
        set_session_context,
    )

    # Set session context
    set_session_context(
        session_id="conv-123",
        user_id="user-456",
        customer_id="tenant-789",
    )

    # ... GenAI operations ...
    chain.invoke({"input": "Hello"})

    # Get current context
    ctx = get_session_context()
    print(f"Session: {ctx.session_id}")

    # Clear when done
    clear_session_context()

    assert capsys.readouterr().out == "Session: conv-123\n"
    assert get_session_context().is_empty()
    for span in exporter.get_finished_spans():
        assert ids_of(span) == {
            "session.id": "conv-123",
            "user.id": "user-456",
            "customer.id": "tenant-789",
        }


def test_environment_variables(
    chain: Chain, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # export OTEL_INSTRUMENTATION_GENAI_SESSION_ID="static-session-id" (and the others)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_SESSION_ID", "static-session-id")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_USER_ID", "static-user-id")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CUSTOMER_ID", "static-customer-id")

    chain.invoke({"input": "Hello"})

    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert ids_of(span) == {
            "session.id": "static-session-id",
            "user.id": "static-user-id",
            "customer.id": "static-customer-id",
        }


# -- Priority Order ----------------------------------------------------------------------


def test_priority_order(
    handler: TelemetryHandler, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_genai_session.session import session_context

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_SESSION_ID", "env-session")

    # Explicit value takes priority
    inv = LLMInvocation(
        request_model="gpt-4",
        session_id="explicit-session",  # This wins
    )

    # With context set
    with session_context(session_id="context-session"):
        inv2 = LLMInvocation(request_model="gpt-4")
        # inv2.session_id will be "context-session"

    assert inv.session_id == "explicit-session"
    assert inv2.session_id == "context-session"
    assert LLMInvocation(request_model="gpt-4").session_id == "env-session"

    with session_context(session_id="context-session"), handler.llm(inv):
        pass
    assert ids_of(exporter.get_finished_spans()[0]) == {"session.id": "explicit-session"}


# -- Span Attributes ---------------------------------------------------------------------


def test_span_attribute_table(chain: Chain, exporter: InMemorySpanExporter) -> None:
    from otel_genai_session.session import session_context

    with session_context(session_id="conv-123", user_id="user-456", customer_id="tenant-789"):
        chain.invoke({"input": "x"})
    llm_span = next(s for s in exporter.get_finished_spans() if s.name == "chat gpt-4")
    attributes = llm_span.attributes or {}
    assert attributes["session.id"] == "conv-123"
    assert attributes["user.id"] == "user-456"
    assert attributes["customer.id"] == "tenant-789"


# -- Examples ----------------------------------------------------------------------------


def test_langgraph_workflow(workflow: Graph, exporter: InMemorySpanExporter) -> None:
    from uuid import uuid4

    from otel_genai_session.session import session_context

    def run_workflow(user_input: str, user_id: str):  # type: ignore[no-untyped-def]
        session_id = str(uuid4())

        with session_context(session_id=session_id, user_id=user_id):
            # All agent, LLM, and tool spans will include session attributes
            result = workflow.invoke({"input": user_input})

        return result, session_id

    result, session_id = run_workflow("plan my trip", "user-1")
    _, other_session = run_workflow("again", "user-2")

    assert result == {"input": "plan my trip", "output": "done"}
    assert UUID(session_id) and UUID(other_session) and session_id != other_session
    spans = exporter.get_finished_spans()
    assert len(spans) == 8
    kinds = {s.name for s in spans}
    assert kinds == {"invoke_workflow graph", "invoke_agent assistant", "chat gpt-4o",
                     "execute_tool search"}  # fmt: skip
    by_trace: dict[int, set[tuple[tuple[str, Any], ...]]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, set()).add(tuple(ids_of(span).items()))
    assert sorted(by_trace.values(), key=str) == sorted(
        [
            {(("session.id", session_id), ("user.id", "user-1"))},
            {(("session.id", other_session), ("user.id", "user-2"))},
        ],
        key=str,
    )


def _chat_app(chain: Chain) -> Flask:
    from otel_genai_session.session import session_context

    app = Flask(__name__)

    @app.route("/chat", methods=["POST"])
    def chat():  # type: ignore[no-untyped-def]
        tenant_id = request.headers.get("X-Tenant-ID")
        user_id = request.headers.get("X-User-ID")
        session_id = request.json.get("session_id")  # type: ignore[union-attr]

        with session_context(
            session_id=session_id,
            user_id=user_id,
            customer_id=tenant_id,
        ):
            response = chain.invoke({"input": request.json["message"]})  # type: ignore[index]

        return jsonify({"response": response})

    return app


def test_flask_multi_tenant(chain: Chain, exporter: InMemorySpanExporter) -> None:
    client = _chat_app(chain).test_client()

    reply = client.post(
        "/chat",
        json={"session_id": "conv-1", "message": "Hello"},
        headers={"X-Tenant-ID": "tenant-a", "X-User-ID": "alice"},
    )
    assert reply.status_code == 200
    assert reply.get_json() == {"response": "echo: Hello"}
    anonymous = client.post("/chat", json={"message": "Hi"})
    assert anonymous.status_code == 200

    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    first, second = spans[:2], spans[2:]
    for span in first:
        assert ids_of(span) == {
            "session.id": "conv-1",
            "user.id": "alice",
            "customer.id": "tenant-a",
        }
    for span in second:
        assert ids_of(span) == {}  # no headers, no session id: nothing is invented


def test_flask_multi_tenant_concurrent_requests(
    chain: Chain, exporter: InMemorySpanExporter
) -> None:
    app = _chat_app(chain)
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def tenant(n: int) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=10)
            for i in range(10):
                reply = client.post(
                    "/chat",
                    json={"session_id": f"conv-{n}-{i}", "message": f"m-{n}-{i}"},
                    headers={"X-Tenant-ID": f"tenant-{n}", "X-User-ID": f"user-{n}"},
                )
                assert reply.get_json() == {"response": f"echo: m-{n}-{i}"}
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=tenant, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    spans = exporter.get_finished_spans()
    assert len(spans) == 8 * 10 * 2
    by_trace: dict[int, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(ids_of(span))
    for ids in by_trace.values():
        assert len(ids) == 2 and ids[0] == ids[1]
        n, _ = ids[0]["session.id"].removeprefix("conv-").split("-")
        assert ids[0]["customer.id"] == f"tenant-{n}"
        assert ids[0]["user.id"] == f"user-{n}"


@pytest.mark.anyio
async def test_async_support(async_chain: Chain, exporter: InMemorySpanExporter) -> None:
    from otel_genai_session.session import session_context

    async def process_request(session_id: str):  # type: ignore[no-untyped-def]
        with session_context(session_id=session_id):
            # Works correctly in async context
            result = await async_chain.ainvoke({"input": "Hello"})
        return result

    # Multiple concurrent sessions are properly isolated
    results = await asyncio.gather(
        process_request("session-1"),
        process_request("session-2"),
    )

    assert results == ["echo: Hello", "echo: Hello"]
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    for span in spans:
        session = ids_of(span)["session.id"]
        same_trace = [s for s in spans if s.context.trace_id == span.context.trace_id]
        assert len(same_trace) == 2
        assert {ids_of(s)["session.id"] for s in same_trace} == {session}
    assert {ids_of(s)["session.id"] for s in spans} == {"session-1", "session-2"}


# -- API Reference -----------------------------------------------------------------------


def test_api_reference() -> None:
    from otel_genai_session.session import (
        SessionContext,
        clear_session_context,
        get_session_context,
        session_context,
        set_session_context,
    )

    with session_context("s", "u", "c") as yielded:
        assert isinstance(yielded, SessionContext)
        assert (yielded.session_id, yielded.user_id, yielded.customer_id) == ("s", "u", "c")
        assert not yielded.is_empty()
    assert get_session_context().is_empty()  # cleared on exit

    set_session_context("s2")
    assert get_session_context().session_id == "s2"
    clear_session_context()
    assert get_session_context() == SessionContext()
    assert SessionContext().is_empty()


# -- Migration ---------------------------------------------------------------------------


def test_migration(workflow: Graph, exporter: InMemorySpanExporter) -> None:
    from uuid import uuid4

    # Before:
    state: dict[str, Any] = {}
    session_id = str(uuid4())
    state["session_id"] = session_id
    # Session not propagated to telemetry
    workflow.invoke(state)
    before = exporter.get_finished_spans()
    assert len(before) == 4
    assert all(ids_of(span) == {} for span in before)
    exporter.clear()

    # After:
    from otel_genai_session.session import session_context

    session_id = str(uuid4())
    with session_context(session_id=session_id):
        # Session automatically propagated to all spans
        result = workflow.invoke(state)

    assert result["output"] == "done"
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    assert all(ids_of(span) == {"session.id": session_id} for span in spans)


# -- the spec file itself, block by block (when the spec is next to the repository) ------


def _spec_blocks() -> list[Any]:
    if not SPEC.is_file():
        return [
            pytest.param(
                "",
                id="spec-not-found",
                marks=pytest.mark.skip(
                    f"the API contract {SPEC} is not beside this checkout (it lives in the "
                    "team's shared folder); its code blocks run only where it is"
                ),
            )
        ]
    blocks = re.findall(r"```python\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.S)
    return [pytest.param(block, id=f"block-{i}") for i, block in enumerate(blocks)]


@pytest.mark.anyio
@pytest.mark.parametrize("source", _spec_blocks())
async def test_spec_block_runs_verbatim(
    source: str,
    chain: Chain,
    async_chain: Chain,
    workflow: Graph,
    exporter: InMemorySpanExporter,
) -> None:
    """Each ```python block of the spec, byte for byte, with the stand-ins in scope."""
    from uuid import uuid4

    from otel_genai_session.session import session_context

    app = Flask(__name__)
    # What the application, or an earlier block of the page, put in scope.
    namespace: dict[str, Any] = {
        "__name__": "spec_example",
        "chain": chain,
        "async_chain": async_chain,
        "workflow": workflow,
        "app": app,
        "request": request,
        "jsonify": jsonify,
        "LLMInvocation": LLMInvocation,
        "session_context": session_context,
        "uuid4": uuid4,
        "state": {},
    }
    code = compile(source, "session-context.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)
    else:
        exec(code, namespace)

    if "run_workflow" in namespace:
        _, session_id = namespace["run_workflow"]("hello", "user-1")
        assert UUID(session_id)
    if "chat" in namespace:
        reply = app.test_client().post(
            "/chat",
            json={"session_id": "conv-9", "message": "hi"},
            headers={"X-Tenant-ID": "tenant-9", "X-User-ID": "user-9"},
        )
        assert reply.get_json() == {"response": "echo: hi"}

    spans = exporter.get_finished_spans()
    runs_a_stand_in = re.search(r"\.a?invoke\(", source) is not None
    assert bool(spans) is runs_a_stand_in  # the stand-ins ran, and only they make spans
    if runs_a_stand_in and "session_context(" in source:
        assert all("session.id" in ids_of(span) for span in spans)
