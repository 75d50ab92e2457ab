"""The README's and docs' blocks that need the official GenAI stack run here, beside it.

tests/examples/test_readme.py decides from a block's content (its ``RULES``)
which blocks need the stack (``env="official"``) and leaves them out; same rules:
each block runs in a subprocess, followed by a check that exercises what it
built and prints ``README CHECK OK``. The check for the official set-up sends a
request with the three id headers to the block's app, whose endpoint calls a
local OpenAI-shaped server through the ``openai`` client; the instrumentation's
``chat`` span and its event must carry the ids.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.conftest import REPO, RunPython
from tests.examples.test_readme import ALL_BLOCKS, OK, Block, _slug

OFFICIAL_BLOCKS = [block for block in ALL_BLOCKS if block.env == "official"]

CHECKS = {
    "official-stack": f"""
import asyncio, os, sys
sys.path.insert(0, {str(REPO)!r})
import httpx, openai
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.official._model_server import MODEL, ModelServer
from tests.official._servers import running_uvicorn

spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
os.environ["OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"] = "true"  # events without content
model = ModelServer()

async def ask():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/chat", headers={{
            "X-Session-ID": "conv-1", "X-User-ID": "alice", "X-Tenant-ID": "acme"}})

with running_uvicorn(model.app) as url:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)

    @app.post("/chat")
    async def chat():
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{{"role": "user", "content": "hi"}}])
        return {{"reply": completion.choices[0].message.content}}

    response = asyncio.run(ask())
assert response.json() == {{"reply": "echo: hi"}}, response.text
ids = {{"session.id": "conv-1", "user.id": "alice", "customer.id": "acme"}}
(span,) = spans.get_finished_spans()
assert span.name == "chat " + MODEL, span.name
assert {{k: span.attributes.get(k) for k in ids}} == ids, dict(span.attributes)
(event,) = [r.log_record for r in logs.get_finished_logs()]
assert event.event_name == "gen_ai.client.inference.operation.details"
assert {{k: event.attributes.get(k) for k in ids}} == ids, dict(event.attributes)
assert "gen_ai.input.messages" not in event.attributes  # content capture is off
print({OK!r})
""",
}


def test_the_readme_has_official_blocks() -> None:
    assert OFFICIAL_BLOCKS
    assert all(block.check in CHECKS and block.prelude is None for block in OFFICIAL_BLOCKS)


@pytest.mark.parametrize("block", [pytest.param(b, id=_slug(b)) for b in OFFICIAL_BLOCKS])
def test_readme_official_block_runs(run_python: RunPython, tmp_path: Path, block: Block) -> None:
    script = tmp_path / "readme_block.py"
    check = CHECKS[block.check or ""]
    where = block.path.relative_to(REPO)
    script.write_text(f"# --- {where} line {block.line} ---\n{block.code}\n{check}")

    result = run_python(str(script), cwd=tmp_path)

    assert result.returncode == 0, f"{script.read_text()}\n---\n{result.stdout}{result.stderr}"
    assert OK in result.stdout
