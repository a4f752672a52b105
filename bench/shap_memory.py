"""Memory: what shap adds to a worker that already has TensorFlow and a model.

    python bench/shap_memory.py

In one fresh process, as a worker does it: a tiny network trained on the "Breast cancer" sample
(3 epochs) and used for one prediction; then `import shap`; then the contributions of 20 rows
(`nncore.learn.explain.contributions`) and the partial dependence of the Evaluate page. RSS
and RssAnon (the process's own data) from /proc/self/status after each step, and the peak
(VmHWM). Sizes in MB of 10^6 bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def status() -> dict[str, float]:
    fields = {}
    with open(f"/proc/{os.getpid()}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024 / 1e6
    return fields


def main() -> None:
    from nncore.artifacts.predict import load_model, load_schema, model_inputs, raw_outputs
    from nncore.config import DataSpec, Experiment, TrainSpec
    from nncore.data.samples import SAMPLES, load_sample
    from nncore.learn.explain import (
        background_rows,
        contributions,
        curve_columns,
        curve_rows,
        partial_dependence_curves,
    )
    from nncore.run.pipeline import run_experiment

    steps = []
    sample = SAMPLES["breast_cancer"]
    frame = load_sample(sample.name)
    with tempfile.TemporaryDirectory() as out:
        experiment = Experiment(
            data=DataSpec(target=sample.target), training=TrainSpec(epochs=3), seed=0
        )
        result = run_experiment(frame, experiment, out)
        model = load_model(result.files.keras)
        schema = load_schema(result.files.schema)

        def predict(rows):
            return raw_outputs(model, model_inputs(rows, schema))

        predict(frame.head(5))
        steps.append(("TensorFlow, a training and a prediction", status()))
        start = time.perf_counter()
        import shap  # noqa: F401

        seconds = time.perf_counter() - start
        steps.append((f"import shap ({seconds:.1f} s)", status()))
        rows = frame.drop(columns=sample.target).head(20)
        start = time.perf_counter()
        contributions(predict, rows, background_rows(frame, schema), schema)
        seconds = time.perf_counter() - start
        steps.append((f"contributions of 20 rows ({seconds:.1f} s)", status()))
        start = time.perf_counter()
        columns = curve_columns(schema, result.metrics["importance"])
        partial_dependence_curves(predict, curve_rows(frame, schema), schema, columns)
        seconds = time.perf_counter() - start
        steps.append((f"partial dependence, 3 columns and a pair ({seconds:.1f} s)", status()))
    print("| step | RSS (MB) | anonymous (MB) | peak, VmHWM (MB) |")
    print("| --- | --- | --- | --- |")
    for name, fields in steps:
        print(
            f"| {name} | {fields['VmRSS']:.0f} | {fields['RssAnon']:.0f} | {fields['VmHWM']:.0f} |"
        )


if __name__ == "__main__":
    main()
