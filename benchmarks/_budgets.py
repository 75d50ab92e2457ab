"""The issue's budgets, checked against the figures of the same run.

Every budget is relative to a floor or a peer measured in the same run, so a
slow or busy machine moves both sides. A budget whose figures were not
measured (section not selected, peer not installed) is "n/a". Nothing here
asserts: the runner prints the verdicts and exits 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from _harness import Result

__all__ = ["Verdict", "evaluate"]

MIB = 1024 * 1024


@dataclass
class Verdict:
    budget: str
    status: str  # PASS, FAIL or n/a
    detail: str


class _Figures:
    def __init__(self, results: list[Result]) -> None:
        self._rows = {(r.section, r.target, r.scenario, r.variant): r for r in results}

    def row(self, section: str, target: str, scenario: str, variant: str) -> Result | None:
        return self._rows.get((section, target, scenario, variant))

    def targets(self, section: str) -> list[str]:
        return list(dict.fromkeys(key[1] for key in self._rows if key[0] == section))


def _verdict(
    budget: str, ok: bool, detail: str, row: Result | None = None, short: str = ""
) -> Verdict:
    """A verdict; ``row`` (if given) gets it in its budget column, ``short`` or
    the detail up to its first ';'."""
    status = "PASS" if ok else "FAIL"
    if row is not None:
        text = f"{status} {short or detail.split(';')[0]}"
        row.budget = f"{row.budget}, {text}" if row.budget else text
    return Verdict(budget, status, detail)


def _ov(row: Result | None) -> float | None:
    return None if row is None else row.overhead_us


def _floor_bound(floor: float) -> float:
    return max(floor + 0.6, 1.35 * floor)


def _asgi(f: _Figures) -> Iterator[Verdict]:
    for target in f.targets("asgi"):
        ours = f.row("asgi", target, "GET", "ours (headers)")
        floor = _ov(f.row("asgi", target, "GET", "floor (3 headers)"))
        peer = _ov(f.row("asgi", target, "GET", "asgi-correlation-id"))
        if ours is not None and ours.overhead_us is not None and floor is not None:
            bound = _floor_bound(floor)
            yield _verdict(
                f"ASGI headers only ({target}): <= max(floor + 0.6, 1.35 x floor)",
                ours.overhead_us <= bound,
                f"{ours.overhead_us:.2f} us vs <= {bound:.2f}; floor {floor:.2f} us",
                ours,
                f"<= {bound:.2f} (floor)",
            )
        if ours is not None and ours.overhead_us is not None and peer is not None:
            yield _verdict(
                f"ASGI headers only ({target}): <= 0.35 x asgi-correlation-id",
                ours.overhead_us <= 0.35 * peer,
                f"{ours.overhead_us:.2f} us vs <= {0.35 * peer:.2f}; "
                f"asgi-correlation-id {peer:.2f} us",
                ours,
                f"<= {0.35 * peer:.2f} (0.35x acid)",
            )
        stream = f.row("asgi", target, "stream-50", "ours (headers)")
        if ours is not None and stream is not None and ours.overhead_us is not None:
            assert stream.overhead_us is not None
            extra = stream.overhead_us - ours.overhead_us
            tolerance = max(1.0, 2 * math.hypot(stream.spread_us, ours.spread_us))
            yield _verdict(
                f"ASGI streaming ({target}): 50-chunk overhead = GET overhead within noise",
                extra <= tolerance,
                f"{stream.overhead_us:.2f} - {ours.overhead_us:.2f} = {extra:+.2f} us "
                f"vs <= {tolerance:.2f} ({extra / 50 * 1000:+.0f} ns/chunk)",
                stream,
            )
        yield from _body(f, "asgi", target)
    for target in f.targets("asgi json"):  # the same, parsed with the stdlib's json
        yield from _body(f, "asgi json", target)


def _body(f: _Figures, section: str, target: str) -> Iterator[Verdict]:
    for scenario in ("POST 100 KiB", "POST 1 MiB"):
        ours = f.row(section, target, scenario, "ours (body fields)")
        floor = f.row(section, target, scenario, "floor (parse+replay)")
        if ours is None or floor is None:
            continue
        assert ours.overhead_us is not None and floor.overhead_us is not None
        size = ours.extra.get("body_bytes", MIB) / MIB
        per_mib, floor_mib = ours.overhead_us / size / 1000, floor.overhead_us / size / 1000
        yield _verdict(
            f"ids from JSON body ({target}, {scenario}): <= 1.1 x floor per MiB",
            per_mib <= 1.1 * floor_mib,
            f"{per_mib:.2f} ms/MiB vs <= {1.1 * floor_mib:.2f}; floor {floor_mib:.2f} ms/MiB",
            ours,
        )
    skip = f.row(section, target, "POST 1 MiB, ids in headers", "ours (body fields)")
    get = f.row(section, target, "GET", "ours (body fields)")
    if skip is not None and get is not None:
        assert skip.overhead_us is not None and get.overhead_us is not None
        bound = get.overhead_us + max(2.0, 2 * math.hypot(skip.spread_us, get.spread_us))
        yield _verdict(
            f"ids from JSON body ({target}): no parse when headers gave every field",
            skip.overhead_us <= bound,
            f"{skip.overhead_us:.2f} us on a 1 MiB body vs <= {bound:.2f} (the GET overhead "
            "+ noise)",
            skip,
        )


def _wsgi(f: _Figures) -> Iterator[Verdict]:
    for target in f.targets("wsgi"):
        ours = f.row("wsgi", target, "GET", "ours")
        floor = _ov(f.row("wsgi", target, "GET", "floor (contextvar)"))
        if ours is not None and ours.overhead_us is not None and floor is not None:
            bound = _floor_bound(floor)
            yield _verdict(
                f"WSGI ({target}): own cost <= max(floor + 0.6, 1.35 x floor)",
                ours.overhead_us <= bound,
                f"{ours.overhead_us:.2f} us vs <= {bound:.2f}; floor {floor:.2f} us",
                ours,
            )
        many = _ov(f.row("wsgi", target, "stream-50", "ours"))
        one = f.row("wsgi", target, "stream-1", "ours")
        if many is not None and one is not None and one.overhead_us is not None:
            per_chunk = (many - one.overhead_us) / 49 * 1000
            yield _verdict(
                f"WSGI ({target}): <= 60 ns per response chunk",
                per_chunk <= 60,
                f"{per_chunk:.0f} ns/chunk; (stream-50 - stream-1) / 49",
                f.row("wsgi", target, "stream-50", "ours"),
            )


def _processor(f: _Figures) -> Iterator[Verdict]:
    def get(variant: str) -> Result | None:
        return f.row("processor", "sdk span", "start_span().end()", variant)

    ours, idle = get("ours, session of 3 ids"), get("ours, no session")
    empty = _ov(get("empty processor")) or 0.0
    floor, baggage = (
        _ov(get("floor (set_attributes x3)")),
        _ov(get("BaggageSpanProcessor, 3 entries")),
    )
    if ours is None or idle is None or floor is None:
        return
    assert ours.overhead_us is not None and idle.overhead_us is not None
    yield _verdict(
        "span processor, 3 ids: <= 1.2 x floor (one set_attributes)",
        ours.overhead_us <= 1.2 * floor,
        f"{ours.overhead_us:.2f} us vs <= {1.2 * floor:.2f}; floor {floor:.2f} us",
        ours,
    )
    own = idle.overhead_us - empty
    yield _verdict(
        "span processor, no session: ~0 (<= 0.1 x floor over an empty processor)",
        own <= 0.1 * floor,
        f"{own * 1000:.0f} ns vs <= {100 * floor:.0f} ns; {idle.overhead_us * 1000:.0f} ns "
        f"over the bare span, the empty processor {empty * 1000:.0f} ns",
        idle,
    )
    if baggage is not None:
        yield _verdict(
            "span processor, 3 ids: below BaggageSpanProcessor (3 entries)",
            ours.overhead_us < baggage,
            f"{ours.overhead_us:.2f} us vs {baggage:.2f} us",
        )


def _e2e(f: _Figures) -> Iterator[Verdict]:
    rows = [r for r in f._rows.values() if r.section == "e2e" and r.variant.startswith("ours")]
    for row in rows:
        for key, what in (
            ("throughput_ratio", "throughput"),
            ("capacity_ratio", "server CPU per request (noise-robust cross-check)"),
        ):
            ratio = row.extra.get(key)
            if ratio is None:
                continue
            rounds = int(row.extra.get("rounds", 0))
            verdict = _verdict(
                f"end to end (uvicorn hello world, >= 6 rounds): {what} >= 0.965 x bare",
                ratio >= 0.965,
                f"x{ratio:.3f} vs >= 0.965; median of {rounds} pairwise rounds",
                row,
            )
            if rounds < 6:
                verdict.status = "n/a"
                verdict.detail += " (fewer than 6 rounds: not conclusive)"
            yield verdict


def _import(f: _Figures) -> Iterator[Verdict]:
    row = f.row("import", "fresh interpreter", "cold import", "+ GenAISessionMiddleware")
    if row is None or row.overhead_us is None:
        return
    yield _verdict(
        "import: <= 5 ms over import starlette.applications",
        row.overhead_us <= 5000,
        f"{row.overhead_us / 1000:.2f} ms vs <= 5 ms",
        row,
    )
    sdk = bool(row.extra.get("sdk_imported"))
    yield _verdict(
        "import: the OpenTelemetry SDK is not imported by the middleware",
        not sdk,
        "SDK imported" if sdk else "no opentelemetry.sdk module loaded",
    )


def evaluate(results: list[Result]) -> list[Verdict]:
    """Every budget the run has figures for, in the issue's order."""
    figures = _Figures(results)
    verdicts: list[Verdict] = []
    for check in (_asgi, _wsgi, _processor, _e2e, _import):
        verdicts += check(figures)
    return verdicts
