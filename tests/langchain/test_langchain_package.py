"""The integration's public surface, and that nothing else in the package imports LangChain."""

from __future__ import annotations

import subprocess
import sys

import otel_genai_session.langchain as integration


def test_all_names_exist_sorted_and_unique() -> None:
    exported = integration.__all__
    assert exported == sorted(set(exported))
    for name in exported:
        assert getattr(integration, name) is not None, name


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_rest_of_the_package_never_imports_langchain() -> None:
    result = run_python(
        "import importlib, pkgutil, sys\n"
        "import otel_genai_session as package\n"
        "names = []\n"
        "for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
        "    if info.name.endswith('.langchain'):\n"
        "        continue\n"
        "    module = importlib.import_module(info.name)\n"
        "    names.append(info.name)\n"
        "    for sub in pkgutil.iter_modules(getattr(module, '__path__', []), info.name + '.'):\n"
        "        importlib.import_module(sub.name)\n"
        "        names.append(sub.name)\n"
        "assert len(names) > 5, names\n"
        "roots = ('langchain_core', 'langgraph', 'langchain')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in roots))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_langchain_the_import_error_says_which_extra() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['langchain_core'] = None\n"
        "try:\n"
        "    import otel_genai_session.langchain\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "otel-genai-session[langchain]" in result.stdout
