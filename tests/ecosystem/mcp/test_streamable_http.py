"""The real mcp SDK (2.x): its streamable HTTP server in its own process under
uvicorn, wrapped in GenAISessionMiddleware, called by the real mcp client.

Stateful servers issue ``Mcp-Session-Id`` in the answer to ``initialize`` and
the client sends it on every later request: the tool spans carry it, with the
user of the request that called the tool (not of the one that initialized).
The ``initialize`` request itself comes before the id exists: its spans carry
the user only. Stateless servers, and the 2026-07-28 protocol that mcp 2.x
clients negotiate by default (``mode="auto"``), have no MCP session: the
conversation id comes from the client's own header.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.span_file import ids, read_spans

pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[3]
MCP_SESSION_ID = re.compile(r"[0-9a-f]{32}")

Server = Callable[[str], tuple[str, Path]]


@pytest.fixture
def mcp_server(tmp_path: Path) -> Iterator[Server]:
    """Start ``tests.ecosystem.mcp.server_app`` on a socket this test bound and listens
    on (handed over as a file descriptor: no port to race for)."""
    started: list[tuple[subprocess.Popen[bytes], socket.socket]] = []

    def start(mode: str) -> tuple[str, Path]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # connections wait in the backlog until uvicorn accepts
        spans = tmp_path / f"spans-{mode}.jsonl"
        spans.touch()
        with (tmp_path / f"server-{mode}.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.ecosystem.mcp.server_app",
                    str(sock.fileno()),
                    str(spans),
                    mode,
                ],
                cwd=REPO,
                pass_fds=[sock.fileno()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append((process, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", spans

    yield start
    for process, sock in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        sock.close()


async def call_tools(url: str, mode: str, calls: list[tuple[dict[str, str], str]]) -> list[str]:
    """One client connection; before each tool call its headers are set as given
    (the first headers are also those of the connection's opening requests)."""
    results = []
    http = httpx2.AsyncClient(headers=calls[0][0], timeout=30)
    with anyio.fail_after(60):
        async with (
            http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            for headers, tool in calls:
                http.headers.clear()
                http.headers.update(headers)
                result = await client.call_tool(tool, {})
                results.append(result.content[0].text)  # type: ignore[union-attr]
    return results


def spans_named(spans: list[dict[str, Any]], name: str) -> list[tuple[Any, ...]]:
    return [ids(span)[:2] for span in spans if span["name"] == name]


def test_stateful_tool_spans_carry_the_mcp_session_and_the_calling_user(
    mcp_server: Server,
) -> None:
    url, spans_file = mcp_server("stateful")
    ada, bob = {"X-User-ID": "ada"}, {"X-User-ID": "bob"}

    results = anyio.run(
        call_tools, url, "legacy", [(ada, "whoami"), (bob, "whoami"), (bob, "whoami_detached")]
    )

    session_ids = {result.split("|")[0] for result in results}
    assert len(session_ids) == 1
    (session_id,) = session_ids
    assert MCP_SESSION_ID.fullmatch(session_id), session_id
    assert results == [f"{session_id}|ada", f"{session_id}|bob", f"{session_id}|bob"]
    spans = read_spans(spans_file, expected=8)
    # The SDK's own server spans and the spans the tools start.
    assert spans_named(spans, "tools/call whoami") == [(session_id, "ada"), (session_id, "bob")]
    assert spans_named(spans, "tool.whoami") == [(session_id, "ada"), (session_id, "bob")]
    assert spans_named(spans, "tool.whoami_detached") == [(session_id, "bob")]
    assert spans_named(spans, "tools/call whoami_detached") == [(session_id, "bob")]
    # initialize: before the server issued the id, so the user alone.
    assert spans_named(spans, "initialize") == [(None, "ada")]


@pytest.mark.parametrize("client_mode", ["legacy", "auto"])
def test_stateless_tool_spans_carry_the_client_conversation_and_user(
    mcp_server: Server, client_mode: str
) -> None:
    url, spans_file = mcp_server("stateless")
    first = {"X-Session-ID": "conv-1", "X-User-ID": "ada"}
    second = {"X-Session-ID": "conv-2", "X-User-ID": "bob"}

    results = anyio.run(
        call_tools, url, client_mode, [(first, "whoami"), (second, "whoami_detached")]
    )

    assert results == ["conv-1|ada", "conv-2|bob"]
    spans = read_spans(spans_file, expected=4)
    assert spans_named(spans, "tool.whoami") == [("conv-1", "ada")]
    assert spans_named(spans, "tool.whoami_detached") == [("conv-2", "bob")]
    assert spans_named(spans, "tools/call whoami") == [("conv-1", "ada")]


def test_the_2026_protocol_has_no_mcp_session_even_on_a_stateful_server(
    mcp_server: Server,
) -> None:
    url, _ = mcp_server("stateful")

    results = anyio.run(call_tools, url, "auto", [({"X-User-ID": "ada"}, "whoami")])

    assert results == ["None|ada"]
