"""Flask, as written by someone who never heard of otel-genai-session."""

from __future__ import annotations

import logging
import os

import httpx
from flask import Flask
from opentelemetry import trace

app = Flask(__name__)
tracer = trace.get_tracer(__name__)
log = logging.getLogger("zerocode.flask")


@app.get("/chat")
def chat() -> dict[str, str]:
    with tracer.start_as_current_span("app work"):
        log.warning("chat handled")
        downstream = os.environ.get("DOWNSTREAM_URL")
        if downstream:
            with httpx.Client(trust_env=False) as client:
                reply = client.get(f"{downstream}/chat").json()
            return {"reply": f"downstream said {reply['reply']}"}
    return {"reply": "hello"}
