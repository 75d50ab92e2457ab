#!/usr/bin/env python3
"""The install-order matrix: the core beside the official GenAI stack, in fresh venvs.

    python scripts/install_matrix.py                     # both orders, a table
    python scripts/install_matrix.py --order stack-first --json out.json

For each order, a new virtualenv gets, in two ``pip install`` commands,

- ``core-first``:  ``pip install <checkout>`` then
  ``pip install opentelemetry-instrumentation-genai-openai openai``;
- ``stack-first``: the same two, the other way round;

then reports what a user would meet:

- ``pip check``, and every file that two distributions' RECORDs both list;
- which imports work: the core's API, the upstream ``opentelemetry.util.genai``
  names that a shared directory used to lose, the instrumentation, ``openai``;
- whether importing the core logs anything (its conflict warning must not fire);
- after installing the test harness (the SDK, FastAPI, uvicorn, httpx, pytest),
  ``tests/official/test_end_to_end.py`` against the *installed* core: chat spans
  and inference events tagged with their request's ids;
- after ``pip uninstall`` of the other side (the stack in ``core-first``, the core
  in ``stack-first``), that what is left still imports.

It needs PyPI (or the configured index); the orders run side by side, in about
two minutes.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = "otel-genai-session"
STACK = ("opentelemetry-instrumentation-genai-openai", "openai")
# What tests/official/test_end_to_end.py imports besides the core and the stack.
HARNESS = ("opentelemetry-sdk", "fastapi", "uvicorn", "httpx", "pytest", "pytest-timeout")
E2E = "tests/official/test_end_to_end.py"
STEP_TIMEOUT = 600  # seconds, per pip or pytest command

IMPORTS = (
    "import otel_genai_session",
    "from otel_genai_session import session_context, SessionContext, get_session_context",
    "from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware",
    "from opentelemetry.util.genai.handler import TelemetryHandler",
    # The names a shared opentelemetry/util/genai/ directory used to lose:
    "from opentelemetry.util.genai.environment_variables import "
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, "
    "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK",
    "from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor",
    "import openai",
)
SDK_IMPORTS = ("from otel_genai_session import SessionSpanProcessor, SessionLogRecordProcessor",)
LEFT_AFTER_UNINSTALL = {
    "core-first": ("from otel_genai_session import SessionSpanProcessor, GenAISessionMiddleware",),
    "stack-first": (
        "from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor",
        "from opentelemetry.util.genai.environment_variables import "
        "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK",
    ),
}

# Run inside the venv: which imports work, which files two distributions share.
PROBE = r"""
import collections, importlib, io, json, logging, sys
from importlib import metadata

imports = {}
for statement in sys.argv[1:]:
    try:
        exec(statement, {})
        imports[statement] = "ok"
    except Exception as error:
        imports[statement] = f"{type(error).__name__}: {error}"
owners = collections.defaultdict(set)
for dist in metadata.distributions():
    for file in dist.files or ():
        path = str(file)
        if ".dist-info/" in path or "__pycache__" in path or path.startswith(".."):
            continue
        owners[path].add(dist.metadata["Name"])
shared = {p: sorted(names) for p, names in sorted(owners.items()) if len(names) > 1}
try:
    core = [str(f) for f in metadata.distribution("otel-genai-session").files or ()]
except metadata.PackageNotFoundError:  # after its uninstall
    core = []
print(json.dumps({"imports": imports, "shared": shared,
                  "core_outside_its_package": [p for p in core if p.startswith("opentelemetry/")]}))
