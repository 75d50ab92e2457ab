"""Every Python code block of the README and of the pages that hold its former
sections runs, and does what the text around it says.

Each ```python block is run in a subprocess (several set the global tracer
provider, which can be set once per process). The documents carry no markers:
this test decides from a block's content what it needs. A block that runs on its
own needs nothing. A block that needs names defined elsewhere, or whose effect
must be checked, is recognised by a line of its own (``RULES``, each naming the
text it looks for and why), which picks a ``prelude`` and a ``check``:

``prelude`` is code run before the block: the set-up the text says the block
assumes ("with the tracer provider set up as above", an existing ``app``, a
``call_model`` of yours). ``check`` is code run after the block that exercises
what it built (sends a request to the app it defined, reads the spans) and must
print ``README CHECK OK``. ``env="official"`` marks a block that needs the
official GenAI stack (the instrumentation, ``openai``):
tests/official/test_readme_official.py runs it in that environment, with its own
checks; this module leaves it out. Every rule must match exactly one block, so a
rule cannot outlive the block it was written for.

Other tests here hold the README to its contract: at most 250 lines, the install
line and the first Python block near the top, the two project commands, every
relative link (and anchor) pointing at something that exists, every former README
section one click away, every file of examples/ in the examples table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO, RunPython

README = REPO / "README.md"
DOCS = REPO / "docs"
# Pages whose every block came from the README (or is in the same contract).
WHOLE_PAGES = [
    README,
    DOCS / "getting-started.md",
    DOCS / "configuration.md",
    DOCS / "sources-and-precedence.md",
    DOCS / "security.md",
    DOCS / "troubleshooting.md",
]
# Pages that hold a former README section under a heading ending "in short" (the
# rest of these pages has fragments written for reading, not running).
IN_SHORT_PAGES = [
    DOCS / "beyond-one-process.md",
    DOCS / "sampling.md",
    DOCS / "langchain.md",
    DOCS / "performance.md",
    DOCS / "compatibility.md",
]
OK = "README CHECK OK"

_CONSOLE_TRACING = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from otel_genai_session.processor import SessionSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)
"""

_MEMORY_TELEMETRY = """
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_genai_session.processor import SessionSpanProcessor


class _RecordAtStart(SpanProcessor):
    # What samplers and on_start processors see: the attributes at span start.
    def __init__(self):
        self.seen = {}

    def on_start(self, span, parent_context=None):
        self.seen[span.name] = dict(span.attributes or {})


_exporter, _at_start, _reader = InMemorySpanExporter(), _RecordAtStart(), InMemoryMetricReader()
_provider = TracerProvider()
_provider.add_span_processor(SessionSpanProcessor())
_provider.add_span_processor(_at_start)
_provider.add_span_processor(SimpleSpanProcessor(_exporter))
trace.set_tracer_provider(_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))
"""

PRELUDES = {
    # An SDK exporter in memory and our processor's class, for a check to read spans.
    "memory-exporter": """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_genai_session.processor import SessionSpanProcessor

_exporter = InMemorySpanExporter()
""",
    # "With the tracer provider set up as above": the quick start's set-up.
    "console-tracing": _CONSOLE_TRACING,
    # Spans and metrics kept in memory, so a check can assert on them.
    "memory-telemetry": _MEMORY_TELEMETRY,
    # Configuration snippets add middleware to "your" app.
    "fastapi-app": "from fastapi import FastAPI\napp = FastAPI()\n",
    # The security snippet assumes an app and "your" authentication backend.
    "auth-app": """
from fastapi import FastAPI
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser

class TokenBackend(AuthenticationBackend):
    async def authenticate(self, conn):
        token = conn.headers.get("Authorization", "").removeprefix("Bearer ")
        if token == "token-alice":
            return AuthCredentials(["authenticated"]), SimpleUser("alice")
        return None

app = FastAPI()
""",
    # The executor snippet calls "your" blocking model client, inside a session.
    "call-model": """
from otel_genai_session import get_session_context, session_context

seen = []

def call_model(prompt):
    seen.append(get_session_context().session_id)
    return prompt.upper()

prompts = ["a", "b", "c"]
_session = session_context(session_id="conv-1")
_session.__enter__()
""",
}

