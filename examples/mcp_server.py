"""An MCP server (mcp 2.x, streamable HTTP) whose tool spans carry the MCP
session id and the user of the request that called the tool.

The server runs under uvicorn on 127.0.0.1 and the real mcp client calls it:
ada opens the session (``initialize``) and calls a tool, then bob calls the
same tool on the same MCP session. A second tool hands its work to a task that
inherited nothing of the request's context, and re-enters the request's
session from the ASGI scope with ``session_from_scope``.

    python examples/mcp_server.py
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import sys
import threading
import time

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genai_session import get_session_context, session_context
from otel_genai_session.middleware import GenAISessionMiddleware, session_from_scope
from otel_genai_session.processor import SessionSpanProcessor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SessionSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # the MCP SDK's own spans use the global provider

mcp = MCPServer("tools", log_level="WARNING")


def lookup(query: str) -> str:
    with trace.get_tracer("tools").start_as_current_span("lookup"):
        return f"{get_session_context().user_id} asked {query!r}"


@mcp.tool()
async def search(query: str) -> str:
    return lookup(query)  # in the calling request's session


@mcp.tool()
async def search_in_background(query: str, ctx: Context) -> str:
    request = ctx.request_context.request
    assert request is not None
    session = session_from_scope(request.scope)

    async def work() -> str:
        with session_context.resume(session):  # the request's session, exactly
            return lookup(query)

    # A task made in an empty context: without resume it would have no ids.
    return await contextvars.Context().run(asyncio.ensure_future, work())


app = GenAISessionMiddleware(
    mcp.streamable_http_app(),
    header_mapping={
        "Mcp-Session-Id": "session_id",
        "X-Session-ID": "session_id",
        "X-User-ID": "user_id",
    },
)


async def client_calls(url: str) -> list[str]:
    http = httpx2.AsyncClient(headers={"X-User-ID": "ada"}, timeout=30)
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as c:
        texts = [(await c.call_tool("search", {"query": "weather"})).content[0].text]  # type: ignore[union-attr]
        http.headers["X-User-ID"] = "bob"  # another user, same MCP session
        for tool in ("search", "search_in_background"):
            texts.append((await c.call_tool(tool, {"query": "news"})).content[0].text)  # type: ignore[union-attr]
    return texts


def main() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        texts = asyncio.run(client_calls(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"))
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

    for text in texts:
        print(f"tool answered: {text}")
    wanted = {"initialize", "tools/call search", "tools/call search_in_background", "lookup"}
    rows = []
    for span in exporter.get_finished_spans():
        if span.name in wanted:
            attributes = span.attributes or {}
            rows.append((span.name, attributes.get("session.id"), attributes.get("user.id")))
    session_ids = {session_id for _, session_id, _ in rows if session_id is not None}
    for name, session_id, user in rows:
        shown = "(none yet)" if session_id is None else "<Mcp-Session-Id>"
        print(f"{name:<34} session.id={shown:<18} user.id={user}")
    expected_users = ["ada", "ada", "bob", "bob", "bob", "bob"]
    users = [user for name, _, user in rows if name != "initialize"]
    ok = (
        len(session_ids) == 1
        and rows[0][:2] == ("initialize", None)
        and users == expected_users
        and all(session_id for name, session_id, _ in rows if name != "initialize")
    )
    print("Every tool span: the MCP session and the calling user." if ok else "UNEXPECTED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
