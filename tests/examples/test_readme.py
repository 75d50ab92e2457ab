"""Every Python code block of README.md runs, and does what the text around it says.

Each ```python block is run in a subprocess (several set the global tracer
provider, which can be set once per process). A block that runs on its own
needs no marker. A block that needs names defined elsewhere, or whose effect
must be checked, is preceded by an HTML comment that GitHub does not render::

    <!-- readme-test: prelude=NAME check=NAME -->

``env=official`` marks a block that needs the official GenAI stack (the
instrumentation, ``openai``): tests/official/test_readme_official.py runs it in
that environment, with its own checks; this module leaves it out.

``prelude`` is code run before the block: the set-up the README's text says
the block assumes ("with the tracer provider set up as above", an existing
``app``, a ``call_model`` of yours). ``check`` is code run after the block
that exercises what it built (sends a request to the app it defined, reads the
spans) and must print ``README CHECK OK``. ``check=none`` says explicitly that
running the block without error is the check (its own asserts). Both
dictionaries below say why each entry exists.

Other tests here hold the README to its contract: the two commands near the
top, every middleware option and environment variable documented, every
relative link pointing at a file that exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_genai_session import environment_variables
from otel_genai_session.middleware._options import SessionOptions

from .conftest import REPO, RunPython

README = REPO / "README.md"
MARKER = re.compile(r"^<!--\s*readme-test:(?P<args>[^>]*?)\s*-->$")
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
EXPECTED_OUTPUT = {
    "quick-start": ['"name": "chat gpt-4o"', '"session.id": "conv-123"', '"customer.id": "acme"'],
    "fastapi-app": ['"name": "chat gpt-4o"', '"session.id": "conv-1"', '"user.id": "alice"'],
    "flask-app": ['"name": "chat gpt-4o"', '"session.id": "conv-1"', '"customer.id": "acme"'],
}


@dataclass(frozen=True)
class Block:
    heading: str
    line: int
    code: str
    prelude: str | None
    check: str | None
    env: str | None = None


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    heading, lines = "top", text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```python":
            end = lines.index("```", index + 1)
            args: dict[str, str] = {}
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(previous.strip())
            if marker:
                args = dict(arg.split("=", 1) for arg in marker["args"].split())
            blocks.append(
                Block(
                    heading,
                    index + 1,
                    "\n".join(lines[index + 1 : end]),
                    args.get("prelude"),
                    args.get("check"),
                    args.get("env"),
                )
            )
            index = end
        index += 1
    return blocks


ALL_BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
BLOCKS = [block for block in ALL_BLOCKS if block.env is None]


def _slug(block: Block) -> str:
    return re.sub(r"[^a-z0-9]+", "-", block.heading.lower()).strip("-") + f"-line{block.line}"


@pytest.mark.parametrize("block", [pytest.param(b, id=_slug(b)) for b in BLOCKS])
def test_readme_python_block_runs(run_python: RunPython, tmp_path: Path, block: Block) -> None:
    prelude = PRELUDES[block.prelude] if block.prelude else ""
    check = CHECKS[block.check] if block.check else ""
    script = tmp_path / "readme_block.py"
    script.write_text(f"{prelude}\n# --- README.md line {block.line} ---\n{block.code}\n{check}")

    result = run_python(str(script), cwd=tmp_path)

    assert result.returncode == 0, f"{script.read_text()}\n---\n{result.stdout}{result.stderr}"
    if block.check and block.check != "none":
        assert OK in result.stdout
    for expected in EXPECTED_OUTPUT.get(block.check or "", []):
        assert expected in result.stdout


def test_every_marker_names_a_known_prelude_and_check() -> None:
    assert len(BLOCKS) >= 10, "the block parser found too few blocks"
    for block in BLOCKS:
        assert block.prelude is None or block.prelude in PRELUDES, block
        assert block.check is None or block.check in CHECKS, block
    assert {block.env for block in ALL_BLOCKS} <= {None, "official"}


def test_the_two_commands_come_first() -> None:
    text = README.read_text(encoding="utf-8")
    first_fence = text.index("```")
    section = text.index("## Try it: two commands")

    assert section < first_fence < text.index("## Quick start")
    assert text[first_fence:].startswith(
        "```bash\npython3 tasks.py demo\npython3 tasks.py test\n```"
    )
    assert "python3 tasks.py demo --otlp http://127.0.0.1:4318" in text


def test_every_middleware_option_and_environment_variable_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    reference = text[text.index("## Configuration reference") : text.index("## Priority order")]

    for option in SessionOptions.__annotations__:
        assert f"| `{option}` |" in reference, option
    for variable in environment_variables.__all__:
        assert f"| `{variable}` |" in reference, variable


def test_relative_links_point_at_existing_files() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)

    assert targets
    assert [t for t in targets if not (REPO / t).exists()] == []


def test_performance_section_is_there_for_the_benchmarks() -> None:
    text = README.read_text(encoding="utf-8")

    assert "## Performance" in text and "python3 tasks.py bench" in text