"""
QUIET_IMPORT = (
    "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.DEBUG); "
    "import otel_genai_session"
)


@dataclass
class OrderResult:
    order: str
    commands: list[str] = field(default_factory=list)
    pip_check: str = ""
    shared_files: dict[str, list[str]] = field(default_factory=dict)
    core_files_under_opentelemetry: list[str] = field(default_factory=list)
    imports: dict[str, str] = field(default_factory=dict)
    import_log: str = ""
    end_to_end: str = ""
    after_uninstall: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.pip_check == "clean"
            and not self.shared_files
            and not self.core_files_under_opentelemetry
            and all(v == "ok" for v in (*self.imports.values(), *self.after_uninstall.values()))
            and not self.import_log
            and re.fullmatch(r"\d+ passed", self.end_to_end) is not None
        )


class Venv:
    def __init__(self, path: Path, log: list[str]) -> None:
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
        self.python = path / "bin" / "python"
        self.log = log

    def run(self, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )

    def pip(self, *args: str) -> None:
        started = time.monotonic()
        result = self.run("-m", "pip", "--disable-pip-version-check", "-q", *args)
        self.log.append(f"pip {' '.join(args)}  ({time.monotonic() - started:.0f} s)")
        if result.returncode != 0:
            raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stderr[-3000:]}")

    def probe(self, statements: tuple[str, ...]) -> dict[str, object]:
        result = self.run("-c", PROBE, *statements)
        if result.returncode != 0:
            raise RuntimeError(f"the probe failed:\n{result.stderr[-3000:]}")
        probed: dict[str, object] = json.loads(result.stdout)
        return probed


def run_order(order: str, workdir: Path) -> OrderResult:
    started = time.monotonic()
    result = OrderResult(order)
    env = Venv(workdir / order, result.commands)
    core, stack = [str(ROOT)], list(STACK)
    for packages in (core, stack) if order == "core-first" else (stack, core):
        env.pip("install", *packages)

    check = env.run("-m", "pip", "check")
    result.pip_check = "clean" if check.returncode == 0 else check.stdout.strip()
    probed = env.probe(IMPORTS)
    result.shared_files = probed["shared"]  # type: ignore[assignment]
    result.core_files_under_opentelemetry = probed["core_outside_its_package"]  # type: ignore[assignment]
    result.imports = probed["imports"]  # type: ignore[assignment]
    result.import_log = env.run("-c", QUIET_IMPORT).stdout.strip()

    env.pip("install", *HARNESS)
    result.imports.update(env.probe(SDK_IMPORTS)["imports"])  # type: ignore[arg-type]
    tests = env.run("-m", "pytest", "-p", "no:cacheprovider", "-q", E2E)
    summary = tests.stdout.strip().splitlines()[-1:] or ["(no output)"]
    result.end_to_end = re.sub(r" in [\d.]+s.*$", "", summary[0].strip("= "))
    if tests.returncode != 0:
        result.end_to_end += "\n" + tests.stdout[-3000:]

    if order == "core-first":
        env.pip("uninstall", "-y", *STACK, "opentelemetry-util-genai")
    else:
        env.pip("uninstall", "-y", CORE)
    result.after_uninstall = env.probe(LEFT_AFTER_UNINSTALL[order])["imports"]  # type: ignore[assignment]
    result.seconds = round(time.monotonic() - started, 1)
    return result


def render(results: list[OrderResult]) -> str:
    lines = ["| order | pip check | files shared | imports that work | chat spans and events | "
             "after uninstalling the other side | time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in results:
        working = sum(v == "ok" for v in r.imports.values())
        left = sum(v == "ok" for v in r.after_uninstall.values())
        lines.append(
            f"| {r.order} | {r.pip_check} | {len(r.shared_files) or 'none'} | "
            f"{working}/{len(r.imports)} | {r.end_to_end.splitlines()[0]} (tagged) | "
            f"{left}/{len(r.after_uninstall)} imports work | {r.seconds:.0f} s |"
        )
    for r in results:
        lines.append(f"\n{r.order}: " + " && ".join(r.commands[:2]))
        for statement, outcome in {**r.imports, **r.after_uninstall}.items():
            lines.append(f"  {'ok ' if outcome == 'ok' else 'ERR'} {statement}"
                         + ("" if outcome == "ok" else f"  -> {outcome}"))  # fmt: skip
        for path, owners in r.shared_files.items():
            lines.append(f"  shared: {path} ({', '.join(owners)})")
        if r.import_log:
            lines.append(f"  import otel_genai_session logged: {r.import_log}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--order", action="append", choices=("core-first", "stack-first"), help="default: both"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    orders = args.order or ["core-first", "stack-first"]
    with (
        tempfile.TemporaryDirectory(prefix="install-matrix-") as workdir,
        ThreadPoolExecutor(len(orders)) as pool,  # mostly waiting on the index: side by side
    ):
        results = list(pool.map(run_order, orders, [Path(workdir)] * len(orders)))
    print(render(results))
    if args.json:
        payload = [{**asdict(r), "ok": r.ok} for r in results]
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
