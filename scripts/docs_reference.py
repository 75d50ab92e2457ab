"""The configuration page's tables, generated from the docstrings and signatures.

The options are documented once, where IDEs show them: in the docstrings of the
middlewares, the handler, the sampler and the log filter, and of each constant
of ``otel_genai_session.environment_variables``. This script renders them into
docs/configuration.md between generated-table markers; the defaults come from
the code itself. ``python3 tasks.py docs`` writes them before building the site,
and tests/test_docs.py fails when the committed page is out of date.

    python scripts/docs_reference.py write    # regenerate docs/configuration.md's tables
    python scripts/docs_reference.py check    # exit 1 if they differ from the code
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from otel_genai_session import environment_variables  # noqa: E402
from otel_genai_session.handler import TelemetryHandler  # noqa: E402
from otel_genai_session.logs import SessionLogFilter, SessionLogRecordProcessor  # noqa: E402
from otel_genai_session.middleware import GenAISessionMiddleware  # noqa: E402
from otel_genai_session.middleware._options import MiddlewareOptions, SessionOptions  # noqa: E402
from otel_genai_session.processor import SessionSpanProcessor  # noqa: E402
from otel_genai_session.sampling import (  # noqa: E402
    ParentBasedSessionRatioSampler,
    SessionRatioSampler,
)

PAGE = ROOT / "docs" / "configuration.md"
START = "<!-- generated:{name} (scripts/docs_reference.py, from the docstrings: do not edit) -->"
END = "<!-- generated:{name}:end -->"
_ENTRY = re.compile(r"^(?P<names>\*{0,2}[\w, ]+?)(?: \([^)]*\))?: (?P<text>.*)$")


def documented_arguments(obj: Any) -> dict[str, str]:
    """``{name: description}`` of the ``Args:`` section of ``obj``'s docstring
    (Google style); an entry naming several arguments (``a, b: ...``) gives each."""
    lines = inspect.getdoc(obj).splitlines()  # type: ignore[union-attr]
    start = lines.index("Args:") + 1
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the next section
        if line.startswith("    ") and not line.startswith("     "):
            match = _ENTRY.match(line[4:])
            if match is None:
                raise ValueError(f"{obj.__qualname__}: cannot read Args entry {line!r}")
            current = [match["text"]]
            for name in match["names"].split(","):
                entries[name.strip().lstrip("*")] = current
        elif line.strip():
            current.append(line.strip())
    return {name: " ".join(text) for name, text in entries.items()}


def _cell(text: str) -> str:
    """Docstring text as a Markdown table cell (reST's double backticks as code)."""
    text = re.sub(r":\w+:`~?\.?([^`]+)`", r"``\1``", text)  # Sphinx roles: plain code
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    return text.replace("|", "\\|")


def _default(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return "required"
    if hasattr(value, "get_description"):  # a sampler: ALWAYS_ON is "AlwaysOnSampler"
        return f"`{value.get_description()}`"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1024:
        return f"`{value}`" + (f" ({value // 1024**2} MiB)" if value % 1024**2 == 0 else "")
    return f"`{value!r}`"


def _signature_table(
    obj: Callable[..., Any], skip: tuple[str, ...] = (), passed_to: Callable[..., Any] | None = None
) -> str:
    """option | default | meaning, for each parameter of ``obj``'s signature;
    its ``**options`` are those of ``passed_to`` that ``obj`` does not take itself."""
    documented = documented_arguments(obj)
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    parameters = dict(inspect.signature(obj).parameters)
    for name, parameter in list(parameters.items()):
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and passed_to is not None:
            del parameters[name]
            passed = inspect.signature(passed_to).parameters.items()
            parameters.update((key, value) for key, value in passed if key not in parameters)
    for name, parameter in parameters.items():
        if name in skip:
            continue
        if name not in documented:
            raise ValueError(f"{obj.__qualname__}: argument {name} has no docstring entry")
        rows.append(f"| `{name}` | {_default(parameter.default)} | {_cell(documented[name])} |")
    return "\n".join(rows)


def middleware_options() -> str:
    """The options both middlewares take: names from ``SessionOptions``, defaults
    from the validation that applies them, meaning from the ASGI docstring."""
    documented = documented_arguments(GenAISessionMiddleware)
    defaults = inspect.signature(MiddlewareOptions.from_keywords).parameters
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for name in SessionOptions.__annotations__:
        if name not in documented:
            raise ValueError(f"GenAISessionMiddleware: option {name} has no docstring entry")
        default = _default(defaults[name].default)
        rows.append(f"| `{name}` | {default} | {_cell(documented[name])} |")
    return "\n".join(rows)


def environment() -> str:
    """Each variable of ``environment_variables``, with the docstring below it."""
    tree = ast.parse(Path(environment_variables.__file__).read_text(encoding="utf-8"))
    docs: dict[str, str] = {}
    body = tree.body
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.Assign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            name = node.targets[0].id  # type: ignore[attr-defined]
            docs[name] = " ".join(inspect.cleandoc(following.value.value).split())
    missing = set(environment_variables.__all__) - set(docs)
    if missing:
        raise ValueError(f"environment variables without a docstring: {sorted(missing)}")
    rows = ["| variable | effect |", "| --- | --- |"]
    for name in docs:  # in the module's order
        rows.append(f"| `{name}` | {_cell(docs[name])} |")
    return "\n".join(rows)


def processors() -> str:
    """The processors' docstrings: the first two paragraphs say what they do, the
    ``Args:`` section what each (keyword-only) option does, its default from the code."""
    rows = ["| processor | options | what it does |", "| --- | --- | --- |"]
    for cls in (SessionSpanProcessor, SessionLogRecordProcessor):
        signature = inspect.signature(cls).parameters
        parameters = [p for p in signature if p not in ("args", "kwargs")]
        paragraph = inspect.getdoc(cls).split("\n\n")[0:2]  # type: ignore[union-attr]
        text = " ".join(" ".join(paragraph).split())
        documented = documented_arguments(cls) if parameters else {}
        options = "<br>".join(
            f"`{p}` (default {_default(signature[p].default)}): {documented[p]}" for p in parameters
        )
        rows.append(f"| `{cls.__name__}()` | {_cell(options) or 'none'} | {_cell(text)} |")
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "middleware-options": middleware_options,
    "environment-variables": environment,
    "processors": processors,
    "telemetry-handler": lambda: _signature_table(TelemetryHandler),
    "sampler": lambda: _signature_table(
        ParentBasedSessionRatioSampler, passed_to=SessionRatioSampler
    ),
    "log-filter": lambda: _signature_table(SessionLogFilter),
}


def render(text: str) -> str:
    """``text`` with every generated table replaced by what the code says now."""
    for name, table in TABLES.items():
        start, end = START.format(name=name), END.format(name=name)
        if start not in text or end not in text:
            raise ValueError(f"{PAGE.name}: no markers for the {name} table")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{table()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    if argv not in (["write"], ["check"]):
        print(__doc__)
        return 2
    current = PAGE.read_text(encoding="utf-8")
    wanted = render(current)
    if argv == ["write"]:
        if wanted != current:
            PAGE.write_text(wanted, encoding="utf-8")
            print(f"{PAGE.relative_to(ROOT)}: tables regenerated from the docstrings")
        return 0
    if wanted != current:
        page = PAGE.relative_to(ROOT)
        print(f"{page} is out of date: run python scripts/docs_reference.py write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
