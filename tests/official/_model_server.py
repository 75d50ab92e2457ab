"""A local OpenAI-shaped model server: ``POST /v1/chat/completions``, JSON or SSE.

It answers ``echo: <last user message>`` with usage counted in words, streamed
as ``chat.completion.chunk`` events (and a final usage chunk when the client
asks for ``stream_options.include_usage``) or as one ``chat.completion``: what
the real ``openai`` client and the official instrumentation parse.

It can hold every request until ``rendezvous`` of them are in flight at once,
so a test knows its concurrent requests really overlapped in the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["ModelServer"]

MODEL = "echo-1"


class ModelServer:
    """The ASGI app (``.app``) and what it saw (``.requests``, ``.peak_in_flight``).

    Args:
        rendezvous: hold each request until this many are in flight (or
            ``wait`` seconds passed): 0 answers at once.
    """

    def __init__(self, rendezvous: int = 0, wait: float = 10.0) -> None:
        self.rendezvous = rendezvous
        self.wait = wait
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._everyone_here: asyncio.Event | None = None  # made on the server's loop
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self._wait_for_the_others()
        finally:
            self.in_flight -= 1
        question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        reply = f"echo: {question}"
        usage = {
            "prompt_tokens": sum(len(str(m["content"]).split()) for m in body["messages"]),
            "completion_tokens": len(reply.split()),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _stream(reply, usage if include_usage else None)
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(
            {
                **_envelope("chat.completion"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )

    async def _wait_for_the_others(self) -> None:
        if not self.rendezvous:
            return
        if self._everyone_here is None:
            self._everyone_here = asyncio.Event()
        if self.peak_in_flight >= self.rendezvous:
            self._everyone_here.set()
        with contextlib.suppress(asyncio.TimeoutError):  # the test asserts on the peak
            await asyncio.wait_for(self._everyone_here.wait(), self.wait)


def _envelope(kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": kind, "created": int(time.time()), "model": MODEL}


async def _stream(reply: str, usage: dict[str, int] | None) -> AsyncIterator[str]:
    words = reply.split(" ")
    for index, word in enumerate(words):
        delta = {"content": word if index == 0 else " " + word}
        if index == 0:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        yield _event({**_envelope("chat.completion.chunk"), "choices": [choice]})
        await asyncio.sleep(0)
    last = {"index": 0, "delta": {}, "finish_reason": "stop"}
    yield _event({**_envelope("chat.completion.chunk"), "choices": [last]})
    if usage is not None:
        yield _event({**_envelope("chat.completion.chunk"), "choices": [], "usage": usage})
    yield "data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"
