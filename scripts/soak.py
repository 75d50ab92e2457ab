"""Soak: concurrent requests, normal and hostile, against real servers on loopback.

For each server (uvicorn + httptools and hypercorn over HTTP/2 with a
Starlette app under GenAISessionMiddleware; gunicorn gthread and, optionally,
werkzeug's threaded server with a Flask app under SessionWSGIMiddleware),
this script starts the server in a subprocess on a socket bound before it
starts (127.0.0.1, OS-assigned port), warms it up, then drives it for a fixed
time over ``--concurrency`` keep-alive connections, one request in flight on
each. The app is served twice by the same process: under ``/ours/`` behind
the middleware and under ``/bare/`` without it.

- Normal requests (``/ours/`` only) carry their own ids from three sources at
  once: session in the ``X-Session-ID`` header, user in the ``uid`` cookie,
  tenant in the JSON body (POST /chat) or the query (GET /sync, in a thread
  pool on ASGI; GET /stream, five chunks each with a span after a pause).
  Cross-talk is checked twice: the server's exporter compares every span's ids
  with the ids the app parsed itself, the client compares the ids echoed in
  every response and streamed chunk with the ones it sent.
- Hostile requests (one in five, to ``/ours/`` and ``/bare/`` alike): one
  header repeated hundreds or thousands of times, a JSON body in thousands of
  1-byte chunks (empty DATA frames over HTTP/2), a huge cookie, a huge query
  string, a ``baggage`` header with escape sequences and 200 members; each as
  large as the server accepts. Plain GETs (one in ten) to both, too.
- Memory: the serving process's VmRSS (after a gc) at the start and end of
  the measured window, and the growth per 100k requests.
- Latency: the server times every request by kind and variant (from entering
  the app stack to the end of the response); per kind, the median and the 99th
  percentile with the middleware minus without. The check is that neither is
  more than 1 ms.

Bounded: loopback only, fixed duration, every wait has a timeout, and each
server process exits by itself after ``warmup + duration + 120`` s.

Usage::

    python scripts/soak.py --duration 60 --concurrency 200            # the three servers
    python scripts/soak.py --duration 600 --servers uvicorn --report soak.json

Exit status 0 when there was no cross-talk, no failed request and no kind
slower by more than 1 ms with the middleware, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _soak_apps import BUCKET_MS, serve  # noqa: E402
from _soak_client import drive  # noqa: E402

SERVERS = {
    "uvicorn": "uvicorn (httptools) + Starlette + GenAISessionMiddleware",
    "hypercorn": "hypercorn (HTTP/2, prior knowledge) + Starlette + GenAISessionMiddleware",
    "gunicorn": "gunicorn gthread (1 worker, 32 threads) + Flask + SessionWSGIMiddleware",
    "werkzeug": "werkzeug threaded + Flask + SessionWSGIMiddleware",
}
SLOWER_AT_MOST_MS = 1.0


def get_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def percentile(histogram: list[int], fraction: float) -> float | None:
    total = sum(histogram)
    if not total:
        return None
    rank, seen = fraction * total, 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return (bucket + 0.5) * BUCKET_MS
    return len(histogram) * BUCKET_MS


def latency_by_kind(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """Per kind: p50 and p99 in ms for both variants, over the measured window."""
    window: dict[str, list[int]] = {}
    for key, counts in end["histograms"].items():
        before = start["histograms"].get(key, [0] * len(counts))
        window[key] = [a - b for a, b in zip(counts, before, strict=True)]
    result: dict[str, Any] = {}
    for kind in sorted({key.rsplit(" ", 1)[0] for key in window}):
        ours, bare = window.get(f"{kind} ours"), window.get(f"{kind} bare")
        if ours is None or bare is None:
            continue
        row = {"requests": [sum(bare), sum(ours)]}
        for name, fraction in (("p50", 0.5), ("p99", 0.99)):
            mine, theirs = percentile(ours, fraction), percentile(bare, fraction)
            row[f"{name}_ms"] = [theirs, mine]
            row[f"{name}_slower_ms"] = None if mine is None or theirs is None else mine - theirs
        result[kind] = row
    return result


def start_server(kind: str, lifetime: float) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--lifetime", str(lifetime)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the child prints its port first, or dies
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"{kind} server did not start: {line!r}")
    port = int(line.split()[1])
    for _ in range(100):
        try:
            get_stats(port)
            break
        except Exception:
            time.sleep(0.1)
    return process, port


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def run_server(kind: str, duration: float, concurrency: int, warmup: float) -> dict[str, Any]:
    process, port = start_server(kind, duration + warmup + 120)
    try:
        warm = asyncio.run(drive(port, kind, concurrency, warmup)).ok
        start = get_stats(port)
        load = asyncio.run(drive(port, kind, concurrency, duration))
        end = get_stats(port)
    finally:
        stop(process)
    served = end["requests"] - start["requests"]
    growth = (end["rss_kb"] - start["rss_kb"]) / served * 100_000 if served else 0.0
    latency = latency_by_kind(start, end)
    slower = [
        kind_name
        for kind_name, row in latency.items()
        if any((row[f"{p}_slower_ms"] or 0) > SLOWER_AT_MOST_MS for p in ("p50", "p99"))
    ]
    return {
        "server": SERVERS[kind],
        "duration_s": duration,
        "concurrency": concurrency,
        "warmup_requests_ok": warm,
        "requests_served": served,
        "requests_ok": load.ok,
        "requests_failed": load.failed,
        "hostile_requests": load.hostile,
        "streamed_responses": load.streamed,
        "requests_per_s": round(served / duration, 1),
        "spans_checked": end["spans"] - start["spans"],
        "crosstalk_spans": end["crosstalk"],
        "crosstalk_responses": load.crosstalk,
        "rss_start_kb": start["rss_kb"],
        "rss_end_kb": end["rss_kb"],
        "rss_growth_kb_per_100k_requests": round(growth, 1),
        "latency_bare_vs_ours": latency,
        "slower_than_1ms_with_middleware": slower,
        "examples": end["examples"] + load.examples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds per server")
    parser.add_argument("--concurrency", type=int, default=200, help="connections")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of warm-up load")
    parser.add_argument("--servers", default="uvicorn,hypercorn,gunicorn",
                        help=f"comma-separated, of: {', '.join(SERVERS)}")  # fmt: skip
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=300, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.lifetime)
        return 0

    results = []
    for kind in [k.strip() for k in args.servers.split(",") if k.strip()]:
        print(f"soaking {kind} for {args.duration:.0f} s at concurrency {args.concurrency}...")
        result = run_server(kind, args.duration, args.concurrency, args.warmup)
        print(json.dumps(result, indent=2), flush=True)
        results.append(result)
    if args.report:
        args.report.write_text(json.dumps(results, indent=2))
    bad = any(
        r["crosstalk_spans"]
        or r["crosstalk_responses"]
        or r["requests_failed"]
        or r["slower_than_1ms_with_middleware"]
        for r in results
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
