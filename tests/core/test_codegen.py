"""Show me the code: the generated script, run in a fresh process with no nncore, trains the same
network as the engine: the same layers and, epoch by epoch, the same validation loss."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from frames import TARGETS, mixed_frame

from nncore.artifacts.codegen import render, script_name
from nncore.artifacts.predict import load_schema
from nncore.config import CompileSpec, DataSpec, Experiment, LayerSpec, TrainSpec
from nncore.data.csvio import read_csv
from nncore.learn.model import build_model
from nncore.run.pipeline import run_experiment

ROOT = Path(__file__).resolve().parents[2]
# The script and the engine make the same computations in the same order; what is left is the
# validation pass, which the engine runs in batches of 4096 rows and Keras' fit in batches of
# `batch_size`: a float32 mean summed in another order, differences near 1e-7.
RTOL = 1e-4

CONFIGS = {
    "regression-standard-l2-dropout-test": (
        "regression",
        Experiment(
            data=DataSpec(target=TARGETS["regression"], scaling="standard", test_fraction=0.2),
            layers=(LayerSpec(16, "relu", dropout=0.2, l2=0.01), LayerSpec(8, "tanh")),
            compile=CompileSpec("adam", 0.01, loss="huber"),
            training=TrainSpec(epochs=12, batch_size=16, patience=3),
            seed=5,
        ),
    ),
    "binary-minmax-batchnorm-sgd-balanced": (
        "binary",
        Experiment(
            data=DataSpec(target=TARGETS["binary"], scaling="minmax", validation_fraction=0.25),
            layers=(LayerSpec(12, "elu", batch_norm=True, l1=0.001), LayerSpec(6, "swish")),
            compile=CompileSpec("sgd", 0.05, momentum=0.9, nesterov=True),
            training=TrainSpec(
                epochs=10, batch_size=32, class_weight="balanced", monitor="val_auc"
            ),
            seed=11,
        ),
    ),
    "multiclass-robust-selu-onehot-plateau": (
        "multiclass",
        Experiment(
            data=DataSpec(target=TARGETS["multiclass"], scaling="robust"),
            layers=(LayerSpec(20, "selu", dropout=0.1),),
            compile=CompileSpec("rmsprop", 0.003, loss="categorical_crossentropy"),
            training=TrainSpec(
                epochs=10, batch_size=24, reduce_lr_on_plateau=True, reduce_lr_patience=2
            ),
            seed=2,
        ),
    ),
    "multiclass-unscaled-no-early-stopping": (
        "multiclass",
        Experiment(
            data=DataSpec(target=TARGETS["multiclass"], scaling="none"),
            layers=(LayerSpec(10, "gelu", l1=0.001, l2=0.001),),
            compile=CompileSpec("nadam", 0.002),
            training=TrainSpec(epochs=6, batch_size=64, early_stopping=False),
            seed=9,
        ),
    ),
}


def odd_frame(n: int = 200, seed: int = 4) -> pd.DataFrame:
    """Names with spaces, quotes and non-ASCII; whole-number categories; 0/1 classes."""
    rng = np.random.default_rng(seed)
    size = rng.normal(80, 20, n)
    floor = rng.choice([1, 2, 3], n).astype(float)  # read back as numbers, used as categories
    quote = rng.choice(['a "b"', "c's", "é"], n)
    sold = ((size - 80) / 20 + (floor == 2) + rng.normal(0, 0.5, n) > 0.5).astype(int)
    frame = pd.DataFrame({"size (m²)": size, "floor": floor, 'owner\'s "note"': quote})
    frame["sold?"] = sold
    frame.loc[rng.choice(n, 10, replace=False), "floor"] = np.nan
    return frame


ODD = Experiment(
    data=DataSpec(target="sold?", roles=(("floor", "categorical"),)),
    layers=(LayerSpec(9, "leaky_relu"),),
    compile=CompileSpec("adamw", 0.01),
    training=TrainSpec(epochs=5, batch_size=50, patience=2),
    seed=13,
)


def run_script(path: Path, data: Path) -> subprocess.CompletedProcess:
    """The script in a fresh interpreter, in its own folder, where nncore cannot be imported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run(
        [sys.executable, path.name, data.name],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def layer_shapes(model: keras.Model) -> list[tuple]:
    """Each layer's type, units or rate, activation and parameter count, names aside."""
    shapes = []
    for layer in model.layers:
        config = layer.get_config()
        shapes.append(
            (
                type(layer).__name__,
                config.get("units", config.get("rate")),
                config.get("activation"),
                config.get("use_bias"),
                layer.count_params(),
            )
        )
    return shapes


@pytest.fixture(scope="module", params=[*CONFIGS, "binary-odd-names-whole-number-categories"])
def both(request, tmp_path_factory):
    """The engine's run and the generated script's run of one configuration, on one CSV."""
    root = tmp_path_factory.mktemp(request.param)
    data = root / "houses.csv"
    if request.param in CONFIGS:
        task, experiment = CONFIGS[request.param]
        mixed_frame(n=200, task=task, seed=4).to_csv(data, index=False)
    else:
        task, experiment = "binary", ODD
        odd_frame().to_csv(data, index=False)
    result = run_experiment(read_csv(data.read_bytes()), experiment, root / "engine")
    schema = load_schema(root / "engine" / "schema.json")
    script = root / "script" / script_name(schema)
    script.parent.mkdir()
    (script.parent / data.name).write_bytes(data.read_bytes())
    script.write_text(render(experiment, schema, data.name))
    done = run_script(script, data)
    assert done.returncode == 0, done.stderr[-3000:]
    return task, experiment, result, schema, script, done


@pytest.mark.slow
def test_the_script_gets_the_engines_validation_loss_epoch_by_epoch(both):
    _, experiment, result, _, script, done = both
    engine = pd.DataFrame(result.history)
    mine = pd.read_csv(script.parent / "history.csv")
    assert len(mine) == len(engine), "the script stopped at another epoch"
    np.testing.assert_allclose(mine["val_loss"], engine["val_loss"], rtol=RTOL)
    np.testing.assert_allclose(mine["loss"], engine["loss"], rtol=RTOL)
    # The final evaluation uses the weights kept, as the engine's saved model does.
    printed = next(line for line in done.stdout.splitlines() if line.startswith("validation:"))
    scores = ast.literal_eval(printed.removeprefix("validation:").strip())
    losses = engine["val_loss"]
    kept = (
        losses.iloc[result.training.best_epoch]
        if experiment.training.restore_best_weights and result.training.best_epoch is not None
        else losses.iloc[-1]
    )
    assert scores["loss"] == pytest.approx(kept, rel=RTOL)


@pytest.mark.slow
def test_the_script_builds_the_engines_architecture_and_weights(both):
    task, experiment, result, schema, script, _ = both
    saved = keras.saving.load_model(script.parent / "model.keras", compile=False)
    n_classes = len(schema.target.classes)
    engine = build_model(schema.width, experiment.layers, task, n_classes)
    assert layer_shapes(saved) == [s for s in layer_shapes(engine) if s[0] != "InputLayer"]
    # The trained output layer is the same (the engine's first layer is widened on export for
    # unknown categories, the last one is not).
    portable = keras.saving.load_model(result.out_dir / "model.keras", compile=False)
    for mine, theirs in zip(
        saved.layers[-1].get_weights(), portable.get_layer("output").get_weights(), strict=True
    ):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_the_script_uses_no_nncore_is_ruff_clean_and_predicts(both):
    task, _, _, schema, script, done = both
    text = script.read_text()
    assert "nncore" not in text
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        checked = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--config", ROOT / "pyproject.toml", script],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stdout
    predicted = done.stdout.split(f"predicted {schema.target.name}")[-1].split()
    if task != "regression":
        # Five rows, each labelled with one of the classes.
        labels = predicted[1::2]
        assert len(labels) == 5 and set(labels) <= {str(c) for c in schema.target.classes}
    else:
        assert len(predicted) == 10
        assert all(np.isfinite(float(v)) for v in predicted[1::2])


def wide_frame(n: int = 60) -> pd.DataFrame:
    """Thirty numeric columns with long names and one categorical column only."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {f"measurement number {i:02d} (units)": rng.normal(size=n) for i in range(30)}
    )
    frame["group"] = rng.choice(["x", "y"], n)
    frame["y"] = rng.normal(size=n)
    return frame


def text_frame(n: int = 60) -> pd.DataFrame:
    """Categories only, and a three-class target."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {"colour": rng.choice(["red", "blue"], n), "kind": rng.choice(["a", "b", "c"], n)}
    )


