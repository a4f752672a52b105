"""Checks when scoring: per-row flags and the per-column drift index against the training
rows, from the spread `profiled` keeps in the schema."""

import json

import numpy as np
import pandas as pd
import pytest
from clirun import cli

from nncore.data.drift import drift, profiled, psi, row_checks
from nncore.data.samples import load_sample
from nncore.data.schema import CategoricalInput, NumericInput, RawColumn, Schema, TargetInfo


def make_schema() -> Schema:
    return Schema(
        columns=(
            RawColumn("size", "numeric", "float64"),
            RawColumn("city", "categorical", "object"),
        ),
        numeric=(NumericInput("size", "size", 5.0, 0.0, 1.0, 0.0, 10.0),),
        categorical=(CategoricalInput("city", "city", ("a", "b", "c")),),
        target=TargetInfo("y", "regression"),
        scaling="standard",
    )


def training_rows(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "size": rng.uniform(0, 10, n),
            "city": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def schema():
    return profiled(make_schema(), training_rows())


def test_the_profile_holds_deciles_and_shares_and_survives_schema_json(schema):
    size, city = schema.numeric[0], schema.categorical[0]
    assert len(size.edges) == 9 and np.allclose(size.edges, np.arange(1, 10), atol=0.3)
    assert np.allclose(size.shares, 0.1, atol=0.005) and size.missing == 0
    assert np.allclose(city.shares, [0.6, 0.3, 0.1], atol=0.02)
    assert schema.training_rows == 5000
    assert Schema.from_json(json.dumps(schema.to_dict())) == schema


def test_rows_like_the_training_rows_look_stable(schema):
    table = drift(training_rows(seed=1), schema)
    assert set(table["column"]) == {"size", "city"}
    assert (table["PSI"] < 0.01).all() and (table["level"] == "stable").all()


def test_few_rows_drawn_like_the_training_rows_are_stable_despite_a_noisy_index(schema):
    tables = [drift(training_rows(100, seed), schema) for seed in range(10, 60)]
    indexes = pd.concat(tables)
    # With 100 rows the index of an unmoved column often passes the customary 0.1 ...
    assert (indexes["PSI"] > 0.1).mean() > 0.2
    # ... which chance explains: flagged about once in a hundred columns, not once in five.
    assert (indexes["level"] != "stable").mean() <= 0.05
    assert indexes["what moved"].str.contains("within what chance gives 100 rows").mean() > 0.9
    moved = training_rows(100, 99)
    moved["size"] = moved["size"] * 0.5 + 5
    assert drift(moved, schema).set_index("column").loc["size", "level"] == "large shift"


def test_a_moved_column_is_named_with_its_level_and_what_moved(schema):
    rows = training_rows(seed=2)
    rows["size"] = rows["size"] * 0.5 + 5  # now 5 to 10
    rows.loc[: len(rows) // 2, "city"] = "d"  # half unseen
    table = drift(rows, schema).set_index("column")
    assert table.loc["size", "level"] == "large shift"
    assert "median 5 in training" in table.loc["size", "what moved"]
    assert table.loc["city", "level"] == "large shift"
    assert "unseen categories, most often 'd'" in table.loc["city", "what moved"]
    # The index is the textbook one: sum of (actual - expected) * ln(actual / expected).
    expected, actual = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert psi(expected, actual) == pytest.approx(0.25 * np.log(0.5) * -1 + 0.25 * np.log(1.5))


def test_each_row_says_what_the_model_had_to_guess(schema):
    rows = pd.DataFrame(
        {"size": [3.0, 12.0, None, -1.0], "city": ["a", "zz", "b", None]},
        index=[10, 11, 12, 13],
    )
    checks = row_checks(rows, schema)
    assert checks.index.tolist() == [10, 11, 12, 13]
    assert checks.tolist() == [
        "",
        "size 12 above the training maximum 10; city 'zz' unseen in training",
        "size missing",
        "size -1 below the training minimum 0; city missing",
    ]


def test_a_schema_without_a_profile_gives_no_drift_rows_but_still_checks_rows():
    old = make_schema()
    assert drift(training_rows(), old).empty
    assert row_checks(pd.DataFrame({"size": [11.0], "city": ["a"]}), old).iloc[0] != ""


def test_the_cli_flags_rows_and_prints_the_drift_of_a_real_dataset(tmp_path):
    frame = load_sample("diabetes").sample(frac=1, random_state=1)
    frame.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    done = cli(
        "train",
        "--data",
        tmp_path / "train.csv",
        "--target",
        "progression",
        "--out",
        tmp_path / "run",
        "--layers",
        "4:relu",
        "--epochs",
        "2",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    new = frame.iloc[300:].copy()
    new["bmi"] += 10  # every row heavier than most training rows
    new.iloc[0, new.columns.get_loc("age")] = None
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.csv"
    done = cli(
        "predict", "--model", tmp_path / "run" / "model.h5", "--data", tmp_path / "new.csv",
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    checks = pd.read_csv(out, keep_default_na=False)["checks"]
    assert checks.iloc[0].startswith("age missing")
    heavy = (
        new["bmi"]
        > json.loads((tmp_path / "run" / "schema.json").read_text())["numeric"][2]["maximum"]
    )
    assert checks[heavy.to_numpy()].str.contains("bmi .* above the training maximum").all()
    assert "bmi: large shift" in done.stdout
