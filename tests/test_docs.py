"""The documentation: one source for every option, and a site that lists every page.

The options are documented in the docstrings (what an IDE shows), and
docs/configuration.md's tables are generated from them by
scripts/docs_reference.py; these tests fail when the two disagree, when an
option has no docstring entry, or when the WSGI middleware (same options) stops
pointing to the ASGI one's list, the one place they are described.
``python3 tasks.py docs`` builds the site with ``mkdocs build --strict`` (CI
runs it); the nav is checked here, cheaply.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from otel_genai_session import environment_variables
from otel_genai_session.middleware import GenAISessionMiddleware, SessionWSGIMiddleware
from otel_genai_session.middleware._options import SessionOptions

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference", REPO / "scripts" / "docs_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_page_is_what_the_docstrings_say(reference: ModuleType) -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")

    assert reference.render(page) == page, "run: python scripts/docs_reference.py write"


def test_the_options_are_documented_once_for_both_middlewares(reference: ModuleType) -> None:
    asgi = reference.documented_arguments(GenAISessionMiddleware)
    wsgi = reference.documented_arguments(SessionWSGIMiddleware)
    options = list(SessionOptions.__annotations__)

    assert [name for name in asgi if name != "app"] == options
    assert list(wsgi) == ["wsgi_app"]  # the rest: "the options of GenAISessionMiddleware"
    assert "options are those of the ASGI ``GenAISessionMiddleware``" in " ".join(
        (SessionWSGIMiddleware.__doc__ or "").split()
    )


def test_the_configuration_page_lists_every_option_and_variable() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")

    for option in SessionOptions.__annotations__:
        assert f"| `{option}` |" in page, option
    for variable in environment_variables.__all__:
        assert f"| `{variable}` |" in page, variable


def test_a_wrong_docstring_fails_the_generation(reference: ModuleType) -> None:
    class Undocumented:
        """Takes an option nobody describes.

        Args:
            documented: described.
        """

        def __init__(self, documented: int = 1, undocumented: int = 2) -> None: ...

    with pytest.raises(ValueError, match="undocumented has no docstring entry"):
        reference._signature_table(Undocumented)


def test_the_site_nav_lists_every_page_and_only_pages_that_exist() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^  - [^:]+: (\S+\.md)$", config, flags=re.M)
    pages = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))

    assert sorted(nav) == pages
    for name in (
        "getting-started.md",
        "configuration.md",
        "sources-and-precedence.md",
        "security.md",
        "beyond-one-process.md",
        "sampling.md",
        "zero-code.md",
        "see-your-sessions.md",
        "langchain.md",
        "performance.md",
        "reliability.md",
        "compatibility.md",
        "api.md",
        "changelog.md",
    ):
        assert name in nav, name


def test_the_api_reference_renders_the_middlewares_and_processors() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")

    for target in (
        "otel_genai_session.middleware.asgi.GenAISessionMiddleware",
        "otel_genai_session.middleware.wsgi.SessionWSGIMiddleware",
        "otel_genai_session.processor.SessionSpanProcessor",
        "otel_genai_session._log_processor.SessionLogRecordProcessor",
    ):
        assert f"::: {target}\n" in api, target
