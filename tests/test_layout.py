"""The layout a newcomer relies on: one settings module, imports that point one way, the local
portal's installer outside the pipeline's packages, small functions."""

from __future__ import annotations

import ast
import subprocess
import sys

from ntm_core.settings import REPO_ROOT, markdown_table

PIPELINE_PACKAGES = ("ntm_core", "ingest", "expectations", "publish", "ntm", "dags")
# Who may import whom: the core at the bottom, the stages above it and independent of each other,
# the pipeline, CLI and DAGs on top.
MAY_IMPORT = {
    "ntm_core": set(),
    "ingest": {"ntm_core"},
    "expectations": {"ntm_core"},
    "publish": {"ntm_core"},
    "ntm": {"ntm_core", "ingest", "expectations", "publish"},
    "dags": {"ntm_core", "ntm"},
}


def _sources(*packages: str):
    for package in packages:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            yield package, path, ast.parse(path.read_text(encoding="utf-8"))


def test_the_readme_settings_table_is_the_settings_module():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "paste markdown_table() from ntm_core/settings.py into the README"


def test_only_the_settings_module_reads_the_environment():
    readers = sorted(
        str(path.relative_to(REPO_ROOT))
        for _, path, tree in _sources(*PIPELINE_PACKAGES)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "environ"
    )
    assert set(readers) == {"ntm_core/settings.py"}


def test_imports_point_one_way():
    wrong = []
    for package, path, tree in _sources(*PIPELINE_PACKAGES):
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in MAY_IMPORT and top != package and top not in MAY_IMPORT[package]:
                    wrong.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert wrong == []


def test_the_pipeline_does_not_load_the_portal_installer():
    code = (
        "import sys, ntm, ntm.pipeline, ntm.cli, ingest.run, publish.run, expectations.validate\n"
        "print(sorted(m for m, v in sys.modules.items() if 'portal' in (getattr(v, '__file__', '') or '')"
        " and 'ckan' not in m))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
    for _, path, _ in _sources(*PIPELINE_PACKAGES[:-1]):  # what the wheel ships
        text = path.read_text(encoding="utf-8")
        assert "apt-get" not in text and "initdb" not in text, path


def test_no_function_in_the_pipeline_is_over_80_lines():
    long = [
        f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}"
        for _, path, tree in _sources(*PIPELINE_PACKAGES)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []


def _module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(tree, known: set[str]) -> set[str]:
    """The project's modules a module imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def test_no_import_loops():
    """No module imports, even inside a function, a module that imports it back (directly or not)."""
    sources = {_module_name(path): tree for _, path, tree in _sources(*PIPELINE_PACKAGES)}
    graph = {name: _imported_modules(tree, set(sources)) - {name} for name, tree in sources.items()}
    loops = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    loops.append(" → ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert loops == []
