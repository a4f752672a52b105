"""Column profiles, task inference and the column plan, on small frames made here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from nncore.config import DataSpec
from nncore.data.columns import MAX_CATEGORY_LEVELS, profile_columns
from nncore.data.dates import DATETIME_PARTS, datetime_parts, expand_datetimes
from nncore.data.plan import ColumnPlan, plan_columns
from nncore.data.task import infer_task
from nncore.errors import ConfigError, DataError

N = 60
RNG = np.random.default_rng(7)


def words(count: int, length: int = 8) -> list[str]:
    vocabulary = ["the", "cat", "sat", "on", "a", "mat", "quickly", "today", "and", "then"]
    rng = np.random.default_rng(count)
    return [" ".join(rng.choice(vocabulary, length)) + f" {i}" for i in range(count)]


def profile_of(values, name: str = "col"):
    (profile,) = profile_columns(pd.DataFrame({name: values}))
    return profile


def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


# ------------------------------------------------------------------------------------ kinds


@pytest.mark.parametrize(
    ("values", "kind", "role"),
    [
        pytest.param(RNG.normal(size=N), "numeric", "numeric", id="floats"),
        pytest.param(np.arange(N) * 0.5, "numeric", "numeric", id="float-unique-not-identifier"),
        pytest.param(RNG.integers(0, 5, N), "numeric", "numeric", id="small-ints-stay-numeric"),
        pytest.param(RNG.permutation(N) + 1000, "identifier", "ignore", id="int-ids"),
        pytest.param(np.arange(N), "identifier", "ignore", id="row-numbers-from-0"),
        pytest.param(np.arange(1, N + 1), "identifier", "ignore", id="row-numbers-from-1"),
        pytest.param([f"C{i:04d}" for i in range(N)], "identifier", "ignore", id="text-ids"),
        pytest.param(RNG.random(N) > 0.5, "boolean", "categorical", id="bool"),
        pytest.param(RNG.choice(["Yes", "No"], N), "boolean", "categorical", id="yes-no"),
        pytest.param(RNG.choice(["T", "f"], N), "boolean", "categorical", id="t-f"),
        pytest.param(RNG.integers(0, 2, N), "boolean", "categorical", id="zero-one"),
        pytest.param(RNG.choice(["Paris", "Oslo", "Lima"], N), "categorical", "categorical"),
        pytest.param(
            pd.date_range("2020-01-01", periods=N).astype(str), "datetime", "datetime", id="iso"
        ),
        pytest.param(
            pd.date_range("2020-01-01", periods=N, freq="5h").strftime("%m/%d/%Y %H:%M"),
            "datetime",
            "datetime",
            id="us-dates-with-times",
        ),
        pytest.param(
            pd.date_range("2020-01-01", periods=N).strftime("%d %b %Y"),
            "datetime",
            "datetime",
            id="month-names",
        ),
        pytest.param(pd.date_range("2020-01-01", periods=N), "datetime", "datetime", id="dtype"),
        pytest.param(RNG.choice(["12:30", "13:45"], N), "categorical", "categorical", id="times"),
        pytest.param(RNG.choice(["10-20", "20-30", "30-40"], N), "categorical", "categorical"),
        pytest.param(RNG.integers(19990101, 20201231, N), "identifier", "ignore", id="numbers"),
        pytest.param(words(N), "text", "ignore", id="free-text"),
        pytest.param(["same"] * N, "constant", "ignore", id="constant"),
        pytest.param([np.nan] * N, "empty", "ignore", id="empty"),
        pytest.param([None] * N, "empty", "ignore", id="empty-object"),
    ],
)
def test_each_kind_is_detected(values, kind, role):
    profile = profile_of(values)
    assert (profile.kind, profile.role) == (kind, role), profile.reason


@pytest.mark.parametrize("name", ["Unnamed: 0", "index", ""])
def test_a_written_out_index_is_an_identifier_at_any_size(name):
    profile = profile_of([3, 7, 9], name=name)
    assert profile.kind == "identifier"
    assert profile.reason == "pandas index written out: 3, 7, 9, …"


def test_row_numbers_say_so():
    assert profile_of(np.arange(N)).reason == "pandas index written out: 0, 1, 2, …"
    assert profile_of(np.arange(1, N + 1)).reason == "row numbers: 1, 2, 3, …"


def test_tiny_frames_do_not_call_every_distinct_column_an_identifier():
    assert profile_of(np.arange(5)).kind == "numeric"
    assert profile_of(["a", "b", "c", "d", "e"]).kind == "categorical"


def customer_codes(count: int) -> list[str]:
    return [f"CUST-{n:09d}" for n in np.random.default_rng(count).choice(10**9, count, False)]


def test_text_codes_that_differ_on_nearly_every_row_are_identifiers_left_out():
    few = profile_of(customer_codes(12))  # under the 20 rows "unique on every row" needs
    assert (few.kind, few.role) == ("identifier", "ignore")
    assert few.reason == "identifier: a different code on every row"
    codes = customer_codes(300)
    codes[-1] = codes[0]  # one repeat, as random codes have in a long enough file
    nearly = profile_of(codes, name="customer_id")
    assert (nearly.kind, nearly.role) == ("identifier", "ignore")
    assert nearly.reason == "identifier: a different code on 299 of 300 rows"
    assert nearly.examples[0].startswith("CUST-")


def test_free_text_and_repeated_codes_keep_their_kinds():
    assert profile_of(words(300)).kind == "text"  # unique too, but sentences
    assert profile_of([f"A{i % 30}" for i in range(300)]).kind == "categorical"
    halves = customer_codes(150) * 2  # each code on two rows: a grouping, not an identifier
    assert profile_of(halves).kind == "categorical"
    assert profile_of(["Ana", "Bo", "Cy", "Di", "Ed", "Fa", "Gu", "Ho", "Io", "Jo", "Ka"]).kind == (
        "categorical"
    )


def test_counts_cover_the_whole_column_and_examples_are_text():
    profile = profile_of(["b", None, "a", "b", None, "c"])
    assert (profile.missing, profile.unique) == (2, 3)
    assert profile.examples == ("b", "a", "c")
    assert profile.dtype == "str"


def test_reasons_are_plain_lines():
    frame = pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(N)],
            "const": "x",
            "empty": np.nan,
            "note": words(N),
            "flag": RNG.choice(["Yes", "No"], N),
        }
    )
    reasons = {p.name: p.reason for p in profile_columns(frame)}
    assert reasons == {
        "id": "identifier: a different value on every row",
        "const": "constant: always 'x'",
        "empty": "empty: every value is missing",
        "note": "free text: long varied strings; this studio learns from numbers and "
        "categories, not free text",
        "flag": "boolean: two values, No/Yes",
    }


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -0.0, 0.0],  # one value: a constant, as nunique counts it
        [1.5, np.nan, -2.25, 1.5, np.inf, -np.inf, np.inf],
        np.arange(-5, 5, dtype=np.int64).repeat(3),
        np.array([3, 1, 2, 3], dtype=np.uint8),
        pd.array([1, None, 3, 1], dtype="Int64"),
        # Long columns: values that mostly repeat (counted by hashing), mostly differ (sorting).
        np.append(np.random.default_rng(0).integers(0, 300, 50_000) * 0.5, [-0.0, 0.0]),
        np.append(np.random.default_rng(1).normal(size=50_000), [0.0, -0.0, 0.0]),
        np.random.default_rng(2).permutation(60_000).astype(np.int64) // 2,
    ],
)
def test_distinct_counts_agree_with_pandas(values):
    series = pd.Series(values)
    assert profile_of(series).unique == series.nunique()


def test_large_frames_profile_the_same_as_each_column_alone():
    rows = 20_000  # above the size from which columns are profiled in threads
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=rows).round(2),
            "n": rng.integers(0, 7, rows),
            "city": rng.choice(["Oslo", "Lima", "Pune"], rows),
            "id": np.arange(rows),
            "day": pd.date_range("2020-01-01", periods=rows, freq="h").astype(str),
            "flag": rng.choice(["yes", "no"], rows),
            "x2": rng.normal(size=rows).round(1),
            "const": 1.0,
            "empty": np.nan,
            "y": rng.normal(size=rows),
        }
    )
    assert frame.size >= 200_000
    alone = [profile_of(frame[name], name) for name in frame.columns]
    assert profile_columns(frame) == alone
    assert [p.kind for p in alone] == [
        "numeric",
        "numeric",
        "categorical",
        "identifier",
        "datetime",
        "boolean",
        "numeric",
        "constant",
        "empty",
        "numeric",
    ]


def test_too_many_categories_are_left_out_by_default():
    levels = [f"c{i % (MAX_CATEGORY_LEVELS + 200)}" for i in range(3 * MAX_CATEGORY_LEVELS)]
    profile = profile_of(levels)
    assert (profile.kind, profile.role) == ("categorical", "ignore")
    assert "1200 distinct values" in profile.reason


def test_duplicate_column_names_are_refused():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="'a' appear more than once"):
        profile_columns(frame)


def test_profiling_is_deterministic():
    frame = iris().assign(day=pd.date_range("2021-03-01", periods=150).astype(str))
    assert profile_columns(frame) == profile_columns(frame.copy())


# ------------------------------------------------------------------------------------- task


@pytest.mark.parametrize(
    ("values", "task", "reason", "classes"),
    [
        (["Yes", "No", "Yes", None], "binary", "binary: 2 distinct values, No/Yes", ("No", "Yes")),
        ([True, False, True], "binary", "binary: 2 distinct values, False/True", (False, True)),
        ([0, 1, 1, 0], "binary", "binary: 2 distinct values, 0/1", (0, 1)),
        (["b", "a", "c", "a"], "multiclass", "multiclass: 3 distinct text values", ("a", "b", "c")),
        (
            [3, 1, 2, 1, 2, 3, 4, 4],
            "multiclass",
            "multiclass: 4 distinct whole numbers",
            (1, 2, 3, 4),
        ),
        (np.linspace(0, 1, 50), "regression", "regression: numbers with 50 distinct values", ()),
        (np.arange(40) % 20, "regression", "regression: numbers with 20 distinct values", ()),
    ],
)
def test_infer_task(values, task, reason, classes):
    guess = infer_task(pd.Series(values, name="y"))
    assert (guess.task, guess.reason, guess.classes) == (task, reason, classes)
    assert all(type(c) in (str, int, float, bool) for c in guess.classes)


def test_classes_are_plain_python_values():
    guess = infer_task(pd.Series(np.array([2, 5, 9, 2, 5, 9], dtype=np.int32), name="y"))
    assert guess.classes == (2, 5, 9)
    assert all(type(c) is int for c in guess.classes)


@pytest.mark.parametrize(
    ("values", "override", "task"),
    [
        ([0, 1, 1, 0], "regression", "regression"),
        ([0, 1, 1, 0], "multiclass", "multiclass"),
        ([0.5, 1.5, 2.5, 0.5, 1.5], "multiclass", "multiclass"),
        (["a", "b", "a"], "binary", "binary"),
    ],
)
def test_overrides_that_can_work(values, override, task):
    guess = infer_task(pd.Series(values, name="y"), override)
    assert guess.task == task
    assert guess.reason.startswith(f"{task}, as chosen:")


@pytest.mark.parametrize(
    ("values", "override", "message"),
    [
        ([None, None, None], "auto", "'y' has no values: every row is missing"),
        (["x", "x", None], "auto", r"same value \('x'\) on every row"),
        ([f"person {i}" for i in range(100)], "auto", "looks like an identifier or free text"),
        (["1.5", "?"] + [str(i) for i in range(100)], "auto", r"not numbers \(such as '\?'\)"),
        (pd.to_datetime(["2020-01-01", "2021-01-01"]), "auto", "holds dates"),
        (["a", "b", "c"], "regression", "holds text .* cannot be a regression target"),
        ([True, False], "regression", "true/false values"),
        (["a", "b", "c"], "binary", r"3 distinct values \('a', 'b', 'c'\).*exactly two"),
        (np.linspace(0, 1, 500), "binary", "500 distinct values, but binary"),
        (np.linspace(0, 1, 500), "multiclass", "at most 200 classes"),
    ],
)
def test_targets_nothing_can_be_learned_from_are_refused(values, override, message):
    with pytest.raises(DataError, match=message):
        infer_task(pd.Series(values, name="y"), override)


def test_unknown_task_is_a_config_error():
    with pytest.raises(ConfigError, match="'clustering' is not one of"):
        infer_task(pd.Series([1, 2], name="y"), "clustering")


# ------------------------------------------------------------------------------------- plan


def people(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "Unnamed: 0": np.arange(rows),
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50, 10, rows),
            "city": rng.choice(["Paris", "Oslo", "Lima"], rows),
            "note": words(rows),
            "bought": rng.choice(["yes", "no"], rows),
        }
    )


def test_plan_uses_suggested_roles_in_frame_order():
    plan = plan_columns(people(), DataSpec(target="bought"))
    assert plan == ColumnPlan(
        target="bought",
        task="binary",
        task_reason="binary: 2 distinct values, no/yes",
        classes=("no", "yes"),
        features=(("age", "numeric"), ("income", "numeric"), ("city", "categorical")),
        excluded=(
            ("Unnamed: 0", "pandas index written out: 0, 1, 2, …"),
            ("note", plan.excluded[1][1]),
        ),
        warnings=(),
        rows_with_missing_target=0,
    )
    assert plan.excluded[1][1].startswith("free text")


def test_overrides_bring_back_and_ignore_columns():
    spec = DataSpec(target="bought", roles=(("Unnamed: 0", "categorical"), ("income", "ignore")))
    plan = plan_columns(people(60), spec)
    assert plan.features == (
        ("Unnamed: 0", "categorical"),
        ("age", "numeric"),
        ("city", "categorical"),
    )
    assert ("income", "set to ignore") in plan.excluded


def test_the_target_is_never_a_feature_even_with_an_override():
    spec = DataSpec(target="income", roles=(("income", "numeric"),))
    plan = plan_columns(people(), spec)
    assert "income" not in dict(plan.features)
    assert "income" not in dict(plan.excluded)
    assert plan.task == "regression"


def test_precomputed_profiles_give_the_same_plan():
    frame = people()
    spec = DataSpec(target="bought")
    assert plan_columns(frame, spec, profile_columns(frame)) == plan_columns(frame, spec)


def test_the_task_override_is_used():
    plan = plan_columns(people(), DataSpec(target="age", task="regression"))
    assert plan.task == "regression"
    with pytest.raises(DataError, match="cannot be a regression target"):
        plan_columns(people(), DataSpec(target="city", task="regression"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (DataSpec(target="price"), r"'price' is not in the data. Available columns: 'Unnamed: 0'"),
        (DataSpec(target=""), "Choose a target"),
        (
            DataSpec(target="bought", roles=(("colour", "categorical"),)),
            "A role is set for 'colour', but the data has no such column",
        ),
    ],
)
def test_unknown_columns_are_refused(spec, message):
    with pytest.raises(DataError, match=message):
        plan_columns(people(), spec)


def test_no_feature_left_lists_every_column_and_why():
    frame = pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(N)],
            "note": words(N),
            "k": 1,
            "gone": np.nan,
            "x": RNG.normal(size=N),
            "y": RNG.normal(size=N),
        }
    )
    spec = DataSpec(target="y", roles=(("x", "ignore"),))
    with pytest.raises(DataError) as caught:
        plan_columns(frame, spec)
    message = str(caught.value)
    assert message.startswith("No column is left to learn from")
    for line in (
        "- 'id': identifier: a different value on every row",
        "- 'note': free text",
        "- 'k': constant: always '1'",
        "- 'gone': empty: every value is missing",
        "- 'x': set to ignore",
    ):
        assert line in message


def test_only_a_target_is_refused():
    with pytest.raises(DataError, match="only the target column 'y'"):
        plan_columns(pd.DataFrame({"y": [1.0, 2.0, 3.0]}), DataSpec(target="y"))


def test_forced_roles_the_values_cannot_take_are_refused():
    frame = pd.DataFrame(
        {
            "hp": ["95", "?", "110", "?"] * 15,
            "city": RNG.choice(["Paris", "Oslo"], N),
            "gone": [None] * N,
            "y": RNG.normal(size=N),
        }
    )

    def plan(column, role):
        return plan_columns(frame, DataSpec(target="y", roles=((column, role),)))

    with pytest.raises(DataError, match=r"'hp' cannot be numeric: 30 rows hold .*'\?'"):
        plan("hp", "numeric")
    with pytest.raises(DataError, match="'city' cannot be a datetime column: only 0%"):
        plan("city", "datetime")
    with pytest.raises(DataError, match="'gone' has no values"):
        plan("gone", "numeric")
    numbers_as_text = frame.assign(hp=["95", "110"] * 30)
    spec = DataSpec(target="y", roles=(("hp", "numeric"),))
    assert ("hp", "numeric") in plan_columns(numbers_as_text, spec).features


def test_the_category_cap():
    rows = 3 * MAX_CATEGORY_LEVELS
    frame = pd.DataFrame(
        {
            "shop": [f"s{i % (MAX_CATEGORY_LEVELS + 1)}" for i in range(rows)],
            "x": np.linspace(0, 1, rows),
            "y": np.sin(np.arange(rows)),
        }
    )
    plan = plan_columns(frame, DataSpec(target="y"))
    assert dict(plan.excluded)["shop"].startswith("too many categories: 1001 distinct values")
    forced = DataSpec(target="y", roles=(("shop", "categorical"),))
    with pytest.raises(DataError, match="'shop' has 1001 categories.*at most 1000.*ignore"):
        plan_columns(frame, forced)
    ignored = plan_columns(frame, DataSpec(target="y", roles=(("shop", "ignore"),)))
    assert ignored.features == (("x", "numeric"),)


# --------------------------------------------------------------------------------- warnings


def test_a_clean_frame_has_no_warnings():
    plan = plan_columns(iris(), DataSpec(target="target"))
    assert plan.task == "multiclass"
    assert plan.classes == (0, 1, 2)
    assert plan.warnings == ()
    named = iris().assign(target=lambda f: f["target"].map({0: "setosa", 1: "versicolor", 2: "x"}))
    assert plan_columns(named, DataSpec(target="target")).warnings == ()
    regression = iris().drop(columns="target")
    plan = plan_columns(regression, DataSpec(target="sepal length (cm)"))
    assert plan.warnings == ()


def test_a_numeric_copy_of_a_numeric_target_is_a_leak():
    frame = iris().assign(length_mm=lambda f: f["sepal length (cm)"] * 10 + RNG.normal(0, 0.5, 150))
    (warning,) = plan_columns(frame, DataSpec(target="sepal length (cm)")).warnings
    assert warning.startswith(
        "'length_mm' nearly copies the target 'sepal length (cm)' (correlation +0.99"
    )
    assert warning.endswith("— if it is only known after the fact, set it to ignore.")


def test_a_numeric_copy_of_a_binary_target_is_a_leak():
    rng = np.random.default_rng(3)
    y = rng.choice(["no", "yes"], 200)
    frame = pd.DataFrame(
        {"x": rng.normal(size=200), "refund": np.where(y == "yes", 99.5, 0.5), "y": y}
    )
    (warning,) = plan_columns(frame, DataSpec(target="y")).warnings
    assert warning.startswith("'refund' nearly copies the target 'y' (correlation +1.000)")


def test_a_category_that_decides_the_class_is_a_leak():
    frame = iris().assign(
        kind=lambda f: f["target"].map({0: "a", 1: "b", 2: "c"}).where(np.arange(150) != 5, "b")
    )
    (warning,) = plan_columns(frame, DataSpec(target="target")).warnings
    assert warning.startswith(
        "'kind' nearly copies the target 'target' (each of its 3 values goes with one class on "
        "99.3% of rows)"
    )


def test_a_category_that_bins_a_numeric_target_is_a_leak():
    rng = np.random.default_rng(4)
    price = rng.uniform(100, 1000, 600)
    frame = pd.DataFrame(
        {
            "area": rng.normal(100, 20, 600),
            "price_band": pd.cut(price, 30, labels=False).astype(str),
            "price": price,
        }
    )
    (warning,) = plan_columns(frame, DataSpec(target="price")).warnings
    assert warning.startswith(
        "'price_band' nearly copies the target 'price' (its 30 values explain 99."
    )


def test_a_rare_class_with_a_lopsided_category_is_not_called_a_leak():
    rng = np.random.default_rng(5)
    rows = 1000
    y = np.where(np.arange(rows) % 200 == 0, "rare", "common")  # 0.5% rare
    frame = pd.DataFrame({"colour": rng.choice(["red", "blue"], rows), "y": y})
    warnings = plan_columns(frame, DataSpec(target="y")).warnings
    assert not any("nearly copies" in w for w in warnings)


def test_imbalance_names_the_class_and_its_share():
    rng = np.random.default_rng(6)
    y = np.where(np.arange(500) % 25 == 0, "fraud", "ok")
    frame = pd.DataFrame({"amount": rng.normal(size=500), "y": y})
    (warning,) = plan_columns(frame, DataSpec(target="y")).warnings
    assert warning == (
        "Class 'fraud' is only 4.0% of the rows (20 of 500): the model may learn to ignore it. "
        'Consider class weights "balanced" in the training settings.'
    )


def test_several_rare_classes_share_one_warning():
    y = ["a"] * 90 + ["b"] * 5 + ["c"] * 5
    frame = pd.DataFrame({"x": RNG.normal(size=100), "y": y})
    (warning,) = plan_columns(frame, DataSpec(target="y")).warnings
    assert warning.startswith("Classes 'b' (5.0%), 'c' (5.0%) are each under 10% of the rows")


def test_many_categories_are_named_with_their_count():
    rows = 2000
    frame = pd.DataFrame(
        {
            "city": [f"city{i % 812}" for i in range(rows)],
            "x": RNG.normal(size=rows),
            "y": RNG.normal(size=rows),
        }
    )
    warnings = plan_columns(frame, DataSpec(target="y")).warnings
    assert (
        "'city' has 812 categories: one-hot encoding makes 812 inputs; consider ignoring it or "
        "grouping rare values."
    ) in warnings


def test_too_few_rows_for_the_inputs():
    frame = pd.DataFrame(
        {
            "shop": [f"s{i % 20}" for i in range(100)],
            "x": RNG.normal(size=100),
            "y": RNG.normal(size=100),
        }
    )
    spec = DataSpec(target="y", validation_fraction=0.2, test_fraction=0.1)
    (warning,) = plan_columns(frame, spec).warnings
    assert warning.startswith(
        "Only 70 rows are left for training (20% kept for validation and 10% for testing), but "
        "the model has 21 inputs after one-hot encoding; aim for at least 10 rows per input "
        "(210 rows)"
    )


def test_rows_with_a_missing_target_are_counted_and_dropped():
    frame = iris().astype({"target": "float64"})
    frame.loc[[3, 60, 120], "target"] = np.nan
    plan = plan_columns(frame, DataSpec(target="target"))
    assert plan.rows_with_missing_target == 3
    assert plan.warnings == (
        "3 rows have no value for the target 'target'; they are left out of training.",
    )


# -------------------------------------------------------------------------------- datetimes


def test_datetime_parts_include_the_hour_only_with_times_of_day():
    with_times = pd.Series(["2024-01-31 08:30", "2024-02-29", None])
    dates_only = pd.Series(["2024-01-31", "2024-02-29 00:00"])
    assert datetime_parts(with_times) == DATETIME_PARTS
    assert datetime_parts(dates_only) == ("year", "month", "day", "dayofweek")


def test_expansion_gives_the_training_columns_at_prediction_time():
    train = pd.DataFrame(
        {"a": [1, 2, 3], "when": ["2024-01-31 08:30", "2024-02-29 17:00", None], "b": list("xyz")}
    )
    new = pd.DataFrame({"a": [4], "when": ["2024-03-05"], "b": ["x"]})
    parts = {"when": datetime_parts(train["when"])}
    trained = expand_datetimes(train, parts)
    predicted = expand_datetimes(new, parts)
    assert list(predicted.columns) == list(trained.columns)
    assert list(trained.columns) == [
        "a",
        "when__year",
        "when__month",
        "when__day",
        "when__dayofweek",
        "when__hour",
        "b",
    ]
    assert (trained.dtypes.iloc[1:6] == "float64").all()
    assert trained.iloc[1, 1:6].tolist() == [2024.0, 2.0, 29.0, 3.0, 17.0]
    assert trained.iloc[2, 1:6].isna().all()
    assert predicted.iloc[0, 1:6].tolist() == [2024.0, 3.0, 5.0, 1.0, 0.0]
    assert train.columns.tolist() == ["a", "when", "b"]  # the input is left alone


def test_expansion_by_names_uses_every_part_and_reads_datetime_columns():
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-31", "2024-06-01"])})
    expanded = expand_datetimes(frame, ["when"])
    assert list(expanded.columns) == [f"when__{part}" for part in DATETIME_PARTS]
    assert expanded["when__month"].tolist() == [1.0, 6.0]


def test_expansion_refuses_a_missing_column():
    with pytest.raises(DataError, match="no column 'when'"):
        expand_datetimes(pd.DataFrame({"a": [1]}), {"when": ("year",)})