CHECKS = {
    "none": "",
    # The README's FastAPI set-up: a request with the three headers, as its curl
    # line sends them; the console shows the endpoint's span with the ids.
    "fastapi-minimal": f"""
from fastapi.testclient import TestClient

with TestClient(app) as client:
    response = client.post(
        "/chat", headers={{"X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Tenant-ID": "acme"}}
    )
assert response.status_code == 200 and response.json() == {{"reply": "Hello!"}}, response.text
provider.force_flush()
print({OK!r})
""",
    # The README's Flask set-up, the same way.
    "flask-minimal": f"""
response = app.test_client().post(
    "/chat", headers={{"X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Tenant-ID": "acme"}}
)
assert response.status_code == 200 and response.get_json() == {{"reply": "Hello!"}}, response.data
provider.force_flush()
print({OK!r})
""",
    # The README's properties block: each way in does what its comment says.
    "properties": f"""
import json
from fastapi.testclient import TestClient
from otel_genai_session import get_session_context
from otel_genai_session.celery import HEADER, _put_session_in_headers

_provider = TracerProvider()
_provider.add_span_processor(SessionSpanProcessor())
_provider.add_span_processor(SimpleSpanProcessor(_exporter))
_tracer = _provider.get_tracer("check")
with session_context(session_id="conv-1", properties={{"experiment": "b"}}):
    _tracer.start_span("code").end()
    carrier = {{}}
    propagator.inject(carrier)
    headers = {{}}
    _put_session_in_headers(headers=headers)

@app.get("/seen")
def seen():
    return dict(get_session_context().properties)

with TestClient(app) as client:
    assert client.get("/seen", headers={{"X-Arm": "b"}}).json() == {{"experiment": "b"}}
(span,) = _exporter.get_finished_spans()
assert span.attributes["otel_genai_session.property.experiment"] == "b"
assert "otel_genai_session.property.experiment=b" in carrier["baggage"], carrier
assert next(iter(receiver)) in carrier["baggage"]
assert headers[HEADER]["properties"] == {{"experiment": "b"}}, headers
print({OK!r})
""",
    # The README's framework-free block: a span started in it gets the ids.
    "session-block": f"""
provider.force_flush()
with session_context(session_id="conv-123", user_id="user-456", customer_id="acme"):
    trace.get_tracer("check").start_span("inside").end()
print({OK!r})
""",
    # The quick start's claim: the console shows the span with the three ids.
    "quick-start": f"""
provider.force_flush()
print({OK!r})
""",
    # A request with the three default headers: the handler's span carries them.
    "fastapi-app": f"""
from fastapi.testclient import TestClient

with TestClient(app) as client:
    response = client.post(
        "/chat",
        json={{"message": "hi"}},
        headers={{"X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Tenant-ID": "acme"}},
    )
assert response.status_code == 200 and response.json() == {{"reply": "Hello!"}}, response.text
print({OK!r})
""",
    # The streamed Flask body is produced after the view returned: still in session.
    "flask-app": f"""
response = app.test_client().post(
    "/chat", headers={{"X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Tenant-ID": "acme"}}
)
assert response.status_code == 200 and response.data == b"Hello, world", response.data
print({OK!r})
""",
    # Every option the snippet sets does what the reference table says.
    "all-options": f"""
from fastapi import Request
from fastapi.testclient import TestClient
from otel_genai_session import get_session_context

@app.api_route("/{{path:path}}", methods=["GET", "POST"])
async def echo(path: str, request: Request):
    await request.body()  # the app still gets its body
    s = get_session_context()
    return {{"session": s.session_id, "user": s.user_id, "customer": s.customer_id}}

with TestClient(app) as client:
    r = client.post("/chat", headers={{"X-Conversation-ID": "h-1", "X-Tenant-ID": "acme",
                                       "Cookie": "chat_session=c-1"}})
    assert r.json() == {{"session": "h-1", "user": None, "customer": "acme"}}, r.json()
    assert r.headers["X-Conversation-ID"] == "h-1"
    r = client.post("/chat?conversation=q-1", headers={{"Cookie": "chat_session=c-1"}})
    assert r.json()["session"] == "c-1", r.json()  # cookie before query
    r = client.post("/chat?conversation=q-1", json={{"metadata": {{"user_id": "u-1"}}}})
    assert r.json() == {{"session": "q-1", "user": "u-1", "customer": None}}, r.json()
    r = client.post("/chat", json={{"x": 1}})  # no id anywhere: a uuid4 is generated
    generated = r.json()["session"]
    assert len(generated) == 36 and r.headers["X-Conversation-ID"] == generated
    r = client.post("/chat", headers={{"X-Tenant-ID": "t" * 129}})  # over max_value_length
    assert r.json()["customer"] is None
    for path in ("/healthz", "/static/app.js", "/v2/ping"):
        r = client.get(path, headers={{"X-Conversation-ID": "h-1"}})
        assert r.json() == {{"session": None, "user": None, "customer": None}}, (path, r.json())
        assert "X-Conversation-ID" not in r.headers
print({OK!r})
""",
    # Metrics: tokens per tenant, no session or user id; conversation id mirrored.
    "metrics-opt-in": f"""
from otel_genai_session import session_context
from otel_genai_session.types import LLMInvocation

with session_context(session_id="conv-1", user_id="alice", customer_id="acme"):
    with handler.llm(LLMInvocation(request_model="m", provider="p")) as call:
        call.input_tokens, call.output_tokens = 3, 4
points = [
    point
    for rm in _reader.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for metric in sm.metrics
    for point in metric.data.data_points
]
assert points and all(p.attributes.get("customer.id") == "acme" for p in points)
assert not any("session.id" in p.attributes or "user.id" in p.attributes for p in points)
(span,) = _exporter.get_finished_spans()
assert span.attributes["gen_ai.conversation.id"] == "conv-1"
print({OK!r})
""",
    # The user comes from the token, never from the spoofed header.
    "auth-app": f"""
from fastapi.testclient import TestClient
from otel_genai_session import get_session_context

@app.get("/whoami")
async def whoami():
    s = get_session_context()
    return [s.session_id, s.user_id, s.customer_id]

with TestClient(app, base_url="http://acme.chat.example") as client:
    spoof = {{"X-Session-ID": "conv-1", "X-User-ID": "admin", "X-Tenant-ID": "evil"}}
    r = client.get("/whoami", headers={{**spoof, "Authorization": "Bearer token-alice"}})
    assert r.json() == ["conv-1", "alice", "acme"], r.json()
    r = client.get("/whoami", headers=spoof)  # anonymous: no user at all
    assert r.json() == ["conv-1", None, "acme"], r.json()
print({OK!r})
""",
    # Every helper carried the caller's session into the worker thread.
    "executor": f"""
import asyncio

assert asyncio.run(answer_async("d")) == "D"
assert answers == ["A", "B", "C"] and answer == "A"
assert seen == ["conv-1"] * 5, seen
print({OK!r})
""",
    # A real (in-thread) worker runs the task the block sent: in the sender's session.
    "celery-worker": f"""
from celery.contrib.testing.worker import start_worker

with start_worker(app, pool="solo", perform_ping_check=False):
    assert result.get(timeout=30) == ["conv-1", "ada"], result
print({OK!r})
""",
    # The MCP app under uvicorn, called by the real mcp client (initialize first,
    # then tools with the Mcp-Session-Id the server issued).
    "mcp-app": f"""
import asyncio, socket, threading, time
import httpx2, uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
thread = threading.Thread(target=server.run, kwargs={{"sockets": [sock]}}, daemon=True)
thread.start()
deadline = time.monotonic() + 10
while not server.started:
    assert thread.is_alive() and time.monotonic() < deadline
    time.sleep(0.01)

async def call():
    url = f"http://127.0.0.1:{{sock.getsockname()[1]}}/mcp"
    async with httpx2.AsyncClient(headers={{"X-User-ID": "ada"}}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as c:
            return [(await c.call_tool(n, {{"query": "q"}})).content[0].text
                    for n in ("search", "search_later")]

try:
    texts = asyncio.run(call())
finally:
    server.should_exit = True
    thread.join(10)
mcp_session = texts[0].split()[0]
assert len(mcp_session) == 32 and texts == [f"{{mcp_session}} ada: q"] * 2, texts
print({OK!r})
""",
    # Ours outside OpenTelemetry's: the server span has the ids at its start.
    "middleware-order": f"""
import asyncio
import httpx

async def request():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/ping", headers={{"X-Session-ID": "conv-1"}})

assert asyncio.run(request()).json() == {{"ok": True}}
assert _at_start.seen["GET /ping"]["session.id"] == "conv-1", _at_start.seen
print({OK!r})
""",
}

