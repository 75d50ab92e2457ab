"""MkDocs hooks: the site's links to the repository's own files, and the changelog.

The pages under docs/ are read on GitHub as well as on the built site, so they
link to examples, tests and scripts relative to the repository
(``../examples/queued_jobs.py``). MkDocs only knows docs/; these hooks copy
each file such a link names into the site, under ``source/``, and point the
link there. A link to a file that does not exist fails the build (``mkdocs
build --strict`` catches the rest). ``changelog.md`` shows CHANGELOG.md, the
one changelog, rather than a copy of it; and the API reference shows
Sphinx roles in docstrings (:class:`X`) as plain code.

Used by mkdocs.yml (``hooks:``); ``python3 tasks.py docs`` builds the site.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "source"
"""Where the repository files the pages link to land in the site."""

# [text](../path) and [text](../path#anchor), outside the docs folder.
_OUTSIDE_LINK = re.compile(r"\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def _outside_targets(docs_dir: Path, page: str, markdown: str) -> list[tuple[str, str]]:
    """(link as written, repository path) for each link of ``page`` out of docs/."""
    found = []
    for match in _OUTSIDE_LINK.finditer(markdown):
        written = match["target"]
        target = (docs_dir / posixpath.dirname(page) / written).resolve()
        if not target.is_relative_to(ROOT) or target.is_relative_to(docs_dir):
            continue
        if not target.is_file():
            raise PluginError(f"{page} links to {written}, which is not a file of the repository")
        found.append((written, target.relative_to(ROOT).as_posix()))
    return found


def on_files(files: Files, config: Any) -> Files:
    docs_dir = Path(config["docs_dir"]).resolve()
    wanted: set[str] = set()
    for file in files.documentation_pages():
        text = Path(file.abs_src_path or "").read_text(encoding="utf-8")
        if file.src_uri == "changelog.md":
            text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
        wanted.update(path for _, path in _outside_targets(docs_dir, file.src_uri, text))
    for path in sorted(wanted):
        files.append(File.generated(config, f"{SOURCE}/{path}", abs_src_path=str(ROOT / path)))
    return files


def on_page_markdown(markdown: str, page: Page, config: Any, files: Files) -> str:
    if page.file.src_uri == "changelog.md":
        markdown = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    docs_dir = Path(config["docs_dir"]).resolve()
    base = posixpath.dirname(page.file.src_uri)
    for written, path in _outside_targets(docs_dir, page.file.src_uri, markdown):
        local = posixpath.relpath(f"{SOURCE}/{path}", base or ".")
        markdown = markdown.replace(f"]({written})", f"]({local})")
        markdown = markdown.replace(f"]({written}#", f"]({local}#")
    return markdown


# Docstrings use Sphinx's roles (:class:`X`), which Markdown renders as text
# ":class:" before the code; the API reference shows the code alone.
_SPHINX_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(<code>)~?\.?")


def on_page_content(html: str, page: Page, config: Any, files: Files) -> str:
    return _SPHINX_ROLE.sub(r"\1", html)
