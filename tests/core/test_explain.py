"""Why a prediction (contributions that add up to it) and how the output moves (partial
dependence), on tiny real networks of each task."""

import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest
from clirun import cli
from frames import TARGETS, mixed_frame, tiny_experiment
from sklearn.inspection import partial_dependence

from nncore.artifacts.predict import load_model, load_schema, model_inputs, predict, raw_outputs
from nncore.errors import NNCoreError
from nncore.learn.explain import (
    BASE_VALUE,
    CONTRIBUTION,
    as_estimator,
    background_rows,
    contributions,
    curve_columns,
    curve_rows,
    partial_dependence_curves,
    shap_installed,
)
from nncore.run.pipeline import run_experiment


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    """Per task: the table, the run's folder, its schema and its raw-column predict function."""
    found = {}
    for task in TARGETS:
        frame = mixed_frame(n=120, task=task)
        experiment = tiny_experiment(task)
        experiment = dataclasses.replace(
            experiment, training=dataclasses.replace(experiment.training, epochs=2)
        )
        out = tmp_path_factory.mktemp(task)
        result = run_experiment(frame, experiment, out)
        model = load_model(result.files.keras)
        schema = load_schema(result.files.schema)

        def outputs(rows, model=model, schema=schema):
            return raw_outputs(model, model_inputs(rows, schema))

        found[task] = (frame, out, schema, outputs, model, result)
    return found


@pytest.mark.parametrize("task", list(TARGETS))
def test_contributions_and_base_value_add_up_to_the_prediction(networks, task):
    frame, _, schema, outputs, model, _ = networks[task]
    rows = frame.drop(columns=TARGETS[task]).iloc[[0, 5, 17, 60]]
    found = contributions(outputs, rows, background_rows(frame, schema), schema)
    columns = [c.name for c in schema.columns]
    assert list(found.columns) == [f"{CONTRIBUTION}{c}" for c in columns] + [BASE_VALUE]
    assert "when" in columns and "color" in columns  # a date and a category count as one column
    total = found.to_numpy().sum(axis=1)
    predicted = predict(model, rows, schema)
    if task == "regression":
        expected = predicted.iloc[:, 0].to_numpy()
    elif task == "binary":
        expected = predicted[f"probability {schema.target.classes[1]}"].to_numpy()
    else:
        expected = predicted.filter(like="probability ").max(axis=1).to_numpy()
    np.testing.assert_allclose(total, expected, atol=1e-4)
    # Not all in the base value: the rows differ, so do their contributions.
    assert np.abs(found.drop(columns=BASE_VALUE).to_numpy()).max() > 1e-6


def test_the_same_seed_gives_the_same_contributions(networks):
    frame, _, schema, outputs, _, _ = networks["binary"]
    rows = frame.drop(columns="label").iloc[:3]
    background = background_rows(frame, schema, seed=4)
    first = contributions(outputs, rows, background, schema, seed=1)
    pd.testing.assert_frame_equal(first, contributions(outputs, rows, background, schema, seed=1))


@pytest.mark.parametrize("task", list(TARGETS))
def test_partial_dependence_is_scikit_learns_on_the_wrapped_network(networks, task):
    frame, _, schema, outputs, _, result = networks[task]
    rows = curve_rows(frame, schema)
    columns = curve_columns(schema, result.metrics["importance"])
    assert "when" not in columns and len(columns) == 3
    found = partial_dependence_curves(outputs, rows, schema, columns)
    categorical = [c.name for c in schema.columns if c.role == "categorical"]
    for curve in found["curves"]:
        expected = partial_dependence(
            as_estimator(outputs, schema),
            rows,
            [curve["column"]],
            categorical_features=categorical,
            grid_resolution=20,
            kind="average",
        )
        np.testing.assert_allclose(curve["average"], expected["average"], rtol=1e-6)
        # And what partial dependence means: the mean output with the column set to each value.
        for point, value in enumerate(curve["grid"][:3]):
            output = outputs(rows.assign(**{curve["column"]: value}))
            mean = output.astype(float).mean(axis=0)
            if task == "multiclass":
                np.testing.assert_allclose(np.array(curve["average"])[:, point], mean, rtol=1e-6)
            else:
                assert curve["average"][0][point] == pytest.approx(mean[0], rel=1e-6)
        assert curve["categorical"] == (curve["column"] in categorical)
    pair = found["pair"]
    assert pair["columns"] == columns[:2]
    expected = partial_dependence(
        as_estimator(outputs, schema),
        rows,
        columns[:2],
        categorical_features=categorical,
        grid_resolution=12,
    )
    np.testing.assert_allclose(pair["average"], expected["average"], rtol=1e-6)


def test_the_cli_adds_contribution_columns_and_the_base_value(networks, tmp_path):
    frame, out, schema, _, _, _ = networks["multiclass"]
    data = tmp_path / "new.csv"
    frame.drop(columns="kind").head(6).to_csv(data, index=False)
    written = tmp_path / "explained.csv"
    done = cli(
        "predict", "--model", out / "model.keras", "--data", data, "--out", written, "--explain"
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(written)
    columns = [f"{CONTRIBUTION}{c.name}" for c in schema.columns]
    assert list(table.columns[-len(columns) - 1 :]) == [*columns, BASE_VALUE]
    chosen = table.filter(like="probability ").max(axis=1)
    np.testing.assert_allclose(table[[*columns, BASE_VALUE]].sum(axis=1), chosen, atol=1e-4)
    assert "explained" in done.stdout


def test_names_from_the_data_show_escaped_in_the_explanation_charts():
    from test_plot_escaping import ESCAPED, LINK, strings

    from nncore import plots

    curve = {
        "column": LINK,
        "categorical": True,
        "grid": [LINK, "b"],
        "average": [[0.2, 0.4]],
        "individual": [],
    }
    pair = {"columns": [LINK, "x"], "grids": [[LINK, "b"], [1.0, 2.0]]}
    pair["average"] = [[[1, 2], [3, 4]]]
    figures = [
        plots.waterfall({LINK: 0.1, "x": -0.2}, 0.5, LINK),
        plots.partial_dependence(curve, [LINK], "binary"),
        plots.interaction(pair, LINK, 0),
    ]
    for figure in figures:
        texts = strings(json.loads(figure.to_json()))
        assert not [t for t in texts if "<a " in t or "</a>" in t]
        assert any(ESCAPED in t for t in texts)


def test_without_shap_contributions_say_how_to_add_it(networks, monkeypatch):
    frame, _, schema, outputs, _, _ = networks["binary"]
    monkeypatch.setitem(sys.modules, "shap", None)  # what `import shap` meets when not installed
    assert not shap_installed()
    with pytest.raises(NNCoreError, match="pip install -r requirements-explain.txt"):
        contributions(outputs, frame.head(2), background_rows(frame, schema), schema)
