"""Session ids on log records: the stdlib filter and the OpenTelemetry log processor."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from otel_genai_session import session_context
from otel_genai_session.executor import ContextThreadPoolExecutor
from otel_genai_session.logs import SessionLogFilter, SessionLogRecordProcessor
from otel_genai_session.middleware import GenAISessionMiddleware

FORMAT = "%(session_id)s|%(user_id)s|%(customer_id)s|%(message)s"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler carries the filter, configured with dictConfig."""
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {
                "session": {"()": SessionLogFilter, "default_value": "-"},
            },
            "formatters": {"plain": {"format": FORMAT}},
            "handlers": {
                "memory": {
                    "class": "logging.StreamHandler",
                    "stream": stream,
                    "filters": ["session"],
                    "formatter": "plain",
                }
            },
            "loggers": {"test.app": {"handlers": ["memory"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger("test.app")
    yield logger, stream
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_filter_adds_ids_inside_a_session_and_defaults_outside(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("before")
    with session_context(session_id="s1", user_id="u1", customer_id="c1"):
        logger.info("inside")
    logger.info("after")
    assert lines(stream) == ["-|-|-|before", "s1|u1|c1|inside", "-|-|-|after"]


def test_filter_follows_asyncio_tasks(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    async def conversation(name: str) -> None:
        with session_context(session_id=name):
            for _ in range(3):
                await asyncio.sleep(0)
                logger.info(name)

    async def main() -> None:
        await asyncio.gather(*(conversation(f"task-{i}") for i in range(5)))

    asyncio.run(main())
    for line in lines(stream):
        session_id, _, _, message = line.split("|")
        assert session_id == message


def test_filter_follows_threads_carried_by_the_executor(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    with session_context(session_id="carried"), ContextThreadPoolExecutor(2) as pool:
        pool.submit(logger.info, "in-pool").result(timeout=10)
    plain = threading.Thread(target=logger.info, args=("plain-thread",))
    with session_context(session_id="not-carried"):
        plain.start()
        plain.join(timeout=10)
    assert lines(stream) == ["carried|-|-|in-pool", "-|-|-|plain-thread"]


def test_filter_with_the_asgi_middleware(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    async def chat(request: Request) -> PlainTextResponse:
        logger.info("handled")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/chat", chat)])
    app.add_middleware(GenAISessionMiddleware)
    with TestClient(app) as client:
        client.get("/chat", headers={"X-Session-ID": "web-1", "X-Tenant-ID": "acme"})
        client.get("/chat")
    assert lines(stream) == ["web-1|-|acme|handled", "-|-|-|handled"]


def test_otel_log_records_carry_span_attribute_names() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SessionLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("test.otel")
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        with session_context(session_id="s9", user_id="u9", customer_id="c9"):
            logger.warning("inside", extra={"session.id": "kept"})
    finally:
        logger.removeHandler(handler)
    outside, inside = (record.log_record for record in exporter.get_finished_logs())
    assert "session.id" not in (outside.attributes or {})
    attributes = dict(inside.attributes or {})
    # A value the record already had is kept; the others are added.
    assert attributes["session.id"] == "kept"
    assert (attributes["user.id"], attributes["customer.id"]) == ("u9", "c9")
