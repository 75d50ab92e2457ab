"""The demo's client: scripted conversations played concurrently over real HTTP.

Two tenants send their ids differently, as real clients do:

- ``acme`` puts all three ids in headers (``X-Session-ID``, ``X-User-ID``,
  ``X-Tenant-ID``), the middleware's defaults;
- ``globex`` sends the tenant in a header, the session id in a ``chat_session``
  cookie and the user id in the JSON body (``metadata.user_id``). Its first
  conversation starts without a session id: the server generates one and
  returns it in the ``X-Session-ID`` response header, and the client sends it
  back, in the cookie, on the next turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx


@dataclass(frozen=True)
class Turn:
    message: str
    stream: bool = False


@dataclass(frozen=True)
class Conversation:
    tenant: str
    user: str
    session_id: str | None  # None: let the server generate one
    ids_in: Literal["headers", "cookie+body"]
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Played:
    """What a conversation turned out to be: the ids its spans must carry."""

    tenant: str
    user: str
    session_id: str
    requests: int
    generated: bool  # the client sent no session id: the server made this one up


CONVERSATIONS = (
    Conversation(
        "acme",
        "alice",
        "acme-alice-1",
        "headers",
        (
            Turn("Hi! What's the weather in Paris?", stream=True),
            Turn("And in Oslo?", stream=True),
            Turn("Thanks, bye!"),
        ),
    ),
    Conversation(
        "acme",
        "bob",
        "acme-bob-1",
        "headers",
        (
            Turn("Where is my order A-1001?"),
            Turn("And order A-404?"),  # no such order: the tool call fails
        ),
    ),
    Conversation(
        "globex",
        "carol",
        None,
        "cookie+body",
        (
            Turn("Hello, I need a refund for order G-7.", stream=True),  # model throttled once
            Turn("Great, thank you!"),
        ),
    ),
    Conversation(
        "globex",
        "carol",
        "globex-carol-7",
        "cookie+body",
        (Turn("What's the weather in Tokyo?", stream=True), Turn("Bye!", stream=True)),
    ),
)

Log = Callable[[Conversation, str | None, Turn, str], None]


async def play(client: httpx.AsyncClient, conversation: Conversation, log: Log) -> Played:
    session_id = conversation.session_id
    for turn in conversation.turns:
        body: dict[str, object] = {"message": turn.message, "stream": turn.stream}
        headers = {"X-Tenant-ID": conversation.tenant}
        if conversation.ids_in == "headers":
            headers["X-User-ID"] = conversation.user
            if session_id is not None:
                headers["X-Session-ID"] = session_id
        else:
            body["metadata"] = {"user_id": conversation.user}
            if session_id is not None:
                headers["Cookie"] = f"chat_session={session_id}"
        if turn.stream:
            async with client.stream("POST", "/chat", json=body, headers=headers) as response:
                response.raise_for_status()
                reply = "".join([chunk async for chunk in response.aiter_text()]).strip()
        else:
            response = await client.post("/chat", json=body, headers=headers)
            response.raise_for_status()
            reply = str(response.json()["reply"])
        returned = response.headers.get("X-Session-ID")
        if session_id is not None and returned != session_id:
            raise RuntimeError(f"the server answered for session {returned!r}, not {session_id!r}")
        session_id = returned
        log(conversation, session_id, turn, reply)
    if session_id is None:
        raise RuntimeError("the server returned no session id")
    generated = conversation.session_id is None
    return Played(
        conversation.tenant, conversation.user, session_id, len(conversation.turns), generated
    )


async def play_all(base_url: str, log: Log) -> list[Played]:
    """Every conversation at once; the turns of one conversation in order."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0, trust_env=False) as client:
        return list(await asyncio.gather(*(play(client, c, log) for c in CONVERSATIONS)))