# What a check's output must contain besides the OK line.
_CALL_MODEL_SPAN = [
    '"name": "call model"',
    '"session.id": "conv-1"',
    '"user.id": "alice"',
    '"customer.id": "acme"',
]
EXPECTED_OUTPUT = {
    "fastapi-minimal": _CALL_MODEL_SPAN,
    "flask-minimal": _CALL_MODEL_SPAN,
    "session-block": ['"name": "inside"', '"session.id": "conv-123"', '"user.id": "user-456"'],
    "quick-start": ['"name": "chat gpt-4o"', '"session.id": "conv-123"', '"customer.id": "acme"'],
    "fastapi-app": ['"name": "chat gpt-4o"', '"session.id": "conv-1"', '"user.id": "alice"'],
    "flask-app": ['"name": "chat gpt-4o"', '"session.id": "conv-1"', '"customer.id": "acme"'],
}


@dataclass(frozen=True)
class Rule:
    """A block that contains ``needle`` gets ``prelude`` and ``check`` (or runs
    in the ``env`` environment); ``why`` says what the text promises."""

    needle: str
    why: str
    prelude: str | None = None
    check: str | None = None
    env: str | None = None


RULES = [
    Rule(
        'properties={"experiment": "b"}):  # code',
        "README: properties, one way in per line",
        prelude="memory-exporter",
        check="properties",
    ),
    Rule('"call model"):  # or any', "README: the FastAPI set-up", check="fastapi-minimal"),
    Rule(
        'start_as_current_span("call model"):\n',
        "README: Flask",
        check="flask-minimal",
    ),
    Rule(
        "# every span started here carries",
        "README: no framework; the provider above",
        prelude="console-tracing",
        check="session-block",
    ),
    Rule(
        "call.input_tokens, call.output_tokens = 12, 40",
        "getting started: any Python code",
        check="quick-start",
    ),
    Rule(
        "class Chat(BaseModel):",
        "getting started: FastAPI, with the provider above",
        prelude="console-tracing",
        check="fastapi-app",
    ),
    Rule(
        "stream_with_context(tokens())",
        "getting started: Flask, with the provider above",
        prelude="console-tracing",
        check="flask-app",
    ),
    Rule(
        "OpenAIInstrumentor().instrument(",
        "getting started: beside the official stack",
        check="official-stack",
        env="official",
    ),
    Rule(
        'response_header="X-Conversation-ID"',
        "configuration: every option, on your app",
        prelude="fastapi-app",
        check="all-options",
    ),
    Rule(
        'session_metric_attributes=["customer.id"]',
        "configuration: metrics opt-in",
        prelude="memory-telemetry",
        check="metrics-opt-in",
    ),
    Rule(
        "extract=ids_from_auth",
        "security: the user from your authentication",
        prelude="auth-app",
        check="auth-app",
    ),
    Rule(
        "ContextThreadPoolExecutor(max_workers=4) as pool",
        "troubleshooting: thread pools",
        prelude="call-model",
        check="executor",
    ),
    Rule(
        "GenAISessionMiddleware(OpenTelemetryMiddleware(api))",
        "troubleshooting: order",
        prelude="memory-telemetry",
        check="middleware-order",
    ),
    Rule(
        'summarise.delay("a long conversation")',
        "beyond one process: Celery",
        check="celery-worker",
    ),
    Rule("mcp.streamable_http_app()", "beyond one process: MCP", check="mcp-app"),
]


