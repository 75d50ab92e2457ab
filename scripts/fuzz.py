"""Long fuzz run of both middlewares (outside the default test command).

Runs the property check of tests/hostile (``_hostile.check_request``: the app
gets byte-identical input through both middlewares, responses unchanged, ids
valid and identical between ASGI and WSGI, no client bytes in logs) on
hypothesis-generated requests, round after round with a new seed each, until
the time is up. The JSON parser alternates between orjson and the standard
library per round (``--parser``).

The corpus directory keeps:
  hypothesis/     hypothesis' example database (failing examples, replayed first
                  on the next run)
  samples.jsonl   a sample of generated requests (hex-encoded), replayable with
                  ``--replay``
  failures/       one file per failure: seed, parser, falsifying example, traceback
  runs.jsonl      one summary line per run

Usage::

    python scripts/fuzz.py --minutes 5          # corpus in .hypothesis/fuzz-corpus (ignored)
    python scripts/fuzz.py --minutes 60 --seed 1234 --corpus /tmp/corpus
    python scripts/fuzz.py --replay

Exit status 0 when every example passed, 1 on a failure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

from _hostile import RawRequest, check_request  # noqa: E402
from _strategies import requests  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

from otel_genai_session.middleware import _parsing  # noqa: E402

SAMPLE_EVERY = 250
MAX_SAMPLES = 5000


def use_parser(name: str) -> None:
    """Force the body parser: the parsing module picks one on first use."""
    _parsing._loads = None
    if name == "stdlib":
        sys.modules["orjson"] = None  # type: ignore[assignment]  # its import now fails
    elif "orjson" in sys.modules and sys.modules["orjson"] is None:
        del sys.modules["orjson"]


def encode(request: RawRequest) -> dict[str, Any]:
    data = asdict(request)
    data["query"] = request.query.hex()
    data["headers"] = [[k.hex(), v.hex()] for k, v in request.headers]
    data["body"] = [chunk.hex() for chunk in request.body]
    return data


def decode(data: dict[str, Any]) -> RawRequest:
    return RawRequest(
        method=data["method"],
        path=data["path"],
        query=bytes.fromhex(data["query"]),
        headers=tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in data["headers"]),
        body=tuple(bytes.fromhex(chunk) for chunk in data["body"]),
        framing=data["framing"],
        http_version=data["http_version"],
    )


class Fuzzer:
    def __init__(self, corpus: Path, batch: int) -> None:
        self.corpus = corpus
        self.batch = batch
        self.examples = 0
        self.accepted: Counter[str] = Counter()
        self.per_parser: Counter[str] = Counter()
        self.samples = 0
        corpus.mkdir(parents=True, exist_ok=True)
        (corpus / "failures").mkdir(exist_ok=True)
        existing = corpus / "samples.jsonl"
        self.samples = sum(1 for _ in existing.open()) if existing.exists() else 0
        self.database = DirectoryBasedExampleDatabase(str(corpus / "hypothesis"))

    def one(self, request: RawRequest, parser: str) -> None:
        self.examples += 1
        self.per_parser[parser] += 1
        if self.examples % SAMPLE_EVERY == 0 and self.samples < MAX_SAMPLES:
            with (self.corpus / "samples.jsonl").open("a") as out:
                out.write(json.dumps(encode(request)) + "\n")
            self.samples += 1
        ids = check_request(request)
        for name, value in zip(("session_id", "user_id", "customer_id"), ids, strict=True):
            if value is not None:
                self.accepted[name] += 1

    def round(self, round_seed: int, parser: str) -> None:
        use_parser(parser)

        @hypothesis_seed(round_seed)
        @settings(
            max_examples=self.batch,
            deadline=None,
            database=self.database,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=True,
        )
        @given(request=requests())
        def run(request: RawRequest) -> None:
            self.one(request, parser)

        run()


def replay(corpus: Path) -> int:
    path = corpus / "samples.jsonl"
    count = 0
    for line in path.open():
        check_request(decode(json.loads(line)))
        count += 1
    print(f"replayed {count} samples from {path}: all passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="run time (default 3)")
    parser.add_argument(
        "--corpus", type=Path, default=ROOT / ".hypothesis" / "fuzz-corpus", help="corpus dir"
    )
    parser.add_argument("--batch", type=int, default=2000, help="examples per round")
    parser.add_argument("--seed", type=int, default=None, help="first round's seed")
    parser.add_argument("--parser", choices=["both", "orjson", "stdlib"], default="both")
    parser.add_argument("--replay", action="store_true", help="replay samples.jsonl and exit")
    args = parser.parse_args(argv)

    if args.replay:
        return replay(args.corpus)
    base_seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    parsers = ["orjson", "stdlib"] if args.parser == "both" else [args.parser]
    fuzzer = Fuzzer(args.corpus, args.batch)
    started = time.monotonic()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    deadline = started + args.minutes * 60
    rounds = 0
    failure: dict[str, Any] | None = None
    print(f"fuzzing for {args.minutes} min, base seed {base_seed}, corpus {args.corpus}")
    while time.monotonic() < deadline:
        round_seed = base_seed + rounds
        parser_name = parsers[rounds % len(parsers)]
        try:
            fuzzer.round(round_seed, parser_name)
        except Exception as error:  # a property failed: hypothesis has shrunk it
            failure = {
                "seed": round_seed,
                "parser": parser_name,
                "error": repr(error),
                "traceback": traceback.format_exc(),
            }
            path = args.corpus / "failures" / f"seed-{round_seed}-{parser_name}.json"
            path.write_text(json.dumps(failure, indent=2))
            print(f"FAILURE (seed {round_seed}, parser {parser_name}); written to {path}")
            print(failure["traceback"])
            break
        rounds += 1
        elapsed = time.monotonic() - started
        print(
            f"round {rounds} ({parser_name}, seed {round_seed}): {fuzzer.examples} examples, "
            f"{fuzzer.examples / elapsed:.0f}/s"
        )
    elapsed = time.monotonic() - started
    summary = {
        "started": started_at,
        "seconds": round(elapsed, 1),
        "base_seed": base_seed,
        "rounds": rounds,
        "examples": fuzzer.examples,
        "examples_per_parser": dict(fuzzer.per_parser),
        "ids_accepted": dict(fuzzer.accepted),
        "samples_in_corpus": fuzzer.samples,
        "failure": None if failure is None else failure["error"],
    }
    with (args.corpus / "runs.jsonl").open("a") as out:
        out.write(json.dumps(summary) + "\n")
    print(json.dumps(summary, indent=2))
    return 0 if failure is None else 1


if __name__ == "__main__":
    sys.exit(main())
