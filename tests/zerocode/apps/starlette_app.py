"""Starlette, as written by someone who never heard of otel-genai-session."""

from __future__ import annotations

import logging

from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

tracer = trace.get_tracer(__name__)
log = logging.getLogger("zerocode.starlette")


async def chat(request: Request) -> JSONResponse:
    with tracer.start_as_current_span("app work"):
        log.warning("chat handled")
        return JSONResponse({"reply": "hello"})


app = Starlette(routes=[Route("/chat", chat)])