@dataclass(frozen=True)
class Block:
    path: Path
    heading: str
    line: int
    code: str
    prelude: str | None
    check: str | None
    env: str | None = None


def _rule_for(code: str, where: str) -> Rule | None:
    matching = [rule for rule in RULES if rule.needle in code]
    assert len(matching) <= 1, f"{where}: several rules match: {matching}"
    return matching[0] if matching else None


def python_blocks(path: Path, in_short_only: bool = False) -> list[Block]:
    """The ```python blocks of ``path`` (only those under an "in short" heading
    when ``in_short_only``), each with what its rule asks for."""
    blocks = []
    heading, section, lines = "top", "top", path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            if line.startswith("## "):
                section = heading
        if line.strip() == "```python":
            end = lines.index("```", index + 1)
            if not in_short_only or section.lower().endswith("in short"):
                code = "\n".join(lines[index + 1 : end])
                rule = _rule_for(code, f"{path.name}:{index + 1}")
                blocks.append(
                    Block(
                        path,
                        heading,
                        index + 1,
                        code,
                        rule.prelude if rule else None,
                        rule.check if rule else None,
                        rule.env if rule else None,
                    )
                )
            index = end
        index += 1
    return blocks


def readme_blocks(text: str) -> list[Block]:
    """The README's blocks (kept for callers that pass the text)."""
    assert text == README.read_text(encoding="utf-8")
    return python_blocks(README)


