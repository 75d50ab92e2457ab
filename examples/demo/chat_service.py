"""The demo's chat service: FastAPI, an agent with two tools, a model behind the openai SDK.

Nothing here knows about sessions except the lines that install
``GenAISessionMiddleware`` and the one that reads ``get_session_context()`` to
keep each conversation's history: the ids reach every span and event through
the middleware and the session processors, whoever makes the span.

Each request runs::

    POST /chat                       SERVER span (stand-in for OpenTelemetry's ASGI middleware)
    └─ invoke_workflow support-chat  our TelemetryHandler
       └─ invoke_agent assistant     our TelemetryHandler
          ├─ chat fake-gpt-mini      the official OpenAI instrumentation: asks for a tool...
          ├─ execute_tool ...        our TelemetryHandler (lookup_order also runs a "database" span)
          └─ chat fake-gpt-mini      the official OpenAI instrumentation: ...then the answer

The request span also gets the user's message and the reply as ``input.value``
and ``output.value``: an application's choice, for backends such as Arize
Phoenix that show a session's turns from its traces' root spans. The library
never puts user content on spans.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import openai
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from model_server import MODEL, ORDERS, WEATHER
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider
from pydantic import BaseModel

from otel_genai_session import get_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.types import AgentInvocation, ToolCall, Workflow

SYSTEM_PROMPT = "You are the support assistant of an online shop. Be brief."
BACKOFF = 0.003  # seconds before retrying a throttled model call
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {argument: {"type": "string"}},
                "required": [argument],
            },
        },
    }
    for name, argument, description in (
        ("get_weather", "city", "The weather in a city, now."),
        ("lookup_order", "order_id", "The status of one of the customer's orders."),
    )
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class OrderNotFound(LookupError):
    """The order tool's failure. One conversation asks for an order that does not exist."""


# -- tools ---------------------------------------------------------------------------


async def get_weather(city: str) -> str:
    await asyncio.sleep(0.001)
    return WEATHER[city]


async def lookup_order(tracer: Tracer, order_id: str) -> str:
    # A plain span, as a database instrumentation would make: SessionSpanProcessor
    # stamps the ids on it although it knows nothing about sessions.
    with tracer.start_as_current_span(
        "SELECT orders",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "sqlite", "db.collection.name": "orders"},
    ):
        await asyncio.sleep(0.001)
        status = ORDERS.get(order_id)
    if status is None:
        raise OrderNotFound(f"no order {order_id}")
    return status


# -- the agent -----------------------------------------------------------------------


@dataclass
class ModelReply:
    """What one model call produced: text (passed on as it came) or tool calls."""

    text: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add_tool_call(self, index: int, call_id: str | None, function: Any) -> None:
        """A whole call, or one streamed piece of it (pieces share an index)."""
        call = self.tool_calls.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        call["id"] = call_id or call["id"]
        if function is not None:
            call["function"]["name"] += function.name or ""
            call["function"]["arguments"] += function.arguments or ""


