"""Callgrind: what ``gen_ai.conversation.id`` from the session costs per span, off and on.

``SessionSpanProcessor(conversation_id_from_session=...)`` chooses its work
once, at construction, so with the option off (the default) a span must cost
what it did before the option existed. Counted in instructions, as the
difference of two runs of N and 2N spans divided by N (start-up cancels out),
inside a complete 3-id session, for:

- a plain span (an HTTP client's, a database's): never a GenAI span;
- a GenAI span, started as the official instrumentations start ``chat``
  (``gen_ai.operation.name``, ``gen_ai.provider.name``, the model, the server).

Variants: ``bare`` (no processor), ``off`` and ``on``; with ``--baseline SRC``
also ``off`` run against another checkout's ``src`` (the package before the
option), to show that the default did not rise.

    python benchmarks/conversation_callgrind.py [--quick | --smoke] [--baseline ../main/src]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCENARIOS = {
    "plain": "plain span, 3-id session",
    "genai": "chat span (4 gen_ai/server attributes), 3-id session",
}
CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "server.address": "api.openai.com",
}


def _child(scenario: str, variant: str, count: int) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genai_session import SessionSpanProcessor, session_context

    provider = TracerProvider()
    if variant == "on":
        provider.add_span_processor(SessionSpanProcessor(conversation_id_from_session=True))
    elif variant != "bare":  # off, and the baseline's processor (which has no option)
        provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")
    given = CHAT if scenario == "genai" else None
    with session_context(session_id="conv-7f3a9c2e", user_id="user-1842", customer_id="acme"):
        for _ in range(count):
            tracer.start_span("s", attributes=given).end()


def _instructions(scenario: str, variant: str, count: int, source: str | None) -> int:
    with tempfile.TemporaryDirectory() as directory:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out",
            "--dump-line=no", "--dump-instr=no",
            sys.executable, str(Path(__file__).resolve()), "child", scenario, variant, str(count),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0", "OTEL_GENAI_SESSION_FAST_PATHS": "on"}
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_INSTRUMENTATION_GENAI_")}
        if source is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (source, env.get("PYTHONPATH"))))
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed: {completed.stderr[-2000:]}")
    return int(found.group(1))


def _per_span(job: tuple[str, str, int, str | None]) -> float:
    scenario, variant, count, source = job
    once = _instructions(scenario, variant, count, source)
    return (_instructions(scenario, variant, 2 * count, source) - once) / count


def main(argv: list[str]) -> None:
    count = 50 if "--smoke" in argv else 500 if "--quick" in argv else 2000
    baseline = argv[argv.index("--baseline") + 1] if "--baseline" in argv else None
    variants: list[tuple[str, str | None]] = [("bare", None), ("off", None), ("on", None)]
    if baseline is not None:
        variants.append(("off", str(Path(baseline).resolve())))
    jobs = [(s, v, count, source) for s in SCENARIOS for v, source in variants]
    with ThreadPoolExecutor(max_workers=2) as pool:
        figures = dict(zip(jobs, pool.map(_per_span, jobs), strict=True))
    head = "| span | bare | ours, off | ours, on |" + (" ours, baseline |" if baseline else "")
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for scenario, unit in SCENARIOS.items():
        bare, off, on = (figures[(scenario, v, count, None)] for v in ("bare", "off", "on"))
        row = f"| {unit} | {bare:,.0f} | +{off - bare:,.0f} | +{on - bare:,.0f} |"
        if baseline is not None:
            base = figures[(scenario, "off", count, str(Path(baseline).resolve()))]
            row += f" +{base - bare:,.0f} |"
        print(row)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main(sys.argv[1:])
