#!/usr/bin/env python3
"""Set-up and run, from a fresh clone with only python3 and pip.

    python3 tasks.py demo [--otlp URL] [--project NAME] [--json PATH]
                                         # the demo: a chat service with sessions on its traces
    python3 tasks.py test                # lint, type check and the test suites
    python3 tasks.py docs [--serve]      # the documentation site (strict) into site/,
                                         # or served on http://127.0.0.1:8000
    python3 tasks.py bench               # the benchmark suite (figures, no assertions)
    python3 tasks.py phoenix [--screenshots]
                                         # the demo's sessions in a real Arize Phoenix

Two environments, created from this project's own files on first use (and again
when the files that define them change), then run inside:

- ``.venv``: the core, the compat distribution (the former
  ``opentelemetry.util.genai`` import paths) and the test tools: the main suite.
- ``.venv-official``: the core beside the official OpenTelemetry GenAI stack
  (``opentelemetry-instrumentation-genai-openai``, which brings
  ``opentelemetry-util-genai``, and the ``openai`` SDK): the demo and
  ``tests/official``. Compat and ``opentelemetry-util-genai`` both ship
  ``opentelemetry/util/genai/``, so they never share an environment.

And, for ``phoenix`` only, ``.venv-phoenix``: the Arize Phoenix server (about
850 MB), which ``tests/phoenix`` starts and runs the demo into.

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BIN = "Scripts" if os.name == "nt" else "bin"
EXE = "python.exe" if os.name == "nt" else "python"
LINT = ("-m", "ruff", "check", "src", "compat", "tests", "examples", "benchmarks", "scripts")


@dataclass(frozen=True)
class Environment:
    """A virtualenv holding the core (editable) with ``extra``, and compat or not."""

    name: str
    extra: str
    with_compat: bool

    @property
    def path(self) -> Path:
        return ROOT / self.name

    @property
    def python(self) -> Path:
        return self.path / BIN / EXE

    def _digest(self) -> str:
        # What defines the environment: the core's pyproject (and compat's, when
        # it is installed). Editable installs follow source changes by themselves.
        sources = [ROOT / "pyproject.toml"]
        if self.with_compat:
            sources.append(ROOT / "compat" / "pyproject.toml")
        return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()

    def ensure(self) -> None:
        """Create the environment and install into it, once per definition."""
        stamp = self.path / f".installed-{self.extra}"
        digest = self._digest()
        if stamp.exists() and stamp.read_text() == digest and self.python.exists():
            return
        started = time.monotonic()
        if not self.python.exists():
            print(f"Creating {self.path} ...", flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(self.path)
        pip = [str(self.python), "-m", "pip", "--disable-pip-version-check"]
        compat = ["-e", "./compat"] if self.with_compat else []
        log = self.path / "install.log"
        print(f"Installing otel-genai-session[{self.extra}] into {self.path} (log: {log})")
        _logged([*pip, "install", "--upgrade", "pip"], log, "pip itself")
        _logged([*pip, "install", "-e", f".[{self.extra}]", *compat], log, f"[{self.extra}]")
        stamp.write_text(digest)
        print(f"  {self.name} ready in {time.monotonic() - started:.0f} s", flush=True)

    def run(self, *args: str) -> int:
        return subprocess.call([str(self.python), *args], cwd=ROOT)


def _logged(command: list[str], log: Path, what: str) -> None:
    """Run a pip ``command`` into ``log``, with a progress line every 15 s."""
    started = time.monotonic()
    with log.open("a") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        while True:
            try:
                code = process.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                lines = log.read_text(errors="replace").splitlines()
                collected = sum(line.startswith("Collecting") for line in lines)
                elapsed = time.monotonic() - started
                print(f"  installing {what}: {elapsed:.0f} s, {collected} packages", flush=True)
    if code != 0:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise SystemExit(f"pip failed installing {what} (exit {code}); full log: {log}")
    print(f"  installed {what} in {time.monotonic() - started:.0f} s", flush=True)


MAIN = Environment(".venv", "dev", with_compat=True)
OFFICIAL = Environment(".venv-official", "official", with_compat=False)
PHOENIX = Environment(".venv-phoenix", "phoenix", with_compat=False)


def steps(env: Environment, *commands: tuple[str, ...]) -> int:
    """Run each command in ``env``, echoed first and timed; stop at the first failure."""
    for command in commands:
        print(f"+ [{env.name}]", " ".join(command), flush=True)
        started = time.monotonic()
        code = env.run(*command)
        outcome = "done" if code == 0 else f"FAILED (exit {code})"
        print(f"  {outcome} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            return code
    return 0


REPORTS = ".reports"
"""Where the main suite leaves its JUnit report and versions (``main.xml``,
``main.json``), beside the tox envs' (scripts/compat_table.py reads them all)."""


