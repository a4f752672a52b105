"""Names from the user's data in figures: Plotly renders a subset of HTML in titles, tick labels,
legends and hover text, so a column, class, target or run named like a link must show as typed,
never become one."""

import functools
import json

import numpy as np
import pytest

from nncore import plots
from nncore.config import LayerSpec
from nncore.learn import calibrate

LINK = '<a href="https://evil.invalid/">click</a>'
ESCAPED = '&lt;a href="https://evil.invalid/"&gt;click&lt;/a&gt;'


def strings(value) -> list[str]:
    """Every text in a figure's JSON: values, labels, templates, titles; not `uirevision`, a
    key Plotly compares to keep the user's zoom and never shows."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() if key != "uirevision" for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def rng_probabilities(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % k
    p = rng.dirichlet(np.ones(k), n)
    return y, p


@functools.cache
def figures():
    y2, p2 = rng_probabilities(40, 2)
    y3, p3 = rng_probabilities(40, 3)
    y3_missing = np.where(y3 == 2, 0, y3)  # no row of the hostile class: a note names it
    actual = np.linspace(0, 1, 30)
    history = [{"loss": 1.0 / e, "val_loss": 1.2 / e} for e in range(1, 6)]
    return {
        "confusion-matrix": plots.confusion_matrix([[3, 1], [2, 4]], ["ok", LINK]),
        "confusion-matrix-shares": plots.confusion_matrix([[3, 1], [2, 4]], [LINK, "ok"], True),
        "roc-binary": plots.roc_curves(y2, p2[:, 1], ["no", LINK], threshold=0.5),
        "roc-multiclass": plots.roc_curves(y3, p3, ["a", "b", LINK]),
        "roc-skipped-class": plots.roc_curves(y3_missing, p3, ["a", "b", LINK]),
        "precision-recall": plots.precision_recall_curves(y2, p2, ["no", LINK], threshold=0.3),
        "precision-recall-skipped": plots.precision_recall_curves(y3_missing, p3, ["a", "b", LINK]),
        "predicted-vs-actual": plots.predicted_vs_actual(actual, actual * 0.9, LINK),
        "residuals": plots.residuals(actual, actual * 0.9, LINK),
        "importance": plots.feature_importance(
            {
                "score": "accuracy",
                "rows": 40,
                "repeats": 3,
                "columns": [
                    {"column": LINK, "mean": 0.2, "std": 0.01},
                    {"column": "plain", "mean": 0.0, "std": 0.0},
                ],
            }
        ),
        "compare-runs": plots.compare_curves({LINK: history, "run 2": history}, best=LINK),
        "capacity-steps": plots.capacity_steps([LINK, "64"], [0.5, 0.4], [True, False], "val_loss"),
        "architecture": plots.architecture(4, (LayerSpec(8),), "binary", 1, input_label=LINK),
        # The monitored value of an experiment file is free text after "val_".
        "compare-monitor": plots.compare_curves({"run 1": history}, LINK),
        "capacity-monitor": plots.capacity_steps(["64"], [0.5], [True], f"val_{LINK}"),
        "calibration": plots.calibration_curves(
            calibrate.calibration("multiclass", y3, p3, ["a", "b", LINK])
        ),
        "gain-and-lift": plots.gain_and_lift(calibrate.gains(y2, p2[:, 1]), LINK),
    }


@pytest.mark.parametrize("name", list(figures()))
def test_a_link_in_a_name_shows_escaped_and_never_as_markup(name):
    texts = strings(json.loads(figures()[name].to_json()))
    assert not [t for t in texts if "<a " in t or "</a>" in t]
    assert any(ESCAPED in t for t in texts)


def test_plain_names_are_unchanged():
    figure = plots.confusion_matrix([[1, 0], [0, 1]], ["R&D", 'c\'s "x"'])
    assert list(figure.data[0].x) == ["R&amp;D", 'c\'s "x"']  # Plotly shows &amp; as &
    figure = plots.feature_importance(
        {
            "score": "r2",
            "rows": 5,
            "repeats": 1,
            "columns": [{"column": "size", "mean": 1, "std": 0}],
        }
    )
    assert list(figure.data[0].y) == ["size"]
