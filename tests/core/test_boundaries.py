"""The engine stays UI-free, its layers import only downwards and in no cycle, and the modules
the UI imports stay free of TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "nncore"
MODULES = sorted(ENGINE.rglob("*.py"))
# Lowest first: a module may import from its own layer and the ones before it, never after.
# The steps follow the user's: data, then learning, then what a run leaves, then running it all.
LAYERS = (
    "nncore.errors",
    "nncore.safejson",
    "nncore.rules",
    "nncore.config",
    "nncore.data",
    "nncore.learn",
    "nncore.artifacts",
    "nncore.run",
)
TOP = len(LAYERS)  # nncore.plots, nncore.__main__ and any module not in LAYERS


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


ENGINE_MODULES = {module_name(path) for path in MODULES}


def layer(module: str) -> int:
    if module == "nncore":
        return 0  # the package itself only re-exports nncore.errors (checked as a module too)
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return index
    return TOP


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """The modules `path` imports, as dotted names; `from a import b` counts as `a.b` when that is
    an engine module. Function-level imports count too, unless `top_level_only`."""
    tree = ast.parse(path.read_text())
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package `level - 1` steps above this one
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                inner = f"{base}.{alias.name}"
                found.add(inner if inner in ENGINE_MODULES else base)
    return found


def engine_imports(path: Path, **options) -> set[str]:
    return {name for name in imports(path, **options) if name.split(".")[0] == "nncore"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_nncore_never_imports_streamlit(path):
    assert "streamlit" not in {name.split(".")[0] for name in imports(path)}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_each_engine_module_imports_only_from_its_own_layer_or_lower(path):
    own = layer(module_name(path))
    upward = sorted(name for name in engine_imports(path) if layer(name) > own)
    assert not upward, f"{module_name(path)} (layer {own}) imports from a higher layer: {upward}"


def test_every_engine_import_names_an_engine_module():
    """A typo or a module moved away would otherwise slip past the layer check as TOP."""
    unknown = {
        (module_name(path), name)
        for path in MODULES
        for name in engine_imports(path)
        if name not in ENGINE_MODULES
    }
    assert not unknown, sorted(unknown)


def test_the_engine_modules_import_each_other_in_no_cycle():
    # Function-level imports count: they keep TensorFlow out of a module's import, not out of the
    # design, and a cycle through one is still two modules that each need the other.
    graph = {module_name(path): engine_imports(path) for path in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return [*trail[trail.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            if target != node and (cycle := visit(target, [*trail, node])):
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node, []):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def ui_engine_imports() -> list[str]:
    """Every engine module the Streamlit server imports: from app.py, ui.py and the pages, at
    module or function level (a page's function runs in the server process all the same)."""
    files = [ROOT / "app.py", ROOT / "ui.py", *sorted((ROOT / "pages").glob("*.py"))]
    return sorted(set().union(*(engine_imports(path) for path in files)))


def test_the_modules_the_ui_uses_do_not_import_tensorflow():
    modules = ui_engine_imports()
    assert {"nncore.run.jobs", "nncore.plots", "nncore.data.columns"} <= set(modules), modules
    code = (
        f"import sys; import {', '.join(modules)}; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"], f"importing {modules}"
