"""End-to-end section: uvicorn (1 worker) bare, with our middleware, and with the
hand-written floor (3 headers -> one contextvar), for scale.

The servers run at once on 127.0.0.1 (an idle one costs nothing); each round
loads each in turn, rotating which goes first, and gives a throughput ratio
per variant (variant / bare, same round). The load comes from wrk when it is on PATH,
else from _loadgen.py (keep-alive raw-socket clients in several processes).

On a shared VM the throughput of a round also depends on what the neighbours
do at that moment, so each round also reads the server's own CPU time
(``/proc/PID/task/*/schedstat``, in ns) and gives a capacity ratio: bare CPU
per request / ours. It moves far less, and equals the throughput ratio when
the server is the bottleneck.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _harness import Result, Settings, spread

__all__ = ["run"]

Load = Callable[[int, float], tuple[float, int]]

HERE = Path(__file__).resolve().parent
CONNECTIONS = 16
PROCESSES = 2
_HEADERS = ("X-Session-ID: conv-7f3a9c2e", "X-User-ID: user-1842", "X-Tenant-ID: acme-corp")


def _cpu_ns(pid: int) -> int | None:
    """CPU time of all threads of ``pid`` so far, in ns (None without /proc)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        total = 0
        for task in tasks:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        return total
    except (OSError, ValueError, IndexError):
        return None


def _start_server(variant: str) -> tuple[subprocess.Popen[str], int, str]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_e2e_server.py"), variant],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if len(line) != 2:
        process.kill()
        raise RuntimeError(f"the {variant} server did not start")
    return process, int(line[0]), line[1]


def _wrk(wrk: str, port: int, seconds: float) -> tuple[float, int]:
    """(requests per second, requests) from one wrk run."""
    headers = [item for header in _HEADERS for item in ("-H", header)]
    output = subprocess.run(
        [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", *headers,
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output: {output!r}")
    return float(rate.group(1)), int(count.group(1))


def _python_load(port: int, seconds: float) -> tuple[float, int]:
    """(requests per second, requests) from the raw-socket clients."""
    start_at = time.time() + 0.5
    command = [sys.executable, str(HERE / "_loadgen.py"), str(port)]
    clients = [
        subprocess.Popen(
            [*command, str(CONNECTIONS // PROCESSES), str(seconds), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    total = 0
    for client in clients:
        out, _ = client.communicate(timeout=seconds + 30)
        if client.returncode != 0:
            raise RuntimeError("a load generator process failed")
        total += int(out.strip())
    return total / seconds, total


def _round(
    load: Load, server: tuple[subprocess.Popen[str], int, str], seconds: float
) -> tuple[float, float | None]:
    """(requests per second, server CPU us per request or None) of one load run."""
    before = _cpu_ns(server[0].pid)
    rate, count = load(server[1], seconds)
    after = _cpu_ns(server[0].pid)
    cpu = None if before is None or after is None or not count else (after - before) / count / 1000
    return rate, cpu


def run(settings: Settings, notes: list[str]) -> list[Result]:
    wrk = shutil.which("wrk")
    load: Load = (lambda port, s: _wrk(wrk, port, s)) if wrk else _python_load
    generator = "wrk -t1" if wrk else f"python raw-socket clients ({PROCESSES} processes)"
    servers: dict[str, tuple[subprocess.Popen[str], int, str]] = {}
    variants = ("bare", "ours", "floor")
    rps: dict[str, list[float]] = {variant: [] for variant in variants}
    cpu: dict[str, list[float]] = {variant: [] for variant in variants}
    try:
        for variant in variants:
            servers[variant] = _start_server(variant)
        for variant in servers:  # warm-up: connections, caches, lazy imports
            load(servers[variant][1], max(0.3, settings.e2e_seconds / 2))
        for round_ in range(settings.e2e_rounds):
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                rate, cost = _round(load, servers[variant], settings.e2e_seconds)
                rps[variant].append(rate)
                if cost is not None:
                    cpu[variant].append(cost)
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    median = statistics.median
    target = f"uvicorn 1 worker, {servers['bare'][2]}"
    scenario = f"GET hello, {CONNECTIONS} conns"
    rows = [
        Result("e2e", target, scenario, "bare", 1e6 / median(rps["bare"]),
               note=f"{median(rps['bare']):,.0f} req/s")
    ]  # fmt: skip
    spans = []
    for variant, name in (("ours", "ours (headers)"), ("floor", "floor (3 headers)")):
        ratios = [v / b for v, b in zip(rps[variant], rps["bare"], strict=True)]
        spans.append(f"{variant} {min(ratios):.3f}..{max(ratios):.3f}")
        rows.append(
            Result(
                "e2e", target, scenario, name, 1e6 / median(rps[variant]),
                median(1e6 / v - 1e6 / b for v, b in zip(rps[variant], rps["bare"], strict=True)),
                ratio=median(b / v for v, b in zip(rps[variant], rps["bare"], strict=True)),
                note=f"{median(rps[variant]):,.0f} req/s, throughput x{median(ratios):.3f}",
                extra={"throughput_ratio": median(ratios), "rounds": settings.e2e_rounds},
            )
        )  # fmt: skip
    notes.append(
        f"e2e: {generator}, {settings.e2e_rounds} rounds x {settings.e2e_seconds:g} s per server; "
        f"throughput ratios per round: {', '.join(spans)}"
    )
    if all(len(cpu[variant]) == settings.e2e_rounds for variant in variants):
        scenario = "server CPU per request"
        rows.append(Result("e2e", target, scenario, "bare", median(cpu["bare"])))
        for variant, name in (("ours", "ours (headers)"), ("floor", "floor (3 headers)")):
            diffs = [v - b for v, b in zip(cpu[variant], cpu["bare"], strict=True)]
            capacity = median(b / v for v, b in zip(cpu[variant], cpu["bare"], strict=True))
            rows.append(
                Result(
                    "e2e", target, scenario, name, median(cpu[variant]), median(diffs),
                    spread(diffs), 1 / capacity, note=f"capacity x{capacity:.3f}",
                    extra={"capacity_ratio": capacity, "rounds": settings.e2e_rounds},
                )
            )  # fmt: skip
    return rows
