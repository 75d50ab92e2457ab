"""Callgrind sections: instructions per request, deterministic on a noisy host.

Each figure is the difference of two runs of one interpreter under
``valgrind --tool=callgrind``, one driving N requests and one 2N, divided by
N: start-up, imports and the app's construction cancel out. Three kinds of
traffic, the same for every variant of one section:

- ``hit``: the same three ids on every request (a conversation's later turns,
  while the memo holds it);
- ``cold``: a new session id and a new user id on every request (a
  conversation's first request; every request of a service with more live
  conversations than the memo holds);
- ``mix``: 10,000 conversations with Zipf-distributed turns, users and
  tenants repeating, interleaved in time as they arrive (:func:`mix_ids`);
  N and 2N are the first half and the whole of it, so the figure is its
  second half, with whatever the first half left in the memo.

Variants: the bare app, the hand-written floor (``_references.py``), the
validating floor (the floor plus the least a new session costs: each id
checked by the rule's plain case, an immutable value with its attributes),
asgi-correlation-id (ASGI: it generates an id for every request), ours.
Overheads are over the bare app with the same traffic. ASGI is the Starlette
app of ``asgi_bench`` driven in-process (``_asgi_driver``), WSGI the 5-line
app of ``wsgi_bench``.

    python benchmarks/run.py --sections callgrind-asgi,callgrind-wsgi
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

__all__ = ["CONVERSATIONS", "SECTIONS", "mix_ids", "run"]

HERE = Path(__file__).resolve().parent
SECTIONS = {"callgrind-asgi": "asgi", "callgrind-wsgi": "wsgi"}
CONVERSATIONS = 10_000
USERS = 2_500
TENANTS = 40
MOST_TURNS = 100
TRAFFIC = ("hit", "cold", "mix")
NO_MEMO = "ours, memo off"
"""Ours with its resolver's memo removed (on the mix only): what the memo saves."""
VALIDATING = "floor, validating"
"""The floor plus the least a session not seen before costs (on new conversations)."""
_VARIANTS = {
    "asgi": ("bare", "floor", VALIDATING, "asgi-correlation-id", "ours", NO_MEMO),
    "wsgi": ("bare", "floor", VALIDATING, "ours", NO_MEMO),
}
_REQUESTS = {"full": 2_000, "quick": 1_000, "smoke": 200}
_MIX_SHARE = {"full": 1.0, "quick": 0.5, "smoke": 0.02}  # of the mix's requests

Ids = tuple[str, str, str]


# -- traffic -------------------------------------------------------------------------


def _zipf(rng: random.Random, size: int, exponent: float) -> Callable[[], int]:
    """A sampler of 1..size with P(k) proportional to k ** -exponent."""
    ranks = range(1, size + 1)
    cumulative = list(accumulate(k**-exponent for k in ranks))
    return lambda: rng.choices(ranks, cum_weights=cumulative)[0]


def mix_ids(conversations: int = CONVERSATIONS, seed: int = 27) -> list[Ids]:
    """One request's ids per turn of ``conversations`` conversations, in time order.

    Turns per conversation are Zipf-distributed (exponent 2, at most 100: most
    conversations are one or two turns, a few go on); each conversation belongs
    to a user and a tenant drawn from Zipf populations (users and tenants
    repeat across conversations), starts at a uniform time within an hour and
    sends its turns about a minute apart (exponential think time).
    """
    rng = random.Random(seed)
    turns, user, tenant = (
        _zipf(rng, MOST_TURNS, 2.0),
        _zipf(rng, USERS, 1.0),
        _zipf(rng, TENANTS, 1.0),
    )
    events: list[tuple[float, Ids]] = []
    for number in range(conversations):
        session_id = f"conv-{number:08x}-{rng.getrandbits(32):08x}"
        ids = (session_id, f"user-{user()}", f"tenant-{tenant()}")
        at = rng.uniform(0.0, 3600.0)
        for _ in range(turns()):
            events.append((at, ids))
            at += rng.expovariate(1 / 60)
    events.sort(key=lambda event: event[0])
    return [ids for _, ids in events]


def traffic_ids(traffic: str, count: int) -> list[Ids]:
    """The ids of ``count`` requests of ``traffic``, made before the requests run."""
    if traffic == "hit":
        return [("conv-7f3a9c2e", "user-1842", "acme-corp")] * count
    if traffic == "cold":
        return [(f"conv-{n:08x}-7f3a9c2e", f"user-{n}", "acme-corp") for n in range(count)]
    return mix_ids()[:count]


# -- one child: n requests -----------------------------------------------------------


def _without_memo(middleware: Any, variant: str) -> Any:
    if variant == NO_MEMO:
        middleware._resolver._memo = None  # a measurement, not a configuration
    return middleware