def test(rest: list[str]) -> int:
    """The main suite in .venv, then the official-stack suite in .venv-official.

    Extra arguments go to the main suite's pytest; the official suite always runs
    whole (``pytest tests/official``; the main configuration ignores that folder).
    """
    MAIN.ensure()
    report = ("--junitxml", f"{REPORTS}/main.xml") if not rest else ()
    code = steps(
        MAIN,
        LINT,
        ("-m", "mypy", "--strict"),
        ("scripts/compat_table.py", "record", "main", REPORTS),
        ("-m", "pytest", *report, *rest),
    )
    if code != 0:
        return code
    OFFICIAL.ensure()
    official = ("--junitxml", f"{REPORTS}/official.xml")
    code = steps(OFFICIAL, ("-m", "pytest", "-p", "no:cacheprovider", *official, "tests/official"))
    if not rest:
        print(_total(ROOT / REPORTS / "main.xml", ROOT / REPORTS / "official.xml"))
    return code


def _total(*reports: Path) -> str:
    """One closing line for the suites' JUnit reports: ``total: N passed, N failed, N skipped``."""
    counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for report in reports:
        for suite in ElementTree.parse(report).iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    return f"total: {passed} passed, {failed} failed, {counts['skipped']} skipped"


def docs(rest: list[str]) -> int:
    """The documentation site, in .venv: the configuration page's tables regenerated
    from the docstrings, then ``mkdocs build --strict`` into site/ (any broken link
    or missing reference fails), or with ``--serve`` served on 127.0.0.1 (another
    port: ``--serve 127.0.0.1:8001``)."""
    MAIN.ensure()
    started = time.monotonic()
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's banner about its successor
    reference = ("scripts/docs_reference.py", "write")
    if rest[:1] == ["--serve"]:
        address = rest[1] if len(rest) > 1 else "127.0.0.1:8000"
        return steps(MAIN, reference, ("-m", "mkdocs", "serve", "--strict", "-a", address))
    build = ("-m", "mkdocs", "build", "--strict", "--site-dir", "site", *rest)
    code = steps(MAIN, reference, build)
    if code == 0:
        print(f"docs: site/index.html built in {time.monotonic() - started:.0f} s")
    return code


def phoenix(rest: list[str]) -> int:
    """tests/phoenix (or, with --screenshots, scripts/phoenix_screenshots.py) in the
    demo's environment, against the Phoenix server of .venv-phoenix."""
    OFFICIAL.ensure()
    PHOENIX.ensure()
    os.environ["PHOENIX_BIN"] = str(PHOENIX.python.with_name("phoenix"))  # its console script
    if rest[:1] == ["--screenshots"]:
        return steps(OFFICIAL, ("scripts/phoenix_screenshots.py", *rest[1:]))
    return steps(OFFICIAL, ("-m", "pytest", "-p", "no:cacheprovider", "tests/phoenix", *rest))


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "demo":
        OFFICIAL.ensure()
        return OFFICIAL.run("examples/demo/demo.py", *rest)
    if command == "test":
        return test(rest)
    if command == "docs":
        return docs(rest)
    if command == "bench":
        MAIN.ensure()
        return MAIN.run("benchmarks/run.py", *rest)
    if command == "phoenix":
        return phoenix(rest)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
