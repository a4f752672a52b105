"""The network search on the pages: the Tune page's Search tab from the button to its views and
an adopted design, and the Train page's "Find me a network" from the button to the best design
trained to completion; with real trainings on a sample."""

import optuna
from test_tune_page import chart, has_button, open_tune_page, run_until

from nncore.config import TrainSpec
from nncore.run.search import NetworkSearch
from nncore.run.session import SEARCH_FILE
from ui import Keys, md


def test_a_search_draws_its_views_and_its_best_is_adopted_with_its_origin():
    at = open_tune_page()
    at.number_input(key="search_trials").set_value(2)
    at.number_input(key="search_epochs").set_value(2)
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


def links(at) -> list[str]:
    return [link.proto.label for link in at.get("page_link")]


def test_find_me_a_network_trains_the_best_and_links_to_the_baselines():
    at = open_tune_page()  # iris, a small network
    at.session_state[Keys.EXPERIMENT] = at.session_state[Keys.EXPERIMENT].replace(
        training=TrainSpec(epochs=3, patience=2, early_stopping=False)
    )
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="find_minutes").value == 3  # the rule's for 150 rows
    at.number_input(key="find_trials").set_value(2)
    at.button(key="find_network").click().run()
    assert not at.exception
    comparing = "Compare it with gradient boosting and a linear model"
    run_until(at, lambda at: comparing in links(at))
    bench = at.session_state[Keys.WORKBENCH]
    search = bench.network_search.search
    final = bench.current_run()
    assert final.id == search.final_run and final.status == "finished"
    assert [r.id for r in bench.runs] == [
        *(t.user_attrs["run"] for t in search.study.trials),
        final.id,
    ]
    assert final.experiment.origin.startswith("search: trial ")
    assert final.experiment.training.early_stopping  # to completion, as the page says
    assert any(md(final.experiment.origin) in s.value for s in at.success)
    assert not has_button(at, "find_stop") and not at.session_state.get("find_error")


def test_a_search_the_server_left_unfinished_is_offered_for_resuming():
    at = open_tune_page()
    bench = at.session_state[Keys.WORKBENCH]
    experiment = at.session_state[Keys.EXPERIMENT]
    # As a killed server leaves it: one trial ended, one left running, budget left.
    search = NetworkSearch.start(
        bench.workspace.folder / SEARCH_FILE, experiment, trials=4, finish=experiment
    )
    search.study.set_user_attr("table", at.session_state[Keys.TABLE])
    search.study.add_trial(optuna.trial.create_trial(value=0.5, intermediate_values={0: 0.5}))
    search.study.ask()
    at.run()
    assert any("resume it to go on from its 1 ended trials" in w.value for w in at.warning)
    assert has_button(at, "resume_search") and not has_button(at, "stop_search")
    at.switch_page("pages/train.py").run()
    assert any("after 1 ended trials. Resume it on Tune" in w.value for w in at.warning)
    assert not has_button(at, "find_stop")
