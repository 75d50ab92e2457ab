"""What every scenario app does, whatever its framework.

Each app serves four routes (see ``ecosystem.scenario``) and, in each, creates
spans tagged with the request's ``X-Test-Tag`` header, so a test can pick the
spans of one request out of everything an exporter saw. Nothing here imports a
web framework.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry.trace import Tracer

from otel_genai_session import get_session_context

TAG_HEADER: Final = "X-Test-Tag"
TAG_ATTRIBUTE: Final = "test.tag"
STREAM_CHUNKS: Final = 3

# The options every scenario app passes to the middleware: ids from the default
# headers, a cookie and the JSON body, and the session id echoed back.
MIDDLEWARE_OPTIONS: Final[dict[str, Any]] = {
    "cookie_mapping": {"uid": "user_id"},
    "body_mapping": {"metadata.customer": "customer_id"},
    "response_header": "X-Session-ID",
}


def session_dict() -> dict[str, str | None]:
    """The session in effect, as the apps report it in their JSON replies."""
    session = get_session_context()
    return {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "customer_id": session.customer_id,
    }


def reply(**extra: Any) -> dict[str, Any]:
    """The JSON document of a ``/chat`` or ``/plain`` reply."""
    return {"session": session_dict(), "thread": threading.get_ident(), **extra}


@contextmanager
def tagged_span(tracer: Tracer, name: str, tag: str | None) -> Iterator[None]:
    with tracer.start_as_current_span(name, attributes={TAG_ATTRIBUTE: tag or ""}):
        yield


def chunks(tracer: Tracer, tag: str | None) -> Iterator[bytes]:
    """A synchronous streamed body: one span per chunk, created while streaming."""
    for index in range(STREAM_CHUNKS):
        with tagged_span(tracer, "chunk", tag):
            yield f"chunk-{index}\n".encode()


async def achunks(tracer: Tracer, tag: str | None) -> AsyncIterator[bytes]:
    """The asynchronous twin of :func:`chunks`."""
    for index in range(STREAM_CHUNKS):
        with tagged_span(tracer, "chunk", tag):
            yield f"chunk-{index}\n".encode()


def fail(tracer: Tracer, tag: str | None) -> None:
    """The ``/error`` route: a span while the session is in effect, then a crash."""
    with tagged_span(tracer, "before-error", tag):
        pass
    raise RuntimeError("scenario error")