def _asgi_child(variant: str, ids: list[Ids]) -> None:
    import asyncio

    from _asgi_driver import COMMON_HEADERS, drive, get
    from asgi_bench import starlette_app

    app = starlette_app()
    if variant == "floor":
        from _references import HeaderFloor

        app = HeaderFloor(app)
    elif variant == VALIDATING:
        from _references import ValidatingHeaderFloor

        app = ValidatingHeaderFloor(app)
    elif variant == "asgi-correlation-id":
        from asgi_correlation_id import CorrelationIdMiddleware

        app = CorrelationIdMiddleware(app)
    elif variant in ("ours", NO_MEMO):
        from otel_genai_session.middleware import GenAISessionMiddleware

        app = _without_memo(GenAISessionMiddleware(app), variant)
    request = get("/", with_ids=False)
    common = b"\n".join(name + b":" + value for name, value in COMMON_HEADERS)
    raws = [
        common + f"\nx-session-id:{s}\nx-user-id:{u}\nx-tenant-id:{t}".encode() for s, u, t in ids
    ]

    async def requests() -> None:
        for raw in raws:
            await drive(app, request, raw)

    asyncio.run(requests())


def _wsgi_child(variant: str, ids: list[Ids]) -> None:
    from _references import ValidatingWSGIFloor, WSGIFloor
    from wsgi_bench import _ENVIRON, _start_response, five_line_app, serve

    app: Any = five_line_app
    if variant == "floor":
        app = WSGIFloor(app)
    elif variant == VALIDATING:
        app = ValidatingWSGIFloor(app)
    elif variant in ("ours", NO_MEMO):
        from otel_genai_session.middleware import SessionWSGIMiddleware

        app = _without_memo(SessionWSGIMiddleware(app), variant)
    template = {**_ENVIRON, "PATH_INFO": "/", "wsgi.input": io.BytesIO()}
    for session_id, user_id, tenant_id in ids:  # a new environ per request, as a server makes
        environ = template.copy()
        environ["HTTP_X_SESSION_ID"] = session_id
        environ["HTTP_X_USER_ID"] = user_id
        environ["HTTP_X_TENANT_ID"] = tenant_id
        serve(app, environ, _start_response)


def _child(argv: list[str]) -> None:
    """``child API VARIANT TRAFFIC COUNT [HIT_RATE_FILE]``."""
    api, variant, traffic, count = argv[0], argv[1], argv[2], int(argv[3])
    sys.path.insert(0, str(HERE))
    ids = traffic_ids(traffic, count)
    (_asgi_child if api == "asgi" else _wsgi_child)(variant, ids)


# -- the parent: runs, differences, the table ----------------------------------------


@dataclass(frozen=True)
class Row:
    section: str
    variant: str
    traffic: str
    per_request: float  # instructions, whole request
    overhead: float | None = None  # over the bare app with the same traffic


def _instructions(api: str, variant: str, traffic: str, count: int) -> int:
    """Instructions of one interpreter that drives ``count`` requests, under callgrind."""
    with tempfile.TemporaryDirectory() as directory:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out",
            "--dump-line=no", "--dump-instr=no",
            sys.executable, str(Path(__file__).resolve()), "child", api, variant, traffic,
            str(count),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed: {completed.stderr[-2000:]}")
    return int(found.group(1))


def _per_request(job: tuple[str, str, str, int]) -> float:
    api, variant, traffic, count = job
    once = _instructions(api, variant, traffic, count)
    twice = _instructions(api, variant, traffic, 2 * count)
    return (twice - once) / count


def _jobs(api: str, profile: str) -> Iterator[tuple[str, str, str, int]]:
    requests, mix = _REQUESTS[profile], len(mix_ids()) // 2
    for traffic in TRAFFIC:
        count = max(1, int(mix * _MIX_SHARE[profile])) if traffic == "mix" else requests
        for variant in _VARIANTS[api]:
            if traffic != "hit" and variant in ("floor", "asgi-correlation-id"):
                continue  # their work does not depend on the ids: the hit figure holds
            if traffic != "cold" and variant == VALIDATING:
                continue  # held against the cold path, with its (longer) new ids
            if traffic != "mix" and variant == NO_MEMO:
                continue
            yield api, variant, traffic, count


def measure(section: str, profile: str) -> list[Row]:
    """Every row of one callgrind section (two runs at a time: this host has 2 cores)."""
    api = SECTIONS[section]
    jobs = list(_jobs(api, profile))
    with ThreadPoolExecutor(max_workers=2) as pool:
        figures = dict(zip(jobs, pool.map(_per_request, jobs), strict=True))
    bare = {traffic: figures[job] for job in jobs if job[1] == "bare" for traffic in [job[2]]}
    return [
        Row(section, variant, traffic, value, None if variant == "bare" else value - bare[traffic])
        for (_, variant, traffic, _), value in figures.items()
    ]