ALL_BLOCKS = [block for path in WHOLE_PAGES for block in python_blocks(path)] + [
    block for path in IN_SHORT_PAGES for block in python_blocks(path, in_short_only=True)
]
BLOCKS = [block for block in ALL_BLOCKS if block.env is None]


def _slug(block: Block) -> str:
    page = block.path.stem.lower()
    return (
        f"{page}-"
        + re.sub(r"[^a-z0-9]+", "-", block.heading.lower()).strip("-")
        + (f"-line{block.line}")
    )


@pytest.mark.parametrize("block", [pytest.param(b, id=_slug(b)) for b in BLOCKS])
def test_readme_python_block_runs(run_python: RunPython, tmp_path: Path, block: Block) -> None:
    prelude = PRELUDES[block.prelude] if block.prelude else ""
    check = CHECKS[block.check] if block.check else ""
    script = tmp_path / "readme_block.py"
    where = block.path.relative_to(REPO)
    script.write_text(f"{prelude}\n# --- {where} line {block.line} ---\n{block.code}\n{check}")

    result = run_python(str(script), cwd=tmp_path)

    assert result.returncode == 0, f"{script.read_text()}\n---\n{result.stdout}{result.stderr}"
    if block.check and block.check != "none":
        assert OK in result.stdout
    for expected in EXPECTED_OUTPUT.get(block.check or "", []):
        assert expected in result.stdout


def test_every_rule_matches_exactly_one_block_and_names_known_code() -> None:
    assert len(BLOCKS) >= 20, "the block parser found too few blocks"
    for rule in RULES:
        matched = [block for block in ALL_BLOCKS if rule.needle in block.code]
        assert len(matched) == 1, (rule, [(b.path.name, b.line) for b in matched])
        assert rule.prelude is None or rule.prelude in PRELUDES, rule
        assert rule.env is not None or rule.check in CHECKS, rule
    assert {block.env for block in ALL_BLOCKS} <= {None, "official"}


def test_the_documents_carry_no_test_markers() -> None:
    for path in WHOLE_PAGES + IN_SHORT_PAGES:
        assert "readme-test" not in path.read_text(encoding="utf-8"), path


README_TEXT = README.read_text(encoding="utf-8")
README_LINES = README_TEXT.splitlines()


def test_the_readme_is_a_front_door_of_at_most_250_lines() -> None:
    assert len(README_LINES) <= 250


def test_the_install_line_and_the_first_python_block_come_first() -> None:
    first_python = README_LINES.index("```python") + 1
    install = next(i for i, line in enumerate(README_LINES, 1) if 'pip install ".[sdk]"' in line)

    assert first_python <= 60
    assert install < first_python
    assert "Not on PyPI yet" in "\n".join(README_LINES[:install])
    assert 'pip install "otel-genai-session[sdk] @ git+URL"' in README_TEXT


def test_the_first_python_block_is_the_complete_fastapi_set_up() -> None:
    (first, *_) = python_blocks(README)

    assert first.check == "fastapi-minimal" and first.prelude is None
    assert "otel_genai_session.instrument()" in first.code
    assert "add_middleware(GenAISessionMiddleware)" in first.code