RENDERED = {
    "wide-regression-balanced-ignored": (
        wide_frame,
        Experiment(
            data=DataSpec(target="y", scaling="none", test_fraction=0.2),
            layers=(LayerSpec(4096, "selu", 0.5, 0.125, 0.25, True),),
            training=TrainSpec(class_weight="balanced", early_stopping=False),
        ),
    ),
    "categories-only-no-hidden-layer": (
        text_frame,
        Experiment(
            data=DataSpec(target="kind"),
            layers=(),
            compile=CompileSpec("sgd", 0.1, momentum=0.5, loss="categorical_crossentropy"),
            training=TrainSpec(restore_best_weights=False, early_stopping=False),
        ),
    ),
}


def test_every_kind_of_script_compiles_and_is_ruff_clean(tmp_path):
    """Without training: the shapes of script the five runs above do not cover."""
    from nncore.data.plan import plan_columns
    from nncore.data.prepare import prepare

    for name, (make, experiment) in RENDERED.items():
        frame = make()
        plan = plan_columns(frame, experiment.data)
        schema = prepare(frame, plan, experiment.data, experiment.seed).schema
        script = render(experiment, schema, "my data.csv")
        compile(script, name, "exec")
        (tmp_path / f"{name.replace('-', '_')}.py").write_text(script)
        if experiment.training.class_weight == "balanced" and plan.task == "regression":
            assert "compute_class_weight" not in script  # the engine ignores it there too
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        checked = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--config", ROOT / "pyproject.toml", tmp_path],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stdout
