"""A run's files as one zip archive, for a single download, with a prediction service in
`serve/` and any exports made of the run (`nncore.artifacts.formats`) in `exports/`."""

from __future__ import annotations

import io
import zipfile
from importlib import metadata
from pathlib import Path

from nncore.artifacts.report import REPORT, report_html
from nncore.artifacts.runfiles import RunFiles

EXPORTS = "exports"  # the run's folder of checked exports, as `python -m nncore export` or the
# Predict page write them
# The engine modules the service imports (`nncore.artifacts.serve`), shipped with it.
SHIPPED_MODULES = (
    "nncore/__init__.py",
    "nncore/errors.py",
    "nncore/rules.py",
    "nncore/safejson.py",
    "nncore/config.py",
    "nncore/data/__init__.py",
    "nncore/data/values.py",
    "nncore/data/dates.py",
    "nncore/data/schema.py",
    "nncore/artifacts/__init__.py",
    "nncore/artifacts/runfiles.py",
    "nncore/artifacts/predict.py",
    "nncore/artifacts/formats.py",
    "nncore/artifacts/serve.py",
    "nncore/artifacts/modelfile/__init__.py",
    "nncore/artifacts/modelfile/allowlist.py",
    "nncore/artifacts/modelfile/common.py",
    "nncore/artifacts/modelfile/container.py",
    "nncore/artifacts/modelfile/isolation.py",
)
# What the service installs, pinned to the versions this studio runs with.
SERVICE_REQUIREMENTS = ("tensorflow-cpu", "keras", "numpy", "pandas", "h5py", "fastapi", "uvicorn")
APP = '''"""The prediction service for the model in the folder above: POST /predict, GET /health,
GET /schema. Run from the bundle's folder:

    pip install -r serve/requirements.txt
    uvicorn app:app --app-dir serve --host 127.0.0.1 --port 8000

or build the image: docker build -f serve/Dockerfile -t model-service . && docker run -p 8000:8000
model-service
"""

from pathlib import Path

from nncore.artifacts.serve import create_app

app = create_app(Path(__file__).resolve().parent.parent)
'''
# The step the exports leave to their caller (`nncore.artifacts.formats.FORMATS`), as code.
PREPARE = '''"""Raw rows -> the inputs of the exports beside this file (see each *.check.json).

    import pandas as pd, prepare
    inputs = prepare.inputs(pd.read_csv("rows.csv"))  # SavedModel, TFLite: one array per input
    onnx_feed = prepare.onnx(pd.read_csv("rows.csv"))  # ONNX: categories one-hot
"""

import sys
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BUNDLE / "serve"))  # the engine's few modules, shipped in serve/nncore

from nncore.artifacts.formats import onnx_inputs  # noqa: E402
from nncore.artifacts.predict import load_schema, model_inputs  # noqa: E402

SCHEMA = load_schema(BUNDLE / "schema.json")


def inputs(rows):
    """Missing numbers filled with the training median, dates split into parts, missing
    categories written "(missing)": one float32 or string array (rows, 1) per input."""
    return model_inputs(rows, SCHEMA)


def onnx(rows):
    return onnx_inputs(inputs(rows), SCHEMA)
'''
DOCKERFILE = """FROM python:3.11-slim
WORKDIR /app
COPY serve/requirements.txt serve/requirements.txt
RUN pip install --no-cache-dir -r serve/requirements.txt
COPY model.keras schema.json ./
COPY serve/ serve/
ENV TF_CPP_MIN_LOG_LEVEL=2
EXPOSE 8000
CMD ["uvicorn", "app:app", "--app-dir", "serve", "--host", "0.0.0.0", "--port", "8000"]
"""


def bundle(files: RunFiles) -> bytes:
    """Every file the run wrote, its model report, the service and the run's exports, as one zip
    made in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files.by_name().items():
            if path.exists():
                archive.write(path, arcname=name)
        if files.metrics.exists():
            archive.writestr(REPORT, report_html(files), compresslevel=1)
        for name, text in service_files().items():
            archive.writestr(f"serve/{name}", text)
        exports = files.folder / EXPORTS
        if exports.is_dir():
            for path in sorted(exports.rglob("*")):
                if path.is_file():
                    archive.write(path, arcname=str(path.relative_to(files.folder)))
            archive.writestr(f"{EXPORTS}/prepare.py", PREPARE)
    return buffer.getvalue()


def export_download(files: RunFiles, file_name: str) -> tuple[bytes, str] | None:
    """The run's export `file_name` as one download (a SavedModel folder zipped) and the name
    to save it under; None until that export exists."""
    path = files.folder / EXPORTS / file_name
    if path.is_file():
        return path.read_bytes(), file_name
    if not path.is_dir():
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(path.rglob("*")):
            if member.is_file():
                archive.write(member, arcname=str(member.relative_to(path.parent)))
    return buffer.getvalue(), f"{file_name}.zip"


def service_files() -> dict[str, str]:
    """serve/'s files by name: the app, its Dockerfile, its pinned requirements and the engine
    modules it imports."""
    root = Path(__file__).resolve().parents[2]
    pins = "".join(f"{name}{_pin(name)}\n" for name in SERVICE_REQUIREMENTS)
    files = {"app.py": APP, "Dockerfile": DOCKERFILE, "requirements.txt": pins}
    files.update({name: (root / name).read_text() for name in SHIPPED_MODULES})
    return files


def _pin(distribution: str) -> str:
    """`==version` as installed here; nothing for an extra this studio runs without."""
    for name in (distribution, distribution.removesuffix("-cpu")):
        try:
            return f"=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return ""
