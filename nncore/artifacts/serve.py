"""A run's model as an HTTP prediction service: FastAPI, `POST /predict`, `GET /health`,
`GET /schema`.

`POST /predict` takes JSON rows by column name (a list of objects, or `{"rows": [...]}`) and
answers one prediction per row, with the probability of each class for a classifier, through the
same `nncore.artifacts.predict` path as the studio. A row the model cannot take is refused with
a 422 naming the row, the column and the problem; an unseen category is accepted (the model
ignores it, as in the studio) and named in the answer. The zip bundle ships this module and the
few it imports under `serve/` (see `nncore.artifacts.bundle`), so the service runs without the
studio. FastAPI and uvicorn are an optional extra (requirements-deploy.txt).
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Body, FastAPI, HTTPException

from nncore.artifacts.predict import (
    load_model,
    load_schema,
    model_inputs,
    predictions_frame,
    raw_outputs,
)
from nncore.artifacts.runfiles import RunFiles
from nncore.data.dates import expand_datetimes
from nncore.data.schema import Schema, as_category_text
from nncore.errors import NNCoreError

MAX_ROWS = 100_000  # rows in one request: bounds the memory one request can take
MAX_PROBLEMS = 20  # problems listed in one 422


class RowProblems(NNCoreError):
    """Rows the model cannot take: each problem as {row, column, problem}; row and column are
    None for a problem of the whole request."""

    def __init__(self, problems: list[dict]):
        self.problems = problems
        first = problems[0]
        where = f"Row {first['row']}, column {first['column']!r}: " if first["column"] else ""
        super().__init__(where + first["problem"])


def _request_problem(problem: str) -> RowProblems:
    return RowProblems([{"row": None, "column": None, "problem": problem}])


def rows_frame(body: Any, schema: Schema) -> pd.DataFrame:
    """The request's rows as a table, every value checked against the schema's columns."""
    rows = body.get("rows") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise _request_problem(
            'Send a non-empty list of rows, each an object of column: value (or {"rows": [...]}).'
        )
    if len(rows) > MAX_ROWS:
        raise _request_problem(
            f"{len(rows):,} rows in one request; send at most {MAX_ROWS:,} at a time."
        )
    problems = []
    for column in schema.columns:
        for i, row in enumerate(rows):
            if column.name not in row:
                problems.append(
                    {"row": i, "column": column.name, "problem": "missing (null is allowed)"}
                )
            elif (problem := _value_problem(row[column.name], column.role)) is not None:
                problems.append({"row": i, "column": column.name, "problem": problem})
            if len(problems) >= MAX_PROBLEMS:
                raise RowProblems(problems)
    if problems:
        raise RowProblems(problems)
    frame = pd.DataFrame({c.name: [row[c.name] for row in rows] for c in schema.columns})
    for column in schema.columns:
        if column.role == "datetime":
            _check_dates(frame[column.name], column)
    return frame


def _value_problem(value: Any, role: str) -> str | None:
    if value is None:
        return None
    if role == "numeric":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"expected a number or null, got {json.dumps(value)[:60]}"
        return None
    if role == "datetime":
        return None if isinstance(value, str) else "expected a date as text or null"
    if not isinstance(value, str | numbers.Real):
        return f"expected a category as text, a number or null, got {json.dumps(value)[:60]}"
    return None


def _check_dates(values: pd.Series, column) -> None:
    parts = expand_datetimes(values.to_frame(), {column.name: column.datetime_parts})
    unread = values.notna().to_numpy() & parts.isna().all(axis=1).to_numpy()
    if unread.any():
        rows = np.flatnonzero(unread)[:MAX_PROBLEMS]
        raise RowProblems(
            [
                {"row": int(i), "column": column.name, "problem": f"not a date: {values.iloc[i]!r}"}
                for i in rows
            ]
        )


def unseen_categories(frame: pd.DataFrame, schema: Schema) -> dict[str, list[str]]:
    """Per categorical column, the values training never saw (the model ignores them)."""
    unseen = {}
    for item in schema.categorical:
        text = as_category_text(frame[item.column]).dropna()
        new = sorted(set(text) - set(item.categories))
        if new:
            unseen[item.column] = new[:MAX_PROBLEMS]
    return unseen


def answer(model, frame: pd.DataFrame, schema: Schema) -> dict:
    """The predictions for `frame` as JSON: one {prediction, probabilities} per row."""
    table = predictions_frame(raw_outputs(model, model_inputs(frame, schema)), schema)
    predicted = table.iloc[:, 0].tolist()
    if schema.target.task == "regression":
        rows = [{"prediction": value} for value in predicted]
    else:
        columns = [f"probability {c}" for c in schema.target.classes]
        labels = [str(c) for c in schema.target.classes]
        probabilities = table[columns].to_numpy().tolist()
        rows = [
            {"prediction": str(label), "probabilities": dict(zip(labels, p, strict=True))}
            for label, p in zip(predicted, probabilities, strict=True)
        ]
    out: dict[str, Any] = {"target": schema.target.name, "predictions": rows}
    if schema.target.task == "binary":
        out["threshold"] = schema.threshold
    if unseen := unseen_categories(frame, schema):
        out["unseen_categories"] = unseen
    return out


def create_app(run_dir: str | Path) -> FastAPI:
    """The service for the model in `run_dir` (model.keras beside its schema.json)."""
    files = RunFiles(Path(run_dir))
    schema = load_schema(files.schema)
    model = load_model(files.keras, schema)
    schema_json = json.loads(files.schema.read_text())
    app = FastAPI(
        title=f"Predict {schema.target.name}",
        description=f"A {schema.target.task} model trained in NN Studio.",
    )

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "target": schema.target.name, "task": schema.target.task}

    @app.get("/schema")
    def schema_route() -> dict:
        return schema_json

    @app.post("/predict")
    def predict_route(body: Any = Body(...)) -> dict:  # noqa: B008 (FastAPI's idiom)
        try:
            frame = rows_frame(body, schema)
            return answer(model, frame, schema)
        except RowProblems as exc:
            raise HTTPException(422, {"message": str(exc), "problems": exc.problems}) from None
        except NNCoreError as exc:
            raise HTTPException(422, {"message": str(exc), "problems": []}) from None

    return app


def serve(run_dir: str | Path, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(run_dir), host=host, port=port, log_level="info")
