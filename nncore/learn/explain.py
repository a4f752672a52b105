"""Why the network predicted what it did, and how its output moves with one or two columns.

Both work on the model's raw-column prediction function: `predict` maps a DataFrame of raw
columns (as a CSV holds them) to the network's outputs (a value, the probability of the positive
class, or one probability per class), so a date or a category counts as one column, not as its
parts or its one-hot inputs.

- `contributions`: Shapley values from shap's permutation explainer, one per raw column and a
  base value (the mean output over reference rows); per row they add up to the prediction
  exactly, whatever the number of permutations. A classifier's are those of the probability of
  the positive class (binary) or of the predicted class (multiclass).
- `partial_dependence_curves`: scikit-learn's `partial_dependence` (average and individual
  curves) on the network wrapped as an estimator, for a few columns and one pair of them.

shap is imported only when contributions are computed (it loads numba), in worker processes;
scikit-learn only for partial dependence: the Predict page imports this module for its names.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from nncore.data.schema import MISSING_CATEGORY, Schema, feature_frame
from nncore.errors import DataError, NNCoreError

Predict = Callable[[pd.DataFrame], np.ndarray]

# Reference rows a column takes its values from while it is "absent": the base value is the
# mean prediction over them. More rows steady the base value; each costs one more model row per
# evaluation.
BACKGROUND_ROWS = 40
# Permutations of the columns per explained row (each costs 2 × columns + 1 evaluations): the
# contributions add up exactly for any number; more make each one closer to its Shapley value.
PERMUTATIONS = 8
# Partial dependence: the rows averaged over (and drawn as individual curves), the points of a
# numeric column's grid, and the columns shown.
PD_ROWS = 200
ICE_ROWS = 50
GRID_POINTS = 20
PAIR_GRID_POINTS = 12
PD_COLUMNS = 3

CONTRIBUTION = "contribution_"
BASE_VALUE = "base_value"
# shap (with numba) adds about 170 MB to a worker while it explains (BENCHMARKS.md, Memory):
# more than the hosted budget leaves, so it is an optional extra.
SHAP_MISSING = (
    "Explaining predictions needs shap, an optional extra: run pip install -r "
    "requirements-explain.txt, then start the studio again."
)


def shap_installed() -> bool:
    """Whether contributions can be made here (without importing shap)."""
    return importlib.util.find_spec("shap") is not None


def explained_output(schema: Schema) -> str:
    """What the contributions of this model's predictions add up to, in words."""
    target = schema.target
    if target.task == "regression":
        return f"the predicted {target.name}"
    if target.task == "binary":
        return f"the probability of {target.classes[1]}"
    return "the probability of the predicted class"


