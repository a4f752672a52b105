"""The engine stays UI-free, and the UI's side of it stays free of TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "nncore"


@pytest.mark.parametrize(
    "path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE))
)
def test_nncore_never_imports_streamlit(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "streamlit" not in imported


def test_the_modules_the_ui_uses_do_not_import_tensorflow():
    code = (
        "import sys; import nncore, nncore.config, nncore.data.csvio, nncore.data.profile, "
        "nncore.data.preprocess, nncore.artifacts.predict, nncore.run.jobs, "
        "nncore.learn.evaluate, nncore.artifacts.codegen, "
        "nncore.learn.diagnostics, nncore.run.rates, nncore.run.capacity, nncore.run.range_test, "
        "nncore.run.session, nncore.plots, nncore.artifacts.modelfile; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]
