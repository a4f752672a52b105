"""The model predictions come from: a run's folder, or a model file someone loaded with its
schema.json, checked before anything loads it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from nncore.artifacts import runfiles
from nncore.artifacts.modelfile import validate_in_subprocess
from nncore.artifacts.predict import load_schema
from nncore.data.schema import Schema
from nncore.errors import ModelFileError


@dataclass(frozen=True)
class ModelSource:
    """A model file and the schema it was saved with; `id` tells sources apart, `name` is
    what people see."""

    id: str
    name: str
    model: Path
    schema: Schema

    @classmethod
    def of_run(cls, id: str, name: str, folder: Path) -> ModelSource:
        """A run's model; raises DataError if its files are gone."""
        files = runfiles.RunFiles(folder)
        return cls(id, name, files.keras, load_schema(files.schema))


def import_model_file(
    model: bytes, model_name: str, schema: bytes, schema_name: str, root: Path
) -> ModelSource:
    """Check a model file (in a child process) and its schema.json, then keep them in a new
    folder under `root`. Raises ModelFileError, naming the file at fault and what to upload."""
    info = validate_in_subprocess(model)
    loaded = Schema.from_json(schema, schema_name)
    if set(info.input_names) != set(loaded.input_names):
        raise ModelFileError(
            f"{model_name} and {schema_name} do not belong together: the model's inputs differ "
            "from the schema's columns. Upload the schema.json saved with the model."
        )
    folder = Path(root) / f"imported-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    files = runfiles.RunFiles(folder)
    path = files.keras if info.format == "keras" else files.h5
    path.write_bytes(model)
    files.schema.write_text(json.dumps(loaded.to_dict()))
    return ModelSource(folder.name, model_name, path, loaded)
