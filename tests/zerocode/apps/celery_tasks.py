"""A Celery app and its task, imported by the worker and by the web app that sends it."""

from __future__ import annotations

import os

from celery import Celery
from opentelemetry import trace

app = Celery("zerocode")
_socket = os.environ.get("ZEROCODE_REDIS_SOCKET", "/nonexistent/redis.sock")
app.conf.update(
    broker_url=f"redis+socket://{_socket}",
    result_backend=f"redis+socket://{_socket}",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
tracer = trace.get_tracer(__name__)


@app.task
def summarise(text: str) -> str:
    with tracer.start_as_current_span("task work"):
        return text.upper()
