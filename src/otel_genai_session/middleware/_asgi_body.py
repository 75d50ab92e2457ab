"""Buffering an ASGI request body for the ids in it, and replaying it to the app.

The app must get exactly what it would have got without us: the very same
messages (same bytes, same ``more_body`` flags), then the server's own
``receive``, never a made-up disconnect. What we hold and do is bounded: at
most ``max_body_size`` bytes of body in at most ``max(16, max_body_size /
256)`` messages (a message costs about 256 bytes besides its body), and past
the first 16, no more messages than bytes (an empty message costs a Python
step and brings nothing), so empty or 1-byte messages can make us neither
hoard nor spin; past a bound, buffering stops and the messages go to the app
untouched, unparsed.

Usage::

    receive, body, skipped = await buffer_body(receive, max_body_size=1024 * 1024)
    # body: the complete body, or None (then ``skipped`` says why, or None if
    # the client left)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from otel_genai_session.middleware._resolver import EMPTY_PIECES, OVER_LIMIT, TOO_MANY_PIECES

__all__ = ["FREE_MESSAGES", "MESSAGE_COST", "buffer_body", "most_messages"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

MESSAGE_COST: Final = 256
"""Bytes a buffered message costs besides its body (dict, bytes object, queue slot)."""
FREE_MESSAGES: Final = 16
"""Messages buffered whatever they carry; past them, no more messages than bytes."""


def most_messages(max_body_size: int) -> int:
    """The most messages buffered for one request's body."""
    return max(FREE_MESSAGES, max_body_size // MESSAGE_COST)


async def buffer_body(
    receive: Receive, max_body_size: int
) -> tuple[Receive, bytes | None, str | None]:
    """Read the body until its end or a bound; returns a ``receive`` replaying
    what was read, the body (None unless complete and within bounds) and why
    a body that arrived was not kept (None: complete, or the client left)."""
    most = most_messages(max_body_size)
    messages: deque[Message] = deque()
    chunks: list[bytes] = []
    received = 0
    body = skipped = None
    error: Exception | None = None
    while True:
        try:
            message = await receive()
        except Exception as exc:  # the app will meet it where it would have
            # Without its traceback, whose frames would hold it (through this
            # frame) and the buffered messages in a cycle until a collection.
            error = exc.with_traceback(None)
            break
        messages.append(message)
        if message["type"] != "http.request":  # http.disconnect mid-body
            break
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > max_body_size:
            skipped = OVER_LIMIT % max_body_size
            break
        if len(messages) > FREE_MESSAGES + received:
            skipped = EMPTY_PIECES % FREE_MESSAGES
            break
        if len(messages) > most:
            skipped = TOO_MANY_PIECES % most
            break
        chunks.append(chunk)
        if not message.get("more_body", False):
            body = b"".join(chunks)
            break
    del chunks
    return _replay(messages, error, receive), body, skipped


def _replay(messages: deque[Message], error: Exception | None, receive: Receive) -> Receive:
    async def replay() -> Message:
        if messages:
            return messages.popleft()
        if error is not None:
            raise error
        return await receive()

    return replay
