"""The MCP server of tests/ecosystem/mcp, run by the test as its own process.

``python -m tests.ecosystem.mcp.server_app FD SPANS_FILE {stateful,stateless}``: an mcp
2.x ``MCPServer`` (streamable HTTP) wrapped in GenAISessionMiddleware, served
by uvicorn on the listening socket the test bound and handed over as FD. Its
spans (the SDK's own MCP server spans, and the tools') go to SPANS_FILE.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from opentelemetry import trace

from otel_genai_session import get_session_context, session_context
from otel_genai_session.middleware import GenAISessionMiddleware, session_from_scope
from tests.span_file import install_global_provider

# The MCP session id (issued by the server at ``initialize``, sent by the client
# on every later request), else the client's own conversation header; the
# caller's user from its header.
HEADERS = {"Mcp-Session-Id": "session_id", "X-Session-ID": "session_id", "X-User-ID": "user_id"}


def seen(label: str) -> str:
    """Start a span and say which session the tool ran in."""
    with trace.get_tracer("tools").start_as_current_span(f"tool.{label}"):
        session = get_session_context()
        return f"{session.session_id}|{session.user_id}"


def build(stateless: bool) -> Any:
    server = MCPServer("xproc", log_level="WARNING")

    @server.tool()
    async def whoami() -> str:
        """The session the tool runs in, as the middleware set it for the request."""
        return seen("whoami")

    @server.tool()
    async def whoami_detached(ctx: Context) -> str:
        """A tool whose work runs in a task that did not inherit the request's
        context (as in servers that run tools in a long-lived task): it re-enters
        the request's session from the ASGI scope."""
        request = ctx.request_context.request
        assert request is not None
        session = session_from_scope(request.scope)

        async def work() -> str:
            with session_context.resume(session):
                return seen("whoami_detached")

        # A task made in an empty context: it inherits nothing of the request's.
        return await contextvars.Context().run(asyncio.ensure_future, work())

    app = server.streamable_http_app(stateless_http=stateless)
    return GenAISessionMiddleware(app, header_mapping=HEADERS)


def main(fd: int, spans_file: str, mode: str) -> None:
    install_global_provider(spans_file)
    config = uvicorn.Config(
        build(stateless=mode == "stateless"),
        fd=fd,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