@dataclass
class Assistant:
    """One agent in one workflow: model calls through the openai SDK (the official
    instrumentation traces them), the workflow, the agent and tools through our handler."""

    handler: TelemetryHandler
    tracer: Tracer
    model: openai.AsyncOpenAI
    histories: dict[str, list[Any]] = field(default_factory=dict)

    async def answer(self, message: str, stream: bool) -> AsyncIterator[str]:
        # The session is in effect here, also while a streamed body is produced.
        session_id = get_session_context().session_id or "anonymous"
        history = self.histories.setdefault(session_id, [])
        history.append({"role": "user", "content": message})
        with (
            self.handler.workflow(Workflow(name="support-chat")),
            self.handler.agent(AgentInvocation(name="assistant", request_model=MODEL)),
        ):
            messages = [{"role": "system", "content": SYSTEM_PROMPT}, *history]
            for _ in range(4):  # at most: a retry, a tool round, the answer
                reply = ModelReply()
                try:
                    call_model = self._stream if stream else self._complete
                    async for token in call_model(messages, reply):
                        yield token
                except openai.RateLimitError:
                    await asyncio.sleep(BACKOFF)  # back off, then try again
                    continue
                if not reply.tool_calls:
                    history.append({"role": "assistant", "content": "".join(reply.text)})
                    return
                calls = list(reply.tool_calls.values())
                messages.append({"role": "assistant", "content": None, "tool_calls": calls})
                for call in calls:
                    result = await self._run_tool(call)
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    async def _complete(self, messages: Any, reply: ModelReply) -> AsyncIterator[str]:
        completion = await self.model.chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS
        )
        message = completion.choices[0].message
        for index, call in enumerate(message.tool_calls or ()):
            reply.add_tool_call(index, call.id, getattr(call, "function", None))
        if message.content:
            reply.text.append(message.content)
            yield message.content

    async def _stream(self, messages: Any, reply: ModelReply) -> AsyncIterator[str]:
        chunks = await self.model.chat.completions.create(
            model=MODEL,
            messages=messages,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},  # usage on the chat span
        )
        async for chunk in chunks:  # the chat span ends after the last chunk
            if not chunk.choices:  # the usage chunk
                continue
            delta = chunk.choices[0].delta
            for call in delta.tool_calls or ():
                reply.add_tool_call(call.index, call.id, call.function)
            if delta.content:
                reply.text.append(delta.content)
                yield delta.content

    async def _run_tool(self, call: dict[str, Any]) -> str:
        name, arguments = call["function"]["name"], json.loads(call["function"]["arguments"])
        tool = ToolCall(name=name, call_id=call["id"], tool_type="function")
        try:
            with self.handler.tool_call(tool):
                if name == "get_weather":
                    return await get_weather(arguments["city"])
                return await lookup_order(self.tracer, arguments["order_id"])
        except OrderNotFound as error:  # the span is already marked failed
            return f"error: {error}"


# -- the HTTP layer --------------------------------------------------------------------


class ChatRequest(BaseModel):
    message: str
    stream: bool = False
    metadata: dict[str, str] = {}


class ServerSpans:
    """One SERVER span per HTTP request: a small stand-in for
    ``opentelemetry.instrumentation.asgi.OpenTelemetryMiddleware``, so that the
    demo needs fewer dependencies."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        with self.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:
            await self.app(scope, receive, send_and_record)
            if status:
                span.set_attribute("http.response.status_code", status[0])


async def recording_output(span: Span, tokens: AsyncIterator[str]) -> AsyncIterator[str]:
    """Pass the reply through, then put it on the request span as ``output.value``."""
    reply = []
    async for token in tokens:
        reply.append(token)
        yield token
    span.set_attribute("output.value", "".join(reply).strip())


def create_app(
    handler: TelemetryHandler, tracer_provider: TracerProvider, model: openai.AsyncOpenAI
) -> FastAPI:
    tracer = tracer_provider.get_tracer("genai-session-demo")
    assistant = Assistant(handler, tracer, model)
    app = FastAPI(title="genai-session-demo")

    @app.post("/chat", response_model=None)
    async def chat(request: ChatRequest) -> StreamingResponse | dict[str, str]:
        # The application's own choice: the turn's text on its request span (the
        # root of the trace), where Phoenix's session view reads it.
        span = trace.get_current_span()
        span.set_attribute("input.value", request.message)
        tokens = recording_output(span, assistant.answer(request.message, request.stream))
        if request.stream:
            return StreamingResponse(tokens, media_type="text/plain; charset=utf-8")
        return {"reply": "".join([token async for token in tokens]).strip()}

    # add_middleware puts each new middleware outside the previous ones, so the
    # session middleware runs first and the server span starts inside the session.
    app.add_middleware(ServerSpans, tracer=tracer)
    app.add_middleware(
        GenAISessionMiddleware,
        # X-Session-ID, X-User-ID and X-Tenant-ID headers are read by default; also:
        cookie_mapping={"chat_session": "session_id"},
        body_mapping={"metadata.user_id": "user_id"},
        generate_session_id=lambda: f"gen-{secrets.token_hex(4)}",
        response_header="X-Session-ID",  # how a client learns a generated id
    )
    return app


def connect_model(base_url: str) -> openai.AsyncOpenAI:
    """The openai SDK on the local model server. No retries of its own: the agent
    retries a throttled call itself, so the failed call shows as its own span."""
    return openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="not-needed", max_retries=0)
