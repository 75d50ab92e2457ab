"""Interleaved, repeated timing: the method every in-process section shares.

A *group* is one job (an app and a request) done by several *variants*; the
first is the baseline (the bare app, the bare span). Each variant is a
*block*: a function that does the job ``n`` times and returns the elapsed
seconds. ``n`` is calibrated once per group so that the average variant's block
lasts ``block_seconds``. Then, repetition after repetition, every variant runs one
block in a rotating order (A B C, B C A, ...), so slow drifts of this noisy VM
(another tenant, the CPU clock) hit all of them alike. A variant's overhead is
the median, over repetitions, of its per-operation time minus the baseline's
per-operation time *in the same repetition*; its spread is half the
interquartile range of those differences.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Block",
    "Result",
    "IDS",
    "Settings",
    "in_session",
    "measure",
    "now",
    "spread",
    "timed",
    "run_alone",
    "use_wall_clock",
    "within",
]

Block = Callable[[int], float]
"""Runs the job ``n`` times; returns the elapsed seconds of :func:`now`."""

_clock: list[Callable[[], float]] = [time.thread_time]


def now() -> float:
    """The harness clock: CPU time of this thread by default. On a shared VM the
    wall clock also counts the time other processes hold the CPU; thread CPU time
    does not, and swings far less."""
    return _clock[0]()


def use_wall_clock() -> None:
    _clock[0] = time.perf_counter


@dataclass(frozen=True)
class Settings:
    """How long each block lasts and how many repetitions a group gets."""

    name: str
    block_seconds: float
    repetitions: int
    e2e_rounds: int
    e2e_seconds: float
    import_runs: int
    full_matrix: bool  # FastAPI x every scenario, no-op OTel variants, stdlib json pass

    def scaled(self, block_ms: float | None, reps: int | None) -> Settings:
        return Settings(
            self.name,
            self.block_seconds if block_ms is None else block_ms / 1000,
            self.repetitions if reps is None else reps,
            self.e2e_rounds,
            self.e2e_seconds,
            self.import_runs,
            self.full_matrix,
        )


FULL = Settings("full", 0.25, 15, 8, 3.0, 21, True)
QUICK = Settings("quick", 0.04, 5, 6, 1.0, 7, False)
SMOKE = Settings("smoke", 0.002, 2, 1, 0.3, 1, False)
PROFILES = {"full": FULL, "quick": QUICK, "smoke": SMOKE}


@dataclass
class Result:
    """One row of the table."""

    section: str
    target: str
    scenario: str
    variant: str
    per_op_us: float
    overhead_us: float | None = None  # None for the baseline
    spread_us: float = 0.0
    ratio: float = 1.0
    note: str = ""
    budget: str = ""  # filled in by the budget checks
    extra: dict[str, float] = field(default_factory=dict)


def spread(values: Sequence[float]) -> float:
    """Half the interquartile range (0 for fewer than 4 values)."""
    if len(values) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / 2


def _calibrate(variants: Sequence[tuple[str, Block]], seconds: float) -> int:
    """The number of operations that makes the *average* variant's block last
    about ``seconds`` (a 1 MiB parse next to a bare app would otherwise make
    the slow variants' blocks 25 times longer than the baseline's)."""
    per_op = []
    for _, block in variants:
        n = 1
        while True:
            elapsed = block(n)
            if elapsed >= seconds / 16 or n >= 1 << 24:
                break
            n *= 2 if elapsed >= seconds / 128 else 8
        per_op.append(max(elapsed, 1e-9) / n)
    return max(1, round(seconds / statistics.mean(per_op)))


def measure(
    section: str,
    target: str,
    scenario: str,
    variants: Sequence[tuple[str, Block]],
    settings: Settings,
) -> list[Result]:
    """Time ``variants`` (the first is the baseline) interleaved; one Result each."""
    for _, block in variants:  # warm up: imports, lazy stacks, caches, pyc
        block(max(1, 3 if settings.name == "smoke" else 20))
    n = _calibrate(variants, settings.block_seconds)
    per_op: dict[str, list[float]] = {name: [] for name, _ in variants}
    count = len(variants)
    gc.collect()
    for repetition in range(settings.repetitions):
        shift = repetition % count
        for name, block in [*variants[shift:], *variants[:shift]]:
            per_op[name].append(block(n) / n * 1e6)
    base_name = variants[0][0]
    base = per_op[base_name]
    results = [Result(section, target, scenario, base_name, statistics.median(base))]
    for name, _ in variants[1:]:
        times = per_op[name]
        diffs = [t - b for t, b in zip(times, base, strict=True)]
        ratios = [t / b for t, b in zip(times, base, strict=True)]
        results.append(
            Result(
                section,
                target,
                scenario,
                name,
                statistics.median(times),
                statistics.median(diffs),
                spread(diffs),
                statistics.median(ratios),
            )
        )
    return results


def timed(job: Callable[[], object]) -> Block:
    """A block for a synchronous no-argument job."""

    def block(n: int) -> float:
        started = now()
        for _ in range(n):
            job()
        return now() - started

    return block


def within(setup: Callable[[], AbstractContextManager[Any]], block: Block) -> Block:
    """``block`` run inside ``setup()`` (a session, a switch turned on), which is
    entered and left outside the timed loop."""

    def wrapped(n: int) -> float:
        with setup():
            return block(n)

    return wrapped


def run_alone(
    run: Callable[[Settings, list[str]], list[Result]], argv: list[str], description: str
) -> int:
    """A section's ``main``: its rows and notes printed, ``--quick``/``--smoke``
    choosing the profile, as ``run.py --sections NAME`` would print them."""
    import argparse

    from _table import print_table

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--quick", action="store_const", const="quick", dest="profile")
    parser.add_argument("--smoke", action="store_const", const="smoke", dest="profile")
    settings = PROFILES[parser.parse_args(argv).profile]
    notes: list[str] = []
    print_table(run(settings, notes))
    for note in notes:
        print(f"note: {note}")
    return 0


IDS: dict[str, str] = {"session_id": "conv-1", "user_id": "ada@example.com", "customer_id": "acme"}
"""The session most sections run in: three ids."""


@contextmanager
def in_session() -> Iterator[None]:
    """A setup for :func:`within`: the three ids of ``IDS`` in effect."""
    from otel_genai_session import session_context

    with session_context(**IDS):
        yield
