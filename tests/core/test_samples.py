"""The bundled samples load, read back through the CSV reader and plan as the task they state."""

import pandas as pd
import pytest

from nncore.config import DataSpec
from nncore.data.csvio import read_csv
from nncore.data.plan import plan_columns
from nncore.data.samples import SAMPLES, load_sample, sample_csv
from nncore.errors import DataError

ROWS = {"iris": 150, "wine": 178, "breast_cancer": 569, "diabetes": 442}


def test_the_four_samples_are_bundled():
    assert list(SAMPLES) == ["iris", "wine", "breast_cancer", "diabetes"]
    assert {name: s.task for name, s in SAMPLES.items()} == {
        "iris": "multiclass",
        "wine": "multiclass",
        "breast_cancer": "binary",
        "diabetes": "regression",
    }
    for name, sample in SAMPLES.items():
        assert sample.name == name
        assert sample.title and sample.description and "\n" not in sample.description


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_loads_with_its_target_last(name):
    frame = load_sample(name)
    target = SAMPLES[name].target
    assert frame.shape[0] == ROWS[name]
    assert frame.columns[-1] == target
    assert frame.columns.is_unique
    assert not frame.isna().any().any()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_reads_back_from_csv_and_plans_as_its_task(name):
    sample = SAMPLES[name]
    frame = read_csv(sample_csv(name))
    pd.testing.assert_index_equal(frame.columns, load_sample(name).columns)
    plan = plan_columns(frame, DataSpec(target=sample.target))
    assert plan.task == sample.task
    assert plan.features and not plan.excluded
    assert plan.rows_with_missing_target == 0


def test_class_labels_are_text():
    assert sorted(load_sample("iris")["species"].unique()) == ["setosa", "versicolor", "virginica"]
    assert sorted(load_sample("breast_cancer")["diagnosis"].unique()) == ["benign", "malignant"]
    plan = plan_columns(load_sample("breast_cancer"), DataSpec(target="diagnosis"))
    assert plan.classes == ("benign", "malignant")


def test_diabetes_is_unscaled():
    ages = load_sample("diabetes")["age"]
    assert ages.min() >= 18 and ages.max() <= 90


def test_load_sample_gives_a_fresh_frame():
    first = load_sample("iris")
    first.iloc[0, 0] = -1.0
    assert load_sample("iris").iloc[0, 0] != -1.0


def test_unknown_sample_is_refused_with_the_choices():
    with pytest.raises(DataError, match="iris, wine, breast_cancer, diabetes"):
        load_sample("titanic")
