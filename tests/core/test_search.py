"""The network search: Optuna's seeded TPE sampler proposes the same designs for the same seed,
the median pruner stops a trailing trial within an epoch, a search interrupted by a server's end
resumes from its ended trials, and `python -m nncore search` leaves a trained run and
trials.csv; with real trainings through a real job runner on data made here."""

from __future__ import annotations

import csv
import json

import optuna
import pytest
from clirun import cli
from optuna.trial import TrialState
from test_session import WAIT_SECONDS, base, linear_csv, wait_until

from nncore.artifacts.runfiles import CHECKPOINT, RESULT, RUN_FILES, TRAINING_STATE, VALIDATION
from nncore.errors import ConfigError
from nncore.run.jobs import JobRunner
from nncore.run.search import NetworkSearch, search_space
from nncore.run.session import SEARCH_FILE, Workbench
from nncore.run.workspace import Workspace

# What `train` leaves in --out (test_cli.py's test_train_writes_every_artifact holds it to that).
TRAIN_WRITES = {*RUN_FILES, CHECKPOINT, TRAINING_STATE, VALIDATION, RESULT}


def designs(seed: int, path) -> list[dict]:
    """Twelve suggestions, each told a score that is a fixed function of its design, so the
    sampler's later picks (past its random start) depend on the earlier ones as in a search."""
    search = NetworkSearch.start(path, base(), trials=12, seed=seed)
    asked = []
    for _ in range(12):
        number, experiment = search.ask()
        asked.append(experiment.to_dict())
        score = experiment.compile.learning_rate * 100 + len(experiment.layers)
        search.tell(number, score, TrialState.COMPLETE)
    return asked


def test_the_same_seed_suggests_the_same_designs_and_another_seed_others(tmp_path):
    first = designs(7, tmp_path / "a.journal")
    assert first == designs(7, tmp_path / "b.journal")
    assert first != designs(8, tmp_path / "c.journal")
    assert len({json.dumps(d, sort_keys=True) for d in first}) == 12


def test_a_narrowed_space_is_kept_to_and_one_outside_the_rules_is_refused(tmp_path):
    space = search_space(hidden_layers=(1, 1), optimizer=("adam",), batch_size=(64,))
    search = NetworkSearch.start(tmp_path / "s.journal", base(), space=space, trials=3, seed=1)
    for _ in range(3):
        _, experiment = search.ask()
        assert len(experiment.layers) == 1 and experiment.compile.optimizer == "adam"
        assert experiment.training.batch_size == 64
    with pytest.raises(ConfigError, match="units is a range from 8 to 256"):
        search_space(units=(4, 64))
    with pytest.raises(ConfigError, match="not among them"):
        search_space(optimizer=("adam", "lbfgs"))
    with pytest.raises(ConfigError, match="a budget"):
        NetworkSearch.start(tmp_path / "t.journal", base())


@pytest.fixture(scope="module")
def runner():
    """One runner for the module: a worker's start (TensorFlow's import) is most of a small
    search's time."""
    with JobRunner(max_concurrent=1) as runner:
        yield runner


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    workspace = Workspace.at(tmp_path / "ws", create=True)
    workspace.add_table(linear_csv(), "line.csv")
    return workspace


def test_a_search_trains_each_trial_as_a_run_names_the_best_and_trains_it_on(workspace, runner):
    """ "Find me a network": the search's trials, then its best design trained to completion."""
    bench = Workbench(lambda: runner, workspace)
    experiment = base(epochs=2, early_stopping=False, patience=1)
    record = bench.find_network(experiment, minutes=5, trials=2)
    assert record.wait(WAIT_SECONDS)
    search = record.search
    table = search.table()
    assert [row["state"] for row in table] == ["complete"] * 2  # the pruner waits 3 trials
    assert record.error is None and search.why_ended == "Its budget is spent."
    runs = {run.id: run for run in bench.runs}
    for row in table:
        run = runs[row["run"]]
        assert run.status == "finished" and run.name.startswith(f"run {row['trial'] + 1} ")
        assert row["val_loss"] == pytest.approx(run.score())
    best = search.best()
    assert best.value == min(row["val_loss"] for row in table)
    assert search.best_design().layers == runs[best.user_attrs["run"]].experiment.layers

    final = runs[search.final_run]
    assert list(runs) == [*(row["run"] for row in table), final.id]
    assert bench.current_run() is final and final.job.wait(WAIT_SECONDS)
    assert final.status == "finished"
    found = final.experiment
    assert found.origin == f"search: trial {best.number} of 2, val_loss {best.value:.4g}"
    assert found.layers == search.best_design().layers
    assert found.training.batch_size == best.params["batch_size"]
    assert found.training.early_stopping and found.training.patience == 1


