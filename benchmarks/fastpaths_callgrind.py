"""Callgrind: what each private-name fast path saves, in instructions.

Each fast path of ``src/otel_genai_session/_fastpaths.py`` is counted inside
the unit of work it serves, once as shipped and once with that one path
replaced by its public fallback (every other fast path kept), as the
difference of two runs of N and 2N units divided by N (start-up cancels out),
beside the same unit without us:

- ``unset_probe``: a span with ``SessionSpanProcessor``, no session, no env ids;
- ``environment_reader``: the same span with one of the three env ids set;
- ``span_attributes``: a span started with 3 attributes inside a 3-id session;
- ``current_span_lookup``: an ASGI request (Starlette, 3 id headers, memo hit)
  and a WSGI one (the 5-line app), where the middleware looks for an outer span.

A fast path stays if it saves at least 10% of our own cost of that unit
(house rule 18).

    python benchmarks/fastpaths_callgrind.py [--quick]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = {
    "unset_probe": "span, no session, no env ids",
    "environment_reader": "span, no session, 1 env id",
    "span_attributes": "span with 3 attributes, 3-id session",
    "current_span_lookup (ASGI)": "ASGI request, 3 id headers",
    "current_span_lookup (WSGI)": "WSGI request, 3 id headers",
}
VARIANTS = ("bare", "ours", "public")
_ENV_SESSION = "OTEL_INSTRUMENTATION_GENAI_SESSION_ID"


def _public(scenario: str) -> None:
    """Replace the one fast path ``scenario`` measures by its public fallback."""
    from otel_genai_session import _env_fallback, _fastpaths, processor

    if scenario == "unset_probe":
        probe = _fastpaths.public_unset_probe(_env_fallback._ENV_VARIABLES)
        _env_fallback.env_ids_unset = processor.env_ids_unset = probe  # type: ignore[misc]
    elif scenario == "environment_reader":
        reader = _fastpaths.public_environment_reader(_env_fallback._ENV_VARIABLES)
        _env_fallback._read_env_ids = reader  # type: ignore[misc]
    elif scenario == "span_attributes":
        processor.add_span_attributes = _fastpaths.public_add_span_attributes  # type: ignore[misc]
    else:
        _fastpaths.current_span_lookup = _fastpaths.public_current_span_lookup


def _span_child(scenario: str, ours: bool, count: int) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genai_session import SessionSpanProcessor, session_context

    provider = TracerProvider()
    if ours:
        provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")
    if scenario == "environment_reader":
        os.environ[_ENV_SESSION] = "env-session"
    if scenario == "span_attributes":
        given = {"app.a": 1, "app.b": "two", "app.c": 3.0}
        with session_context(session_id="conv-7f3a9c2e", user_id="user-1842", customer_id="acme"):
            for _ in range(count):
                tracer.start_span("s", attributes=given).end()
        return
    for _ in range(count):
        tracer.start_span("s").end()


def _child(argv: list[str]) -> None:
    scenario, variant, count = argv[0], argv[1], int(argv[2])
    ours = variant != "bare"
    sys.path.insert(0, str(HERE))
    if variant == "public":
        _public(scenario)
    if scenario.startswith("current_span_lookup"):
        import callgrind_bench

        ids = callgrind_bench.traffic_ids("hit", count)
        child = callgrind_bench._asgi_child if "ASGI" in scenario else callgrind_bench._wsgi_child
        child("ours" if ours else "bare", ids)
    else:
        _span_child(scenario, ours, count)


def _instructions(scenario: str, variant: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out",
            "--dump-line=no", "--dump-instr=no",
            sys.executable, str(Path(__file__).resolve()), "child", scenario, variant, str(count),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0", "OTEL_GENAI_SESSION_FAST_PATHS": "on"}
        env.pop(_ENV_SESSION, None)
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed: {completed.stderr[-2000:]}")
    return int(found.group(1))


def _per_unit(job: tuple[str, str, int]) -> float:
    scenario, variant, count = job
    once = _instructions(scenario, variant, count)
    return (_instructions(scenario, variant, 2 * count) - once) / count


def main(argv: list[str]) -> None:
    count = 50 if "--smoke" in argv else 500 if "--quick" in argv else 2000
    jobs = [(scenario, variant, count) for scenario in SCENARIOS for variant in VARIANTS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        figures = dict(zip(jobs, pool.map(_per_unit, jobs), strict=True))
    print("| fast path | unit | bare | ours, fast | ours, public | ours fast / public | saves |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for scenario, unit in SCENARIOS.items():
        bare, fast, public = (figures[(scenario, variant, count)] for variant in VARIANTS)
        ours_fast, ours_public = fast - bare, public - bare
        saves = (ours_public - ours_fast) / ours_public if ours_public else 0.0
        print(
            f"| {scenario} | {unit} | {bare:,.0f} | {fast:,.0f} | {public:,.0f} | "
            f"{ours_fast:,.0f} / {ours_public:,.0f} | {saves:.1%} "
            f"({'keep' if saves >= 0.10 else 'remove'}) |"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(sys.argv[2:])
    else:
        main(sys.argv[1:])
