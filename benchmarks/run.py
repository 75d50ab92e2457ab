#!/usr/bin/env python3
"""The benchmark suite: one table of overheads against the bare app, with budgets.

    python3 tasks.py bench                       # full run (~12 min), every section
    python3 tasks.py bench --quick               # a minute or two, fewer scenarios
    python3 tasks.py bench --sections asgi,wsgi  # only these sections
    python benchmarks/run.py --help              # inside .venv (the dev extra, which brings bench)

Sections: import, processor, handler, sampling, wsgi, asgi, json-stdlib (the body
scenarios again with the standard library's json; full run only unless
selected), zerocode (a request through opentelemetry-instrument's set-up against
the same app set up by hand), e2e, cross-process (propagate_baggage, inject,
Celery, resumed jobs: docs/beyond-one-process.md), logs-privacy (SessionLogFilter,
user-id hashing), session (the session API alone), langchain (the callback
handler on a chain call), and callgrind-asgi, callgrind-wsgi (instructions per request
under valgrind's callgrind, deterministic: the floor, asgi-correlation-id, ours
on a memo hit, on a new conversation and on a Zipf mix; callgrind_bench.py),
callgrind-properties (instructions per span with 0, 3 and 16 session
properties, against the three ids alone; properties_callgrind.py),
callgrind-conversation (per span, the gen_ai.conversation.id option off and on;
conversation_callgrind.py) and callgrind-fastpaths (each private-name fast path
against its public fallback, with its keep/remove verdict; fastpaths_callgrind.py).
Each section has a smoke test in tests/bench.
In-process sections time interleaved blocks in thread CPU time (``--wall`` for
the wall clock); see _harness.py for the method and docs/performance.md for the
figures. The budget verdicts are printed, never asserted: the exit code is 0
whatever they say.

    python3 tasks.py bench --sections callgrind-asgi,callgrind-wsgi   # only instructions
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS = (
    "import",
    "processor",
    "handler",
    "sampling",
    "wsgi",
    "asgi",
    "json-stdlib",
    "zerocode",
    "e2e",
    "cross-process",
    "logs-privacy",
    "session",
    "langchain",
    "callgrind-asgi",
    "callgrind-wsgi",
    "callgrind-properties",
    "callgrind-conversation",
    "callgrind-fastpaths",
)
CALLGRIND_SECTIONS = ("callgrind-asgi", "callgrind-wsgi")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[1:]),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short blocks, fewer scenarios")
    mode.add_argument("--smoke", action="store_true", help="seconds; figures meaningless (tests)")
    parser.add_argument(
        "--sections", default=None, help=f"comma-separated subset of: {', '.join(SECTIONS)}"
    )
    parser.add_argument("--block-ms", type=float, help="override the block length")
    parser.add_argument("--reps", type=int, help="override the number of repetitions")
    parser.add_argument("--wall", action="store_true", help="time blocks in wall-clock time")
    parser.add_argument("--save", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--json-parser", choices=("auto", "stdlib"), default="auto",
                        help="stdlib: hide orjson, so the middleware parses with json")  # fmt: skip
    parser.add_argument("--asgi-body-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sections is None:
        chosen = [s for s in SECTIONS if s != "json-stdlib" or not (args.quick or args.smoke)]
    else:
        chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
        unknown = sorted(set(chosen) - set(SECTIONS))
        if unknown:
            parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {SECTIONS}")
    args.chosen = chosen
    return args


def _json_stdlib(args: argparse.Namespace, notes: list[str]) -> list[object]:
    """The body scenarios in a child interpreter that cannot import orjson."""
    from _harness import Result

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rows.json"
        command = [sys.executable, str(HERE / "run.py"), "--sections", "asgi", "--asgi-body-only",
                   "--json-parser", "stdlib", "--save", str(path)]  # fmt: skip
        command += ["--quick"] if args.quick else ["--smoke"] if args.smoke else []
        command += [] if args.block_ms is None else ["--block-ms", str(args.block_ms)]
        command += [] if args.reps is None else ["--reps", str(args.reps)]
        command += ["--wall"] if args.wall else []
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        rows = [Result(**row) for row in json.loads(path.read_text())]
    for row in rows:
        row.section = "asgi json"
        row.target = f"{row.target} (stdlib json)"
    notes.append("json-stdlib: the body scenarios again, orjson hidden (the stdlib parser)")
    return list(rows)


def _header(args: argparse.Namespace, settings: object) -> str:
    try:
        import orjson

        parser = f"orjson {orjson.__version__}"
    except ImportError:
        parser = "stdlib json"
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True,
            text=True, timeout=10,
        ).stdout.strip() or "?"  # fmt: skip
    except OSError:
        commit = "?"
    return (
        f"otel-genai-session benchmarks ({settings.name}, commit {commit}): "  # type: ignore[attr-defined]
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{parser}; blocks of {settings.block_seconds * 1000:g} ms x "  # type: ignore[attr-defined]
        f"{settings.repetitions} interleaved repetitions, "  # type: ignore[attr-defined]
        f"{'wall-clock' if args.wall else 'thread CPU'} time"
    )


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.json_parser == "stdlib":
        sys.modules["orjson"] = None  # type: ignore[assignment]
    sys.path.insert(0, str(HERE))
    import _harness
    from _budgets import evaluate
    from _table import print_budgets, print_table

    profile = "smoke" if args.smoke else "quick" if args.quick else "full"
    settings = _harness.PROFILES[profile].scaled(args.block_ms, args.reps)
    if args.wall:
        _harness.use_wall_clock()
    notes: list[str] = []
    runners: dict[str, Callable[[], list[object]]] = {}
    for section in args.chosen:
        runners[section] = _runner(section, settings, notes, args)
    if args.save is None:
        print(_header(args, settings), flush=True)
    results: list[object] = []
    counted: list[object] = []  # callgrind rows: instructions, printed in their own table
    for section, runner in runners.items():
        started = time.monotonic()
        try:
            (counted if section in CALLGRIND_SECTIONS else results).extend(runner())
        except Exception as error:  # one broken section must not lose the others
            if args.save is not None:
                raise
            notes.append(f"{section}: FAILED TO RUN: {type(error).__name__}: {error}")
        if args.save is None:
            print(f"... {section}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if args.save is not None:
        args.save.write_text(json.dumps([asdict(row) for row in results]))  # type: ignore[call-overload]
        return 0
    verdicts = evaluate(results)  # type: ignore[arg-type]
    if results:
        print_table(results)  # type: ignore[arg-type]
    print_budgets(verdicts, notes)
    if counted:
        import callgrind_bench

        callgrind_bench.print_rows(counted)  # type: ignore[arg-type]
    return 0


def _printed(section: str, main: Callable[[list[str]], None], argv: list[str]) -> list[object]:
    """A callgrind script that prints its own table (with its verdicts)."""
    print(f"{section}:", flush=True)
    main(argv)
    print(flush=True)
    return []


def _runner(
    section: str, settings: object, notes: list[str], args: argparse.Namespace
) -> Callable[[], list[object]]:
    if section == "asgi":
        import asgi_bench

        return lambda: asgi_bench.run(settings, notes, only_body=args.asgi_body_only)  # type: ignore[arg-type]
    if section == "json-stdlib":
        return lambda: _json_stdlib(args, notes)
    if section == "callgrind-properties":
        import properties_callgrind

        profile = "smoke" if args.smoke else "quick" if args.quick else "full"
        return lambda: properties_callgrind.run(profile, notes)
    if section in ("callgrind-conversation", "callgrind-fastpaths"):
        script = importlib.import_module(section.removeprefix("callgrind-") + "_callgrind")
        flag = ["--smoke"] if args.smoke else ["--quick"] if args.quick else []
        return lambda: _printed(section, script.main, flag)
    if section in CALLGRIND_SECTIONS:
        import callgrind_bench

        profile = "smoke" if args.smoke else "quick" if args.quick else "full"
        return lambda: callgrind_bench.run(section, profile, notes)  # type: ignore[return-value]
    module = {
        "import": "import_bench",
        "processor": "spans_bench",
        "handler": "spans_bench",
        "sampling": "sampling_bench",
        "wsgi": "wsgi_bench",
        "zerocode": "zerocode_bench",
        "e2e": "e2e_bench",
        "cross-process": "cross_process_bench",
        "logs-privacy": "logs_privacy_bench",
        "session": "session_bench",
        "langchain": "langchain_bench",
    }[section]
    imported = __import__(module)
    function = {"processor": "run_processor", "handler": "run_handler"}.get(section, "run")
    return lambda: getattr(imported, function)(settings, notes)  # type: ignore[no-any-return]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