def test_the_pruner_stops_a_trailing_trial_within_an_epoch(workspace, runner):
    # Epochs of 600 steps, a second or more: far longer than the search's look at a trial's
    # epochs (SEARCH_POLL), so its decision lands inside the next epoch on a busy machine too.
    workspace.add_table(linear_csv(12_000), "long.csv")
    space = search_space(batch_size=(16,))
    bench = Workbench(lambda: runner, workspace)
    # Three trials ended with a perfect score at every epoch: any real one trails them.
    search = NetworkSearch.start(
        workspace.folder / SEARCH_FILE,
        base(epochs=30, early_stopping=False),
        space=space,
        trials=4,
        seed=2,
    )
    search.study.set_user_attr("table", workspace.table().id)
    for _ in range(3):
        search.study.add_trial(
            optuna.trial.create_trial(value=0.0, intermediate_values=dict.fromkeys(range(30), 0.0))
        )
    record = bench.resume_network_search()
    assert record.wait(WAIT_SECONDS)
    trial = record.search.study.trials[-1]
    assert trial.state == TrialState.PRUNED
    decided = max(trial.intermediate_values)  # the epoch whose score the pruner judged
    assert decided == 3  # the first the pruner may judge (its warm-up is 3 epochs)
    run = record.runs[trial.number]
    assert run.status == "stopped" and len(run.history()) <= decided + 2


def test_a_search_cut_by_the_servers_end_resumes_from_its_ended_trials(workspace, runner):
    killed = JobRunner(max_concurrent=1)  # the first server's: its end cuts the search
    bench = Workbench(lambda: killed, workspace)
    record = bench.start_network_search(base(epochs=2), trials=2, seed=4)
    wait_until(lambda: len(record.search.ended_trials()) >= 1 and len(record.runs) >= 2)
    bench.interrupted(killed.shutdown_for_exit())
    assert record.wait(WAIT_SECONDS)
    kept = [(t.number, t.params) for t in record.search.study.trials if t.state.is_finished()]

    restarted = Workbench(lambda: runner, Workspace.at(workspace.folder))
    found = restarted.network_search
    assert found is not None and found.resumable
    assert restarted.resume_network_search() is found
    assert found.wait(WAIT_SECONDS)
    trials = found.search.study.trials
    assert [(t.number, t.params) for t in trials[: len(kept)]] == kept
    judged = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(judged) == 2 and found.search.why_ended == "Its budget is spent."
    listed = {run.id for run in restarted.runs}
    assert {t.user_attrs["run"] for t in judged} <= listed
    assert found.search.final_run == ""  # a search without a finish trains nothing more


def test_cli_search_writes_a_trained_run_and_the_trials(tmp_path):
    data = tmp_path / "line.csv"
    data.write_bytes(linear_csv())
    out, config = tmp_path / "best", tmp_path / "experiment.json"
    config.write_text(base(epochs=5, early_stopping=True, patience=2).to_json())
    done = cli(
        "search", "--data", data, "--config", config, "--minutes", 5, "--trials", 1,
        "--epochs", 2, "--seed", 3, "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == TRAIN_WRITES | {"trials.csv"}
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [row["trial"] for row in rows] == ["0"]
    experiment = json.loads((out / "experiment.json").read_text())
    best = rows[int(experiment["origin"].removeprefix("search: trial ").split()[0])]
    assert experiment["training"]["batch_size"] == int(best["batch_size"])  # the one found
    assert experiment["training"]["epochs"] == 5  # the config's, not the trials' --epochs
    assert "best: trial" in done.stdout
