"""The house's floors: what may import what.

An AST scan over every module of the package (module-level and function-local imports, relative
imports resolved) checks three rules, and a subprocess proves the non-UI modules run without
Textual:

- Textual is imported only under wsmonitor/ui/, plus the few modules whose job is to start the
  UI (ALLOWED_TEXTUAL below, each with its reason);
- wsmonitor/probes/* import nothing from the rules, the UI or the demo: probes measure, they do
  not judge or draw;
- no import cycle among the package's modules (the strongly connected components are named on
  failure).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import wsmonitor

PACKAGE_DIR = Path(wsmonitor.__file__).resolve().parent
ROOT = "wsmonitor"

# Modules outside wsmonitor/ui/ allowed to import Textual (or textual_serve), and why.
ALLOWED_TEXTUAL = {
    # `wsmonitor serve` runs the dashboard in a browser through textual-serve: its only job is
    # to start the UI, and it imports textual_serve inside the function that does so.
    "wsmonitor.serve",
    # `wsmonitor demo`'s dashboard: the usual app plus the fault-switch keys. It is a UI module
    # living beside the demo stack it drives; only cli's demo command imports it.
    "wsmonitor.demo.app",
}
# What the probes must never reach: judging (rules), drawing (ui), the demo stack.
PROBE_FORBIDDEN = ("wsmonitor.rules", "wsmonitor.ui", "wsmonitor.demo", "wsmonitor.verdict",
                   "wsmonitor.report")


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their __init__)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).with_suffix("")
        parts = [ROOT, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Dotted names this module imports anywhere in its body (function-local too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if _is_package(path) else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            out.add(stem)
            for alias in node.names:  # `from pkg import module` imports the submodule
                if f"{stem}.{alias.name}" in known:
                    out.add(f"{stem}.{alias.name}")
    return out


def _graph() -> dict[str, set[str]]:
    """Edges between the package's own modules; an import of a.b.c also runs a and a.b."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for target in _imports(name, path, known):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != ROOT:
                edges.add(target)
        graph[name] = edges
    return graph


def _raw_imports() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_scan_sees_the_package() -> None:
    """The scan itself works: it finds the modules and a known edge (guards a vacuous pass)."""
    graph = _graph()
    assert "wsmonitor.engine" in graph and "wsmonitor.ui.app" in graph
    assert "wsmonitor.config" in graph["wsmonitor.cli"]  # a function-local import in cli
    assert _sccs({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_textual_only_in_the_ui() -> None:
    bad = sorted(
        f"{name} imports {target}"
        for name, targets in _raw_imports().items()
        for target in targets
        if target.split(".")[0] in ("textual", "textual_serve")
        and not (name == "wsmonitor.ui" or name.startswith("wsmonitor.ui."))
        and name not in ALLOWED_TEXTUAL
    )
    assert not bad, bad


def test_probes_import_no_rules_ui_or_demo() -> None:
    bad = sorted(
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.startswith("wsmonitor.probes")
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in PROBE_FORBIDDEN)
    )
    assert not bad, bad


def test_no_import_cycle() -> None:
    cycles = _sccs(_graph())
    assert not cycles, "import cycles (strongly connected components): " + "; ".join(
        "{" + ", ".join(c) + "}" for c in cycles)


def test_core_modules_import_without_textual() -> None:
    """Every non-UI module imports in a fresh interpreter without loading Textual."""
    code = (
        "import sys, pkgutil, importlib, wsmonitor\n"
        "skip = ('wsmonitor.ui', 'wsmonitor.cli', 'wsmonitor.serve', 'wsmonitor.__main__',\n"
        "        'wsmonitor.django', 'wsmonitor.demo.app')\n"
        "done = []\n"
        "for m in pkgutil.walk_packages(wsmonitor.__path__, 'wsmonitor.',\n"
        "                               onerror=lambda n: None):\n"
        "    if any(m.name == s or m.name.startswith(s + '.') for s in skip):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        "    done.append(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_serve'))\n"
        "assert not bad, bad\n"
        "print(len(done))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) > 30  # it really walked the package


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from wsmonitor.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'redis', 'boto3', 'websockets', 'httpx') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_rules_and_replay_need_no_probe() -> None:
    """Sample types and their vocabulary live on the ground floor: replaying a recording and
    judging it load no probe module (nor the clients the probes use)."""
    code = (
        "import sys\n"
        "import wsmonitor.replay, wsmonitor.report, wsmonitor.verdict, wsmonitor.runtime\n"
        "from wsmonitor.samples import sample_from_dict\n"
        "for t in ('HandshakeSample', 'HttpSample', 'ChannelLayerSample', 'LogsSample',\n"
        "          'BrowserSample', 'RedisSample'):\n"
        "    s = sample_from_dict({'type': t, 'probe': 'p', 'at': 1.0, 'ok': True})\n"
        "    assert type(s).__name__ == t, (t, type(s))\n"
        "bad = sorted(m for m in sys.modules if m.startswith('wsmonitor.probes')\n"
        "             or m.split('.')[0] in ('redis', 'websockets', 'httpx', 'textual'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
