"""Soak: concurrent requests, normal and hostile, against real servers on loopback.

Servers: uvicorn + httptools and hypercorn over HTTP/2 (prior knowledge), each
with a Starlette app under GenAISessionMiddleware; gunicorn gthread (and,
optionally, werkzeug's threaded server) with a Flask app under
SessionWSGIMiddleware. Each runs in a subprocess on a socket bound before it
starts (127.0.0.1, OS-assigned port) and serves the app twice: under
``/ours/`` behind the middleware, under ``/bare/`` without it.

For each server, two processes in turn, the same load for the same time over
``--concurrency`` keep-alive connections (one request in flight on each),
after a warm-up: one with every request to ``/bare/`` (the control), one with
every request to ``/ours/``. Of the requests:

- four in five are normal: distinct ids from three sources at once (session in
  ``X-Session-ID``, user in the ``uid`` cookie, tenant in the JSON body of POST
  /chat or the query of GET /sync, run in a thread pool on ASGI, and GET
  /stream, five chunks each with a span after a pause). Under ``/ours/`` the
  server's exporter checks every span's ids against the ids the app parsed
  itself, and the client checks the ids echoed in every response and chunk;
- one in five is hostile or plain, each kind in turn: one header repeated
  hundreds or thousands of times, a JSON body in thousands of 1-byte chunks
  (empty DATA frames over HTTP/2), a huge cookie, a huge query string, a
  ``baggage`` header with escape sequences, a malformed member, one over
  4096 bytes and 200 members; each as large as the server accepts. A plain GET.

Memory: the serving process's VmRSS (after a gc) at the start of the window
and after each of its five segments, with and without the middleware. Speed:
after the loaded window, each compared kind ``--pairs`` times with and without
the middleware, one request at a time (the server times each from entering the
app stack to the end of the response, so no queueing is counted); the check is
that the median and the 90th percentile are at most 1 ms slower with it.

Bounded: loopback only, fixed durations, every wait has a timeout, and each
server process exits by itself after ``warmup + duration + 300`` s.

Usage::

    python scripts/soak.py --duration 60 --concurrency 200            # the three servers
    python scripts/soak.py --duration 600 --servers uvicorn --report soak.json

Exit status 0 when there was no cross-talk, no failed request and no kind
more than 1 ms slower with the middleware, else 1.
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

from _soak_apps import BUCKET_MS, serve
from _soak_client import Load, compare_one_by_one, drive

SERVERS = {
    "uvicorn": "uvicorn (httptools) + Starlette + GenAISessionMiddleware",
    "hypercorn": "hypercorn (HTTP/2, prior knowledge) + Starlette + GenAISessionMiddleware",
    "gunicorn": "gunicorn gthread (1 worker, 32 threads) + Flask + SessionWSGIMiddleware",
    "werkzeug": "werkzeug threaded + Flask + SessionWSGIMiddleware",
}
SLOWER_AT_MOST_MS = 1.0
SEGMENTS = 5
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
CHECKED_PERCENTILES = ("p50", "p90")  # p99 of a few dozen requests is one request's luck


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


def latency_by_kind(start: dict[str, Any], end: dict[str, Any], tag: str) -> dict[str, Any]:
    """Per kind timed under ``tag``: percentiles in ms without and with the
    middleware, and how much slower with it."""
    window: dict[str, list[int]] = {}
    for key, counts in end["histograms"].items():
        if key.startswith(tag):
            before = start["histograms"].get(key, [0] * len(counts))
            window[key[len(tag) :]] = [a - b for a, b in zip(counts, before, strict=True)]
    result: dict[str, Any] = {}
    for kind in sorted({key.rsplit(" ", 1)[0] for key in window}):
        ours, bare = window.get(f"{kind} ours"), window.get(f"{kind} bare")
        if ours is None or bare is None:
            continue
        row: dict[str, Any] = {"requests": [sum(bare), sum(ours)]}
        for name, fraction in PERCENTILES.items():
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


def loaded_window(
    kind: str, variant: str, duration: float, concurrency: int, warmup: float, pairs: int
) -> dict[str, Any]:
    """One server process: warm-up, then the measured window in segments (RSS
    read between them), all requests to ``/{variant}/``; under ``ours``, then
    the one-by-one comparison."""
    process, port = start_server(kind, duration + warmup + 300)
    try:
        warm = asyncio.run(drive(port, kind, concurrency, warmup, variant)).ok
        start = get_stats(port)
        rss, loads = [start["rss_kb"]], []
        for _ in range(SEGMENTS):
            loads.append(asyncio.run(drive(port, kind, concurrency, duration / SEGMENTS, variant)))
            rss.append(get_stats(port)["rss_kb"])
        end = get_stats(port)
        compared = {}
        if variant == "ours":
            loads.append(asyncio.run(compare_one_by_one(port, kind, pairs)))
            compared = latency_by_kind(end, get_stats(port), "1by1 ")
    finally:
        stop(process)
    served = end["requests"] - start["requests"]
    return {"warm": warm, "served": served, "rss": rss, "load": Load.total(loads),
            "start": start, "end": end, "compared": compared}  # fmt: skip


def run_server(
    kind: str, duration: float, concurrency: int, warmup: float, pairs: int
) -> dict[str, Any]:
    control = loaded_window(kind, "bare", duration, concurrency, warmup, pairs)
    ours = loaded_window(kind, "ours", duration, concurrency, warmup, pairs)
    load, start, end = ours["load"], ours["start"], ours["end"]
    slower = [
        name
        for name, row in ours["compared"].items()
        if any((row[f"{p}_slower_ms"] or 0) > SLOWER_AT_MOST_MS for p in CHECKED_PERCENTILES)
    ]
    return {
        "server": SERVERS[kind],
        "duration_s": duration,
        "concurrency": concurrency,
        "warmup_requests_ok": ours["warm"],
        "requests_served": ours["served"],
        "requests_ok": load.ok,
        "requests_failed": load.failed,
        "hostile_requests": load.hostile,
        "streamed_responses": load.streamed,
        "requests_per_s": round(ours["served"] / duration, 1),
        "spans_checked": end["spans"] - start["spans"],
        "crosstalk_spans": end["crosstalk"],
        "crosstalk_responses": load.crosstalk,
        "rss_kb_by_segment": ours["rss"],
        "rss_kb_by_segment_without_middleware": control["rss"],
        "rss_kb_more_than_without_middleware": ours["rss"][-1] - control["rss"][-1],
        "latency_one_by_one_bare_vs_ours": ours["compared"],
        "slower_than_1ms_with_middleware": slower,
        "examples": end["examples"] + load.examples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds per server")
    parser.add_argument("--concurrency", type=int, default=200, help="connections")
    parser.add_argument("--warmup", type=float, default=15,
                        help="seconds of warm-up load (long enough to fill the memos)")  # fmt: skip
    parser.add_argument("--servers", default="uvicorn,hypercorn,gunicorn",
                        help=f"comma-separated, of: {', '.join(SERVERS)}")  # fmt: skip
    parser.add_argument("--pairs", type=int, default=40,
                        help="requests of each kind, with and without, one by one")  # fmt: skip
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
        result = run_server(kind, args.duration, args.concurrency, args.warmup, args.pairs)
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
