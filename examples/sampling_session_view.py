"""The demo's traffic sampled at 10%, per trace and per session: what a session view keeps.

    python examples/sampling_session_view.py [--copies 100] [--ratio 0.1]

Plays the demo's four conversations (examples/demo/) ``--copies`` times each,
every copy its own session, against the demo's chat service (and its model
server) under uvicorn on 127.0.0.1, in the demo's environment, twice: once
with the SDK's ``ParentBased(TraceIdRatioBased)``, once with
``ParentBasedSessionRatioSampler``, at the same ratio. Then it counts, from
the exported spans, how many sessions arrived whole, in part or not at all, and
draws the requests of a few sessions (● kept, ○ dropped). It exits 1 if the
session sampler left any session partly kept, or kept none at all.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, Sampler
from opentelemetry.trace import SpanKind

from otel_genai_session.handler import TelemetryHandler
from otel_genai_session.processor import SessionSpanProcessor
from otel_genai_session.sampling import ParentBasedSessionRatioSampler

sys.path.insert(0, str(Path(__file__).resolve().parent / "demo"))
from chat_client import CONVERSATIONS, Conversation, play
from chat_service import connect_model, create_app
from model_server import ModelServer

CONCURRENCY = 32  # conversations in flight at once
SHOWN = 8  # sessions drawn


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """uvicorn in a thread, on a socket bound here (the port is never released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=15
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the chat service did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def conversations(copies: int) -> list[Conversation]:
    """The demo's conversations, each copy with a session id of its own."""
    return [
        dataclasses.replace(c, session_id=f"{c.session_id or f'{c.tenant}-{c.user}-new'}-{n:03d}")
        for n in range(copies)
        for c in CONVERSATIONS
    ]


async def play_many(url: str, traffic: Sequence[Conversation]) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)
    # Idle connections are dropped by the client well before the server's
    # keep-alive timeout, so none is reused just as the server closes it.
    limits = httpx.Limits(max_connections=CONCURRENCY, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=url, timeout=30.0, trust_env=False, limits=limits
    ) as client:

        async def one(conversation: Conversation) -> None:
            async with limit:
                await play(client, conversation, lambda *_: None)

        await asyncio.gather(*(one(c) for c in traffic))


def kept_requests(sampler: Sampler, traffic: Sequence[Conversation]) -> Counter[str]:
    """Requests kept per session: the server spans exported under ``sampler``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with serving(ModelServer().app) as model:
        app = create_app(TelemetryHandler(provider), provider, connect_model(model))
        with serving(app) as url:
            asyncio.run(play_many(url, traffic))
    provider.shutdown()
    return Counter(
        str((span.attributes or {}).get("session.id"))
        for span in exporter.get_finished_spans()
        if span.kind is SpanKind.SERVER
    )


def summary_row(name: str, kept: Counter[str], requests: dict[str, int]) -> str:
    whole = sum(1 for s, n in kept.items() if n == requests[s])
    partial = len(kept) - whole
    total = sum(requests.values())
    return (
        f"  {name:<34} {len(kept):>8} {whole:>9} {partial:>9} "
        f"{sum(kept.values()):>7} of {total} ({sum(kept.values()) / total:.0%})"
    )


def strip(kept: int, requests: int) -> str:
    """A session's requests, kept ones first (which ones is not recorded here)."""
    return "●" * kept + "○" * (requests - kept)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--copies", type=int, default=100, help="copies of each conversation")
    parser.add_argument("--ratio", type=float, default=0.1)
    args = parser.parse_args(argv)
    traffic = conversations(args.copies)
    requests = {str(c.session_id): len(c.turns) for c in traffic}
    per_trace = kept_requests(ParentBasedTraceIdRatio(args.ratio), traffic)
    per_session = kept_requests(ParentBasedSessionRatioSampler(args.ratio), traffic)

    print(
        f"The demo's traffic sampled at {args.ratio:.0%}: {len(traffic)} sessions "
        f"({args.copies} copies of its {len(CONVERSATIONS)} conversations), "
        f"{sum(requests.values())} requests\n"
    )
    print(f"  {'sampler':<34} {'sessions':>8} {'complete':>9} {'partial':>9} requests kept")
    print(summary_row("ParentBased(TraceIdRatioBased)", per_trace, requests))
    print(summary_row("ParentBasedSessionRatioSampler", per_session, requests))

    shown = [s for s in requests if s in per_trace or s in per_session][:SHOWN]
    print(f"\n  {'session':<24} {'per trace':<10} per session   (● request kept, ○ dropped)")
    for session in shown:
        total = requests[session]
        print(
            f"  {session:<24} {strip(per_trace[session], total):<10} "
            f"{strip(per_session[session], total)}"
        )

    partial = [s for s, n in per_session.items() if n != requests[s]]
    if partial or not per_session:
        print(f"\n✗ the session sampler kept {len(partial)} session(s) in part")
        return 1
    print(f"\n✓ {len(per_session)} sessions kept whole by the session sampler, none in part.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