def mix_hit_rate() -> tuple[int, float, float]:
    """(requests, share of the mix's first turns, share of the measured half
    found in ours's memo), with the middleware's own :class:`SessionMemo` fed
    the mix's keys in order (ASGI's: the header values, as bytes)."""
    from otel_genai_session.middleware._memo import SessionMemo
    from otel_genai_session.privacy import hashing_generation

    ids = mix_ids()
    memo: SessionMemo[bool] = SessionMemo()
    half, hits = len(ids) // 2, 0
    for index, (session_id, user_id, tenant_id) in enumerate(ids):
        # The default header slots, sorted: x-customer-id, x-session-id, x-tenant-id, x-user-id.
        key = (None, session_id.encode(), tenant_id.encode(), user_id.encode())
        if memo.get(key) is not None:
            hits += index >= half
        else:
            memo.put(key, True, hashing_generation())
    return len(ids), len(set(ids)) / len(ids), hits / (len(ids) - half)


def print_rows(rows: list[Row]) -> None:
    """One block per section: instructions per request and the ratios the issue reads."""
    for section in dict.fromkeys(row.section for row in rows):
        mine = {(row.variant, row.traffic): row for row in rows if row.section == section}
        floor = mine[("floor", "hit")].overhead
        reference = mine.get(("asgi-correlation-id", "hit"))
        print(f"\n{section}: instructions per request (callgrind; (2N - N runs) / N)")
        print(f"  {'variant':<22} {'traffic':<6} {'request':>10} {'overhead':>10} "
              f"{'x floor':>8} {'x asgi-correlation-id':>22}")  # fmt: skip
        for (variant, traffic), row in mine.items():
            over = "-" if row.overhead is None else f"{row.overhead:+,.0f}"
            vs_floor = vs_cid = ""
            if row.overhead is not None and floor:
                vs_floor = f"{row.overhead / floor:.2f}"
            if row.overhead is not None and reference is not None and reference.overhead:
                vs_cid = f"{row.overhead / reference.overhead:.2f}"
            name = f"ours, {traffic} path" if variant == "ours" and traffic != "mix" else variant
            name = "ours, mix" if (variant, traffic) == ("ours", "mix") else name
            print(f"  {name:<22} {traffic:<6} {row.per_request:>10,.0f} {over:>10} "
                  f"{vs_floor:>8} {vs_cid:>22}")  # fmt: skip
        cold = mine.get(("ours", "cold"))
        if cold is not None and cold.overhead is not None and floor:
            ratio = cold.overhead / floor
            verdict = "PASS" if ratio <= 2 else "FAIL"
            print(f"  {verdict}  cold path <= 2 x floor: {ratio:.2f} x")
        validating = mine.get((VALIDATING, "cold"))
        if cold is not None and cold.overhead and validating and validating.overhead and floor:
            print(f"  the validating floor costs {validating.overhead / floor:.2f} x the floor; "
                  f"the cold path {cold.overhead / validating.overhead:.2f} x "
                  "the validating floor")  # fmt: skip
        if cold is not None and cold.overhead is not None and reference and reference.overhead:
            ratio = cold.overhead / reference.overhead
            verdict = "PASS" if ratio <= 0.5 else "FAIL"
            print(f"  {verdict}  cold path <= 0.5 x asgi-correlation-id: {ratio:.2f} x")
        memo, no_memo = mine.get(("ours", "mix")), mine.get((NO_MEMO, "mix"))
        if memo is not None and no_memo is not None and memo.overhead and no_memo.overhead:
            saved = 1 - memo.overhead / no_memo.overhead
            whole = 1 - memo.per_request / no_memo.per_request
            print(f"  the memo saves {saved:.1%} of ours's instructions on the mix "
                  f"({whole:.1%} of the whole request's)")  # fmt: skip
    total, first_turns, hit_rate = mix_hit_rate()
    print(f"mix: {total:,} requests of {CONVERSATIONS:,} conversations; "
          f"{first_turns:.1%} are a conversation's first turn; "
          f"the memo's hit rate on the measured half: {hit_rate:.1%}")  # fmt: skip


def run(section: str, profile: str, notes: list[str]) -> list[Row]:
    """The rows of ``section`` (``callgrind-asgi`` or ``callgrind-wsgi``)."""
    try:
        subprocess.run(["valgrind", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        notes.append(f"{section}: skipped (valgrind not installed)")
        return []
    return measure(section, profile)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(sys.argv[2:])
    else:
        rows = measure(sys.argv[1] if len(sys.argv) > 1 else "callgrind-asgi", "quick")
        print_rows(rows)
