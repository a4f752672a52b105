"""What a schema learns for predicting and how rows to predict are checked, without a network:
the form's defaults (most common category), the target's decimals, values outside the training
range, and a column named with another case."""

import json

import numpy as np
import pandas as pd
import pytest
from frames import TARGETS, mixed_frame, tiny_experiment

from nncore.artifacts.predict import model_inputs, outside_training
from nncore.data.columns import profile_columns
from nncore.data.plan import FILLS, missing_fills, plan_columns
from nncore.data.prepare import prepare
from nncore.data.schema import MISSING_CATEGORY, Schema
from nncore.errors import DataError


def schema_of(frame: pd.DataFrame, task: str) -> Schema:
    spec = tiny_experiment(task).data
    return prepare(frame, plan_columns(frame, spec), spec, seed=0).schema


def test_the_most_common_category_of_the_training_rows_is_kept_and_travels():
    frame = mixed_frame(300)
    frame["color"] = np.where(np.arange(300) % 10 < 7, "red", "blue")  # red 70%, not first A-Z
    schema = schema_of(frame, "binary")
    (color,) = schema.categorical
    assert color.categories == ("blue", "red")
    assert color.most_common == "red"
    assert Schema.from_json(json.dumps(schema.to_dict())) == schema


def test_a_schema_written_before_the_most_common_category_reads():
    schema = schema_of(mixed_frame(), "binary")
    old = schema.to_dict()
    for item in old["categorical"]:
        del item["most_common"]
    del old["target"]["decimals"]
    read = Schema.from_dict(old)
    assert read.categorical[0].most_common is None and read.target.decimals is None


@pytest.mark.parametrize(
    ("values", "decimals", "shown"),
    [
        (lambda n: 150_000 + 1_000 * np.arange(n), 0, "151,235"),  # whole prices
        (lambda n: np.round(10 + 0.25 * np.arange(n), 2), 2, "151,234.57"),
        (lambda n: np.random.default_rng(0).normal(0, 1, n), None, "151,235"),  # .6g
    ],
)
def test_regression_predictions_are_shown_with_the_targets_decimals(values, decimals, shown):
    frame = mixed_frame(200, "regression")
    frame[TARGETS["regression"]] = values(len(frame))
    target = schema_of(frame, "regression").target
    assert target.decimals == decimals
    assert target.format(151_234.5678) == shown


def test_values_outside_the_training_range_are_named_not_refused():
    frame = mixed_frame()
    schema = schema_of(frame, "binary")
    x2 = next(item for item in schema.numeric if item.column == "x2")
    row = frame.drop(columns="label").head(1).assign(x2=x2.maximum + 500)
    model_inputs(row, schema)  # accepted
    (line,) = outside_training(row, schema)
    assert line == (
        f"x2 is {x2.maximum + 500:g}, outside the training range {x2.minimum:g} to {x2.maximum:g}"
    )
    rows = frame.drop(columns="label").head(5).assign(x2=[-1000.0, 2000.0, 3000.0, 500.0, np.nan])
    assert outside_training(rows, schema) == [
        f"3 rows have x2 outside the training range {x2.minimum:g} to {x2.maximum:g}"
    ]
    inside = frame.drop(columns="label").iloc[[3]]
    assert outside_training(inside.assign(x2=x2.minimum), schema) == []


def test_a_column_named_with_another_case_gets_a_did_you_mean():
    frame = mixed_frame()
    schema = schema_of(frame, "binary")
    rows = frame.drop(columns="label").rename(columns={"x1": "X1", "x2": "price"})
    with pytest.raises(DataError) as refused:
        model_inputs(rows, schema)
    message = str(refused.value)
    assert "lacks 2 columns the model needs: 'x1', 'x2'." in message
    assert "Did you mean 'x1' (the data has 'X1')?" in message
    assert "'x2' (" not in message  # no near name for it
    with pytest.raises(DataError) as plain:
        model_inputs(frame.drop(columns=["label", "x1"]), schema)
    assert "Did you mean" not in str(plain.value)


def test_the_plan_says_how_each_columns_missing_values_are_filled():
    frame = mixed_frame(task="regression")
    frame.loc[[0, 1, 2], "when"] = None
    spec = tiny_experiment("regression").data
    plan = plan_columns(frame, spec)
    assert missing_fills(plan, profile_columns(frame)) == [
        ("x1", int(frame["x1"].isna().sum()), FILLS["numeric"]),
        ("color", int(frame["color"].isna().sum()), FILLS["categorical"]),
        ("when", 3, FILLS["datetime"]),
    ]
    assert MISSING_CATEGORY in FILLS["categorical"]
