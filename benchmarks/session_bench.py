#!/usr/bin/env python3
"""Session section: what the session API itself costs (no span, no request).

    python3 tasks.py bench --sections session   # rows in the suite's table
    python benchmarks/session_bench.py          # alone; --quick, --smoke

Timed interleaved with the baseline (see _harness.py): ``with
session_context(3 ids): pass`` against an empty ``with`` block, and
``get_session_context()`` outside and inside a session against a call of a
function that returns a constant. What a span costs with our processor on it
is the ``processor`` section; the handler's, the ``handler`` section.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

from _harness import IDS, Block, Result, Settings, in_session, measure, run_alone, timed, within

__all__ = ["run"]

SECTION = "session"


def _constant() -> None:
    return None


def run(settings: Settings, notes: list[str]) -> list[Result]:
    from otel_genai_session import get_session_context, session_context

    def enter_and_exit() -> None:
        with session_context(**IDS):
            pass

    def empty_with() -> None:
        with nullcontext():
            pass

    scope: list[tuple[str, Block]] = [
        ("with nullcontext(): pass", timed(empty_with)),
        ("with session_context(3 ids): pass", timed(enter_and_exit)),
    ]
    getter: list[tuple[str, Block]] = [
        ("a function call", timed(_constant)),
        ("get_session_context(), no session", within(nullcontext, timed(get_session_context))),
        ("get_session_context(), in a session", within(in_session, timed(get_session_context))),
    ]
    notes.append(f"{SECTION}: the session API alone, against the Python it replaces")
    return [
        *measure(SECTION, "session_context", "enter + exit", scope, settings),
        *measure(SECTION, "get_session_context", "one call", getter, settings),
    ]


if __name__ == "__main__":
    sys.exit(run_alone(run, sys.argv[1:], (__doc__ or "").splitlines()[0]))