def background_rows(frame: pd.DataFrame, schema: Schema, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of `frame`'s rows (e.g. the training rows) to explain predictions
    against, holding only the columns the model reads."""
    feature_frame(frame.head(1), schema)  # names any missing column
    columns = [c.name for c in schema.columns]
    if len(frame) > BACKGROUND_ROWS:
        frame = frame.sample(BACKGROUND_ROWS, random_state=seed)
    return frame[columns].reset_index(drop=True)


def contributions(
    predict: Predict,
    rows: pd.DataFrame,
    background: pd.DataFrame,
    schema: Schema,
    seed: int = 0,
    on_row: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Each raw column's contribution to each row's prediction, and the base value.

    Columns `contribution_<column>` (in the schema's order) and `base_value`, indexed as `rows`;
    per row, their sum is the explained output (`explained_output`). `on_row(done, total)` is
    told after each row.
    """
    try:
        import shap  # numba and friends: loaded only where contributions are made
    except ImportError:
        raise NNCoreError(SHAP_MISSING) from None

    if len(background) == 0:
        raise DataError(
            "There are no reference rows to explain predictions against. Load the training data "
            "first."
        )
    columns = [c.name for c in schema.columns]
    task = schema.target.task
    # shap's maskers take numbers: each column of the explained matrix holds, per row, the
    # position in `pool` of the row whose value to use, so text, categories and dates travel
    # whole and a masked column takes a reference row's value.
    pool = pd.concat([rows[columns], background[columns]], ignore_index=True)
    values = [pool[c].to_numpy() for c in columns]

    def outputs(positions: np.ndarray) -> np.ndarray:
        at = positions.astype(int)
        frame = pd.DataFrame(
            {c: v[at[:, j]] for j, (c, v) in enumerate(zip(columns, values, strict=True))}
        )
        out = np.asarray(predict(frame), dtype=float)
        return out if task == "multiclass" else out.reshape(-1)

    reference = np.repeat(np.arange(len(rows), len(pool))[:, None], len(columns), axis=1)
    explainer = shap.PermutationExplainer(
        outputs, shap.maskers.Independent(reference, max_samples=len(reference)), seed=seed
    )
    evaluations = PERMUTATIONS * (2 * len(columns) + 1)
    found = np.empty((len(rows), len(columns)))
    base = np.empty(len(rows))
    for i in range(len(rows)):
        explained = explainer(np.full((1, len(columns)), i), max_evals=evaluations, silent=True)
        row_values, row_base = explained.values[0], explained.base_values[0]
        if task == "multiclass":
            chosen = int(np.argmax(outputs(np.full((1, len(columns)), i))[0]))
            row_values, row_base = row_values[:, chosen], row_base[chosen]
        found[i], base[i] = row_values, row_base
        if on_row is not None:
            on_row(i + 1, len(rows))
    table = pd.DataFrame(found, columns=[f"{CONTRIBUTION}{c}" for c in columns], index=rows.index)
    table[BASE_VALUE] = base
    return table


def as_estimator(predict: Predict, schema: Schema):
    """The network as a fitted scikit-learn regressor or classifier over raw columns."""
    from nncore.learn.estimator import NetworkClassifier, NetworkRegressor

    target = schema.target
    if target.task == "regression":
        return NetworkRegressor(predict)
    return NetworkClassifier(predict, len(target.classes))


def curve_columns(schema: Schema, importance: dict | None) -> list[str]:
    """The columns to draw, most important first (`metrics.json`'s "importance"); dates are
    left out (a grid of dates is not a column's values)."""
    drawable = [c.name for c in schema.columns if c.role != "datetime"]
    ranked = [item["column"] for item in (importance or {}).get("columns", ())]
    ordered = [c for c in ranked if c in drawable] + [c for c in drawable if c not in ranked]
    return ordered[:PD_COLUMNS]


def curve_rows(frame: pd.DataFrame, schema: Schema, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of `frame`'s rows with the model's columns as it reads them: numbers as
    numbers and categories as text, missing ones filled as the model fills them (so the model
    predicts them as before, and the grids hold no gaps)."""
    if len(frame) > PD_ROWS:
        frame = frame.sample(PD_ROWS, random_state=seed)
    features = feature_frame(frame, schema)
    rows = frame[[c.name for c in schema.columns]].copy()
    for item in schema.numeric:
        if item.column in rows.columns:
            rows[item.column] = features[item.column].fillna(item.fill)
    for item in schema.categorical:
        rows[item.column] = features[item.column].fillna(MISSING_CATEGORY).astype(object)
    return rows.reset_index(drop=True)


def partial_dependence_curves(
    predict: Predict,
    rows: pd.DataFrame,
    schema: Schema,
    columns: Sequence[str],
    seed: int = 0,
) -> dict:
    """scikit-learn's partial dependence of the network's output on each of `columns`, with
    individual (ICE) curves of some rows, and on the first two together.

    `rows` come from `curve_rows`. The output is a regression's value, a binary classifier's
    probability of the positive class, or each class's probability (multiclass, without
    individual curves). Returns {"task", "outputs" (names), "curves": [{"column",
    "categorical", "grid", "average": [[per grid point] per output], "individual": [[per grid
    point] per row]}], "pair": {"columns", "grids", "average": [[[per second column's point]
    per first column's point] per output]} or None}.
    """
    from sklearn.inspection import partial_dependence

    estimator = as_estimator(predict, schema)
    categorical = [c.name for c in schema.columns if c.role == "categorical"]
    target = schema.target
    outputs = (
        [target.name]
        if target.task == "regression"
        else [str(target.classes[1])]
        if target.task == "binary"
        else [str(c) for c in target.classes]
    )
    ice = np.sort(np.random.default_rng(seed).permutation(len(rows))[:ICE_ROWS])
    curves = []
    for column in columns:
        found = partial_dependence(
            estimator,
            rows,
            [column],
            categorical_features=categorical or None,
            grid_resolution=GRID_POINTS,
            kind="both",
        )
        curves.append(
            {
                "column": column,
                "categorical": column in categorical,
                "grid": found["grid_values"][0].tolist(),
                "average": found["average"].tolist(),
                "individual": (
                    found["individual"][0][ice].tolist() if target.task != "multiclass" else []
                ),
            }
        )
    pair = None
    if len(columns) >= 2:
        found = partial_dependence(
            estimator,
            rows,
            list(columns[:2]),
            categorical_features=categorical or None,
            grid_resolution=PAIR_GRID_POINTS,
            kind="average",
        )
        pair = {
            "columns": list(columns[:2]),
            "grids": [g.tolist() for g in found["grid_values"]],
            "average": found["average"].tolist(),
        }
    return {"task": target.task, "outputs": outputs, "curves": curves, "pair": pair}
