"""Helpers for the LangChain tests: scripted models, a real tool, span-tree queries.

The models are langchain-core's own fakes (``GenericFakeChatModel``) with a
model name, request settings and a provider, so the callbacks see what a real
integration reports, without network or API key.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import uvicorn
from langchain_core.language_models import LangSmithParams
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from opentelemetry.sdk.trace import ReadableSpan

from otel_genai_session.attributes import CUSTOMER_ID, SESSION_ID, USER_ID

Ids = tuple[str | None, str | None, str | None]
NO_IDS: Ids = (None, None, None)
MODEL = "fake-gpt"


def reply(content: str = "hello there", **fields: Any) -> AIMessage:
    """An answer as a provider integration returns it: usage, finish reason, ids."""
    return AIMessage(
        content=content,
        usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
        response_metadata={
            "finish_reason": "stop",
            "model_name": f"{MODEL}-0613",
            "id": "chatcmpl-1",
        },
        **fields,
    )


class FakeChat(GenericFakeChatModel):
    """``GenericFakeChatModel`` with a model name, settings and provider, like a real one."""

    model: str = MODEL
    temperature: float = 0.2
    max_tokens: int = 64

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        return params


def chat_model(*messages: AIMessage | str) -> FakeChat:
    """A model answering ``messages`` in turn, forever (safe to share between runs)."""
    return FakeChat(messages=itertools.cycle(messages or (reply(),)))


def simple_chain(model: FakeChat | None = None) -> Runnable[dict[str, Any], str]:
    """prompt | model | parser: the LangChain "hello world"."""
    prompt = ChatPromptTemplate.from_messages([("human", "{input}")])
    return prompt | (model or chat_model()) | StrOutputParser()


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


def tool_call_reply(name: str = "add", call_id: str = "call-1", **args: int) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": args or {"a": 1, "b": 2}, "id": call_id}],
    )


# -- span queries ----------------------------------------------------------------------


def ids_of(span: ReadableSpan) -> Ids:
    attributes = span.attributes or {}
    values = (attributes.get(SESSION_ID), attributes.get(USER_ID), attributes.get(CUSTOMER_ID))
    return tuple(None if value is None else str(value) for value in values)  # type: ignore[return-value]


def by_name(spans: Iterable[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def one(spans: Iterable[ReadableSpan], name: str) -> ReadableSpan:
    found = by_name(spans, name)
    assert len(found) == 1, (name, [span.name for span in spans])
    return found[0]


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    """The exported span that is ``span``'s parent; None for a root or an outside parent."""
    if span.parent is None:
        return None
    for candidate in spans:
        if candidate.context.span_id == span.parent.span_id:
            return candidate
    return None


def tree(spans: Sequence[ReadableSpan]) -> list[tuple[int, str]]:
    """``(depth, name)`` in start order, depth-first: the shape of one trace."""
    children: dict[int | None, list[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    shape: list[tuple[int, str]] = []

    def walk(parent: int | None, depth: int) -> None:
        for child in children.get(parent, []):
            shape.append((depth, child.name))
            walk(child.context.span_id, depth + 1)

    walk(None, 0)
    return shape


def traces(spans: Iterable[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    grouped: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        grouped.setdefault(span.context.trace_id, []).append(span)
    return grouped


# -- a real server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UvicornThread:
    """A uvicorn server on 127.0.0.1 in a background thread, started and stopped in
    bounded time."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