def test_the_two_commands() -> None:
    commands = README_TEXT.index("```bash\npython3 tasks.py demo\npython3 tasks.py test\n```")

    assert README_TEXT.index("## Try it: two commands") < commands
    assert "python3 tasks.py demo --otlp" in README_TEXT


def _github_slug(heading: str) -> str:
    """The anchor GitHub (and MkDocs, for these headings) gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text, fenced = path.read_text(encoding="utf-8"), False
    anchors = set()
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            anchors.add(_github_slug(line.lstrip("#")))
    return anchors


def test_relative_links_point_at_existing_files_and_headings() -> None:
    targets = re.findall(r"\]\((?!https?://)([^)\s]+)\)", README_TEXT)

    assert targets
    for target in targets:
        path, _, anchor = target.partition("#")
        file = REPO / path if path else README
        assert file.exists(), target
        if anchor:
            assert anchor in _anchors(file), target


# Every section the README had before it became the front door, and the page
# that holds it now: each is one click from the README.
MOVED = {
    "Try it: two commands": "docs/demo.md",
    "What the demo shows": "docs/demo.md",
    "The demo's sessions in Arize Phoenix": "docs/demo.md",
    "Install": "docs/getting-started.md",
    "Quick start": "docs/getting-started.md",
    "With the official OpenTelemetry GenAI instrumentations": "docs/getting-started.md",
    "How it works": "docs/getting-started.md",
    "Middleware options": "docs/configuration.md",
    "Environment variables": "docs/configuration.md",
    "`TelemetryHandler`": "docs/configuration.md",
    "Attributes emitted": "docs/configuration.md",
    "Metrics carry no ids by default": "docs/configuration.md",
    "Precedence between sources": "docs/sources-and-precedence.md",
    "How each source is read": "docs/sources-and-precedence.md",
    "Priority order: explicit, context, environment": "docs/sources-and-precedence.md",
    "Security and trust model": "docs/security.md",
    "LangChain and LangGraph": "docs/langchain.md",
    "Beyond one process: other services, task workers, queued jobs, MCP, logs and private users": (
        "docs/beyond-one-process.md"
    ),
    "Logs, other services and private user ids, in short": "docs/beyond-one-process.md",
    "Session-consistent sampling": "docs/sampling.md",
    "Compatibility: frameworks, servers, versions": "docs/compatibility.md",
    "The compat distribution (`opentelemetry.util.genai` import paths)": "docs/compatibility.md",
    "Troubleshooting": "docs/troubleshooting.md",
    "Spans made in a thread pool have no ids": "docs/troubleshooting.md",
    "Performance": "docs/performance.md",
}


@pytest.mark.parametrize(("heading", "page"), MOVED.items(), ids=list(MOVED))
def test_every_former_section_is_one_click_from_the_readme(heading: str, page: str) -> None:
    slug = _github_slug(heading)

    assert slug in _anchors(REPO / page), f"{page} has no heading {heading!r}"
    assert f"]({page})" in README_TEXT or f"]({page}#{slug})" in README_TEXT, page


def _examples_table() -> str:
    section = README_TEXT[README_TEXT.index("## Examples") :]
    return section[: section.index("\n## ")]


def test_the_examples_table_lists_every_file_in_examples() -> None:
    table = _examples_table()
    files = sorted(
        path.relative_to(REPO).as_posix()
        for path in (REPO / "examples").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )

    assert files
    assert [path for path in files if f"]({path})" not in table] == []


def _serves_until_stopped(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "serve_forever()" in text or "uvicorn.Server(config).run(" in text


def test_servers_say_how_to_run_and_query_them_and_the_readme_says_they_serve() -> None:
    servers = [p for p in sorted((REPO / "examples").glob("*.py")) if _serves_until_stopped(p)]
    table = _examples_table()

    assert [p.name for p in servers] == ["fastapi_chat.py", "flask_chat.py"]
    for path in servers:
        first_line = path.read_text(encoding="utf-8").split('"""')[1].splitlines()[0]
        assert f"python examples/{path.name}" in first_line, first_line
        assert "curl " in first_line and "127.0.0.1:" in first_line, first_line
        row = next(line for line in table.splitlines() if f"]({path.relative_to(REPO)})" in line)
        assert "**a server**" in row, row
