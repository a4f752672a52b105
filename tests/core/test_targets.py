"""Target suggestions: which columns a table likely predicts, and why, on real frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nncore.data.columns import profile_columns
from nncore.data.samples import SAMPLES, load_sample
from nncore.data.task import suggest_targets
from nncore.rules import MAX_SUGGESTIONS

N = 60
RNG = np.random.default_rng(3)


def amounts(scale: float = 100.0) -> np.ndarray:
    """Numbers that are plainly an amount: many distinct values, not whole."""
    return RNG.normal(scale, scale / 5, N).round(2)


def suggested(frame: pd.DataFrame) -> list[str]:
    return [column for column, _ in suggest_targets(frame)]


def reason_of(frame: pd.DataFrame, column: str) -> str:
    return dict(suggest_targets(frame))[column]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_samples_target_is_the_first_suggestion(name):
    frame = load_sample(name)
    assert suggested(frame)[0] == SAMPLES[name].target


@pytest.mark.parametrize("column", ["SalePrice", "sale_price", "Outcome", "y", "class label"])
def test_a_name_that_says_target_comes_first_wherever_the_column_is(column):
    frame = pd.DataFrame({column: amounts(), "rooms": amounts(3), "area": amounts(80)})
    assert suggested(frame)[0] == column
    assert reason_of(frame, column).startswith("its name says '")
    # "area" is last, so it is suggested too, after the named column.
    assert suggested(frame) == [column, "area"]


@pytest.mark.parametrize("column", ["priceless", "player", "yard", "classroom"])
def test_a_target_word_inside_a_longer_word_does_not_count(column):
    frame = pd.DataFrame({column: amounts(), "area": amounts(80)})
    assert suggested(frame) == ["area"]


def test_without_other_hints_the_last_column_is_suggested_for_its_place():
    frame = pd.DataFrame({"a": amounts(), "b": amounts(), "c": amounts()})
    assert suggest_targets(frame) == [
        (
            "c",
            "the last column, where tables often keep the target; "
            "numbers, not an identifier: an amount to predict",
        )
    ]


def test_few_distinct_values_suggest_classes_and_numbers_alone_do_not():
    frame = pd.DataFrame(
        {
            "width": amounts(),
            "grade": RNG.choice(["low", "mid", "high"], N),
            "height": amounts(),
            "dimension": amounts(),
        }
    )
    assert suggested(frame) == ["grade", "dimension"]
    assert reason_of(frame, "grade") == "3 distinct values: classes to predict"


def test_the_name_outranks_few_values_which_outrank_the_place():
    frame = pd.DataFrame(
        {
            "smoker": RNG.choice(["yes", "no"], N),
            "price": amounts(),
            "region": RNG.choice(["north", "south", "east", "west"], N),
            "year": RNG.choice([2019, 2020, 2021], N),
            "income": amounts(1000),
        }
    )
    assert suggested(frame) == ["price", "smoker", "region"]
    assert len(suggested(frame)) == MAX_SUGGESTIONS
    assert reason_of(frame, "smoker") == "2 distinct values: classes to predict"


def test_identifiers_dates_text_and_constants_are_never_suggested_whatever_their_name():
    frame = pd.DataFrame(
        {
            "label": [f"CUST-{397864343 + 7919 * i}" for i in range(N)],  # a code on every row
            "target": ["same"] * N,  # constant
            "outcome_date": pd.date_range("2024-01-01", periods=N).strftime("%Y-%m-%d"),
            "result": [f"the patient said that it went well on visit {i}" for i in range(N)],
            "size": amounts(),
            "customer_id": np.arange(1000, 1000 + N),  # last, but a different number on every row
        }
    )
    kinds = {p.name: p.kind for p in profile_columns(frame)}
    assert kinds == {
        "label": "identifier",
        "target": "constant",
        "outcome_date": "datetime",
        "result": "text",
        "size": "numeric",
        "customer_id": "identifier",
    }
    assert suggest_targets(frame) == []


def test_profiles_given_are_used_as_computed():
    frame = pd.DataFrame({"quality": RNG.integers(3, 9, N), "acidity": amounts(3)})
    profiles = profile_columns(frame)
    assert suggest_targets(frame, profiles) == suggest_targets(frame)
    assert reason_of(frame, "quality").startswith("its name says 'quality'; ")
    assert "distinct values: classes to predict" in reason_of(frame, "quality")


def test_an_empty_table_has_no_suggestion():
    assert suggest_targets(pd.DataFrame()) == []
