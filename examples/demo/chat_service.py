"""The demo's chat service: FastAPI, a fake streaming model, two tools, one agent.

Nothing here knows about sessions except the two lines that install
``GenAISessionMiddleware`` and the one that reads ``get_session_context()`` to
keep each conversation's history: the ids reach every span through the
middleware, the handler and ``SessionSpanProcessor``.

Each request runs::

    POST /chat                       SERVER span (stand-in for OpenTelemetry's ASGI middleware)
    └─ invoke_workflow support-chat  Workflow
       └─ invoke_agent assistant     AgentInvocation
          ├─ chat fake-gpt-mini      LLMInvocation: asks for a tool...
          ├─ execute_tool ...        ToolCall (lookup_order also runs a "database" span)
          └─ chat fake-gpt-mini      LLMInvocation: ...then streams the answer
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from opentelemetry.trace import SpanKind, Tracer, TracerProvider
from pydantic import BaseModel

from otel_genai_session import get_session_context
from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.middleware import GenAISessionMiddleware
from otel_genai_session.types import AgentInvocation, LLMInvocation, ToolCall, Workflow

MODEL = "fake-gpt-mini"
PROVIDER = "fake-ai"
SYSTEM_PROMPT_TOKENS = 24
TOKEN_DELAY = 0.003  # seconds between streamed tokens: long enough to see, short enough to wait

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class RateLimitError(Exception):
    """What a provider raises on HTTP 429. The fake model raises it once, on purpose."""


class OrderNotFound(LookupError):
    """The order tool's failure. One conversation asks for an order that does not exist."""


@dataclass(frozen=True)
class ToolRequest:
    name: str
    argument: str


# -- the fake model ----------------------------------------------------------------

WEATHER = {"paris": "18°C and sunny", "oslo": "4°C with light rain", "tokyo": "22°C and clear"}
ORDERS = {"A-1001": "shipped, arriving on Thursday", "G-7": "delivered last Monday"}
ORDER_ID = re.compile(r"\b[A-Z]-\d+\b")


class FakeModel:
    """A scripted chat model with the shape of a real one: it may ask for a tool,
    streams its answer token by token, and reports usage. Deterministic."""

    def __init__(self) -> None:
        self._throttled: set[str] = set()

    async def complete(
        self, message: str, tool_result: str | None
    ) -> AsyncIterator[str | ToolRequest]:
        await asyncio.sleep(TOKEN_DELAY)  # time to first token
        if "refund" in message.lower() and message not in self._throttled:
            self._throttled.add(message)  # deliberately throttled once, so errors show up
            raise RateLimitError("429 Too Many Requests (simulated)")
        if tool_result is None:
            request = _tool_for(message)
            if request is not None:
                yield request
                return
        for token in _reply(message, tool_result).split(" "):
            await asyncio.sleep(TOKEN_DELAY)
            yield token + " "


def _tool_for(message: str) -> ToolRequest | None:
    order = ORDER_ID.search(message)
    if order:
        return ToolRequest("lookup_order", order.group())
    city = next((c for c in WEATHER if c in message.lower()), None)
    return ToolRequest("get_weather", city) if city else None


def _reply(message: str, tool_result: str | None) -> str:
    lowered = message.lower()
    order = ORDER_ID.search(message)
    if tool_result is not None and order:
        if tool_result.startswith("error"):
            return f"Sorry, I could not find order {order.group()}. Could you check the number?"
        refund = " I have opened a refund request for it." if "refund" in lowered else ""
        return f"Order {order.group()} was {tool_result}.{refund}"
    if tool_result is not None:
        city = next(c for c in WEATHER if c in lowered)
        return f"It is {tool_result} in {city.title()} right now."
    if any(word in lowered for word in ("thank", "bye")):
        return "You are welcome, have a nice day!"
    if any(word in lowered for word in ("hi", "hello")):
        return "Hello! How can I help you today?"
    return "I can check the weather or one of your orders."


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
class Assistant:
    """One agent in one workflow; every model and tool call goes through the handler."""

    handler: TelemetryHandler
    tracer: Tracer
    model: FakeModel = field(default_factory=FakeModel)
    histories: dict[str, list[str]] = field(default_factory=dict)
    _responses: int = 0

    async def answer(self, message: str, stream: bool) -> AsyncIterator[str]:
        # The session is in effect here, also while a streamed body is produced.
        session_id = get_session_context().session_id or "anonymous"
        history = self.histories.setdefault(session_id, [])
        history.append(message)
        with (
            self.handler.workflow(Workflow(name="support-chat")),
            self.handler.agent(AgentInvocation(name="assistant", request_model=MODEL)),
        ):
            tool_result: str | None = None
            for _ in range(4):  # at most: a retry, a tool round, the answer
                request: ToolRequest | None = None
                reply: list[str] = []
                call = LLMInvocation(request_model=MODEL, provider=PROVIDER, stream=stream)
                call.input_tokens = SYSTEM_PROMPT_TOKENS + sum(len(m.split()) for m in history)
                try:
                    with self.handler.llm(call):
                        async for item in self.model.complete(message, tool_result):
                            if isinstance(item, ToolRequest):
                                request = item
                            else:
                                reply.append(item)
                                yield item
                        self._responses += 1
                        call.response_model = f"{MODEL}-2025-01"
                        call.response_id = f"resp-{self._responses}"
                        call.output_tokens = len(reply) if request is None else 9
                        call.finish_reasons = ["tool_calls" if request else "stop"]
                except RateLimitError:
                    await asyncio.sleep(TOKEN_DELAY)  # back off, then try again
                    continue
                if request is None:
                    history.append("".join(reply))
                    return
                tool_result = await self._run_tool(request)

    async def _run_tool(self, request: ToolRequest) -> str:
        tool = ToolCall(name=request.name, call_id=f"call-{request.argument}", tool_type="function")
        try:
            with self.handler.tool_call(tool):
                if request.name == "get_weather":
                    return await get_weather(request.argument)
                return await lookup_order(self.tracer, request.argument)
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
    demo needs no more than its four dependencies."""

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


def create_app(handler: TelemetryHandler, tracer_provider: TracerProvider) -> FastAPI:
    tracer = tracer_provider.get_tracer("genai-session-demo")
    assistant = Assistant(handler, tracer)
    app = FastAPI(title="genai-session-demo")

    @app.post("/chat", response_model=None)
    async def chat(request: ChatRequest) -> StreamingResponse | dict[str, str]:
        tokens = assistant.answer(request.message, request.stream)
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
