"""The network search, measured: pruning against no pruning for the same wall time, and "find
me a network" (search, then the best trained to completion) against the studio's defaults and
scikit-learn's HistGradientBoosting on the same held-out rows.

    python bench/search.py [--minutes 5] [--datasets diabetes,breast_cancer,wine]

Datasets are scikit-learn's bundled ones (offline): diabetes (regression), breast_cancer
(binary), wine (multiclass). Each search runs its trials one at a time through a real job runner
on a workspace made here; a 20% test share is held out of every search and training.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.common import machine  # noqa: E402

SCORE = {"regression": "r2", "binary": "accuracy", "multiclass": "accuracy"}


def _frame(name: str):
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = loaded.frame.rename(columns={loaded.target.name: "target"})
    task = (
        "regression"
        if name == "diabetes"
        else ("binary" if name == "breast_cancer" else "multiclass")
    )
    return frame, task


def measure(name: str, minutes: float) -> dict:
    from nncore.config import DataSpec, Experiment
    from nncore.run.jobs import JobRunner
    from nncore.run.pipeline import run_experiment
    from nncore.run.session import Workbench
    from nncore.run.workspace import Workspace

    frame, task = _frame(name)
    base = Experiment(data=DataSpec(target="target", task=task, test_fraction=0.2), seed=0)
    row: dict = {"dataset": name, "task": task, "rows": len(frame), "minutes": minutes}
    with tempfile.TemporaryDirectory() as folder:
        for prune in (True, False):
            workspace = Workspace.at(Path(folder) / f"ws-{prune}", create=True)
            workspace.add_table(frame.to_csv(index=False).encode(), f"{name}.csv")
            with JobRunner(max_concurrent=1) as runner:
                bench = Workbench(lambda runner=runner: runner, workspace)
                record = bench.start_network_search(base, minutes=minutes, seed=0, prune=prune)
                record.wait()
                rows = record.search.table()
                best = record.search.best()
                key = "pruned" if prune else "no pruning"
                row[key] = {
                    "trials": len(rows),
                    "completed": sum(r["state"] == "complete" for r in rows),
                    "pruned": sum(r["state"] == "pruned" for r in rows),
                    "best val_loss": None if best is None else best.value,
                }
                if prune:
                    chosen = record.search.best_design()
        final = chosen.replace(training=base.training)
        scores = {}
        for label, experiment in (("found", final), ("defaults", base)):
            result = run_experiment(frame, experiment, Path(folder) / label)
            test = result.metrics["test"]
            scores[label] = test["network"][SCORE[task]]
            scores["gradient boosting"] = test["baselines"]["gradient boosting"][SCORE[task]]
        row["test " + SCORE[task]] = scores
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="each search's budget")
    parser.add_argument("--datasets", default="diabetes,breast_cancer,wine")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for name in args.datasets.split(","):
        print(json.dumps(measure(name, args.minutes)), flush=True)


if __name__ == "__main__":
    main()
