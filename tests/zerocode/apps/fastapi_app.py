"""FastAPI, as written by someone who never heard of otel-genai-session."""

from __future__ import annotations

import logging
import os

import httpx
from fastapi import FastAPI
from opentelemetry import trace

app = FastAPI()
tracer = trace.get_tracer(__name__)
log = logging.getLogger("zerocode.fastapi")


@app.get("/chat")
async def chat() -> dict[str, str]:
    with tracer.start_as_current_span("app work"):
        log.warning("chat handled")
        downstream = os.environ.get("DOWNSTREAM_URL")
        if downstream:
            async with httpx.AsyncClient(trust_env=False) as client:
                reply = (await client.get(f"{downstream}/chat")).json()
            return {"reply": f"downstream said {reply['reply']}"}
    return {"reply": "hello"}
