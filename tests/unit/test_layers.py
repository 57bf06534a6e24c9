"""Imports flow one way (STYLE.md): only annotator/llm imports openai; only ui.py, app.py and asgi.py (the
server `annotator serve` starts: st.App with the session-cookie route) import streamlit; stats/ and
sampling.py depend on no other part of the package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "annotator"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules():
    return [(p, _imports(p)) for p in PACKAGE.rglob("*.py")]


def test_only_the_llm_package_imports_openai():
    offenders = [str(p.relative_to(PACKAGE)) for p, names in _modules()
                 if any(n == "openai" or n.startswith("openai.") for n in names) and p.parent.name != "llm"]
    assert not offenders


def test_only_ui_app_and_asgi_import_streamlit():
    offenders = [str(p.relative_to(PACKAGE)) for p, names in _modules()
                 if any(n == "streamlit" or n.startswith("streamlit.") for n in names)
                 and p.name not in ("ui.py", "app.py", "asgi.py")]
    assert not offenders


def test_statistics_and_sampling_depend_on_no_other_part_of_the_package():
    pure = [p for p in PACKAGE.rglob("*.py") if p.parent.name == "stats" or p.name == "sampling.py"]
    offenders = [str(p.relative_to(PACKAGE)) for p in pure
                 if any(n.startswith("annotator.") and not n.startswith("annotator.stats") for n in _imports(p))]
    assert not offenders
