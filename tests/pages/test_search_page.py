"""The Tune page's Search tab: a small search from the button to its views and an adopted
design, with real trainings on a sample."""

from test_tune_page import chart, has_button, open_tune_page, run_until

from ui import Keys


def test_a_search_draws_its_views_and_its_best_is_adopted_with_its_origin():
    at = open_tune_page()
    at.number_input(key="search_trials").set_value(2)
    at.number_input(key="search_epochs").set_value(3)
    at.button(key="start_search").click().run()
    assert not at.exception
    run_until(at, lambda at: has_button(at, "adopt_search") and not has_button(at, "stop_search"))
    progress = chart(at, "search_progress")
    assert len(progress["data"][0]["x"]) == 2  # one point per ended trial
    assert len(chart(at, "search_curves")["data"]) == 2
    rows = next(d.value for d in at.dataframe if "val_loss" in d.value.columns)
    assert list(rows["trial"]) == [0, 1] and set(rows["state"]) <= {"complete", "pruned"}
    at.button(key="adopt_search").click().run()
    experiment = at.session_state[Keys.EXPERIMENT]
    assert experiment.origin.startswith("search: trial ")
    best = min(rows["val_loss"])
    assert f"{best:.4g}" in experiment.origin
