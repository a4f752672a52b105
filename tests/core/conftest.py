"""Shared fixtures of the engine tests."""

import pytest
from frames import TARGETS, mixed_frame, tiny_experiment


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory):
    """One trained run per task, shared by the export and prediction tests."""
    from nncore.run.pipeline import run_experiment

    runs = {}
    for task in TARGETS:
        frame = mixed_frame(task=task)
        out = tmp_path_factory.mktemp(task)
        runs[task] = (frame, run_experiment(frame, tiny_experiment(task), out))
    return runs
