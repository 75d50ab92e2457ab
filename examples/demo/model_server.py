"""The demo's model: a local, OpenAI-compatible, scripted chat model server.

``POST /v1/chat/completions`` answers as the OpenAI API does, so the chat
service talks to it through the real ``openai`` SDK (and the official
OpenTelemetry instrumentation sees a real call): it may ask for a tool
(``tool_calls``), streams its answer as server-sent ``chat.completion.chunk``
events, reports ``usage`` (with ``stream_options.include_usage`` when
streaming), and throttles a message about a refund once with HTTP 429, so that
errors show up. Deterministic; no network beyond loopback, no API key.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["MODEL", "ORDERS", "WEATHER", "ModelServer"]

MODEL = "fake-gpt-mini"
RESPONSE_MODEL = f"{MODEL}-2025-01"
SYSTEM_PROMPT_TOKENS = 24  # what a real system prompt would cost
TOOL_CALL_TOKENS = 9
TOKEN_DELAY = 0.003  # seconds between streamed tokens: long enough to see, short enough to wait

WEATHER = {"paris": "18°C and sunny", "oslo": "4°C with light rain", "tokyo": "22°C and clear"}
ORDERS = {"A-1001": "shipped, arriving on Thursday", "G-7": "delivered last Monday"}
ORDER_ID = re.compile(r"\b[A-Z]-\d+\b")


@dataclass(frozen=True)
class ToolRequest:
    name: str
    arguments: dict[str, str]


def tool_for(message: str) -> ToolRequest | None:
    order = ORDER_ID.search(message)
    if order:
        return ToolRequest("lookup_order", {"order_id": order.group()})
    city = next((c for c in WEATHER if c in message.lower()), None)
    return ToolRequest("get_weather", {"city": city}) if city else None


def reply_to(message: str, tool_result: str | None) -> str:
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


class ModelServer:
    """The ASGI app (``.app``) of one scripted model; it remembers whom it throttled."""

    def __init__(self) -> None:
        self._throttled: set[str] = set()
        self._responses = 0
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])]
        )

    async def complete(self, request: Request) -> Response:
        body = await request.json()
        messages: list[dict[str, Any]] = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        message = str(messages[last_user]["content"])
        tool_results = [m["content"] for m in messages[last_user:] if m["role"] == "tool"]
        await asyncio.sleep(TOKEN_DELAY)  # time to first token
        if "refund" in message.lower() and message not in self._throttled:
            self._throttled.add(message)
            error = {"message": "Rate limit reached (simulated)", "type": "rate_limit_error"}
            return JSONResponse({"error": error}, status_code=429)

        self._responses += 1
        prompt_tokens = SYSTEM_PROMPT_TOKENS + sum(
            len(str(m.get("content") or "").split()) for m in messages
        )
        # A tool first when the message needs one, then the answer from its result.
        tool = None if tool_results else tool_for(message)
        text = "" if tool else reply_to(message, tool_results[-1] if tool_results else None)
        completion_tokens = TOOL_CALL_TOKENS if tool else len(text.split(" "))
        answer = _Answer(
            f"chatcmpl-{self._responses}", tool, text, prompt_tokens, completion_tokens
        )
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(answer.chunks(include_usage), media_type="text/event-stream")
        return JSONResponse(answer.completion())


@dataclass(frozen=True)
class _Answer:
    """One response, as a ``chat.completion`` or as its stream of chunks."""

    id: str
    tool: ToolRequest | None
    text: str
    prompt_tokens: int
    completion_tokens: int

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": int(time.time()), "model": RESPONSE_MODEL}

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool else "stop"

    @property
    def usage(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": total,
        }

    def _tool_calls(self, index: bool) -> list[dict[str, Any]]:
        if self.tool is None:
            return []
        call = {
            "id": f"call-{'-'.join(self.tool.arguments.values())}",
            "type": "function",
            "function": {"name": self.tool.name, "arguments": json.dumps(self.tool.arguments)},
        }
        return [{"index": 0, **call} if index else call]

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool:
            message["tool_calls"] = self._tool_calls(index=False)
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {**self._envelope("chat.completion"), "choices": [choice], "usage": self.usage}

    async def chunks(self, include_usage: bool) -> AsyncIterator[str]:
        deltas: list[dict[str, Any]] = []
        if self.tool:
            deltas.append({"role": "assistant", "tool_calls": self._tool_calls(index=True)})
        for position, word in enumerate(self.text.split(" ") if self.text else []):
            delta: dict[str, Any] = {"content": word if position == 0 else " " + word}
            deltas.append({"role": "assistant", **delta} if position == 0 else delta)
        for delta in deltas:
            yield self._event([{"index": 0, "delta": delta, "finish_reason": None}])
            await asyncio.sleep(TOKEN_DELAY)
        yield self._event([{"index": 0, "delta": {}, "finish_reason": self.finish_reason}])
        if include_usage:
            yield self._event([], usage=self.usage)
        yield "data: [DONE]\n\n"

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        payload = {**self._envelope("chat.completion.chunk"), "choices": choices, **extra}
        return f"data: {json.dumps(payload)}\n\n"
