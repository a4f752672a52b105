"""Every rule of the studio, written once: the tables the specs, pages, plots, code generator and
allow-lists read.

Adding an activation, a metric or a limit is one row here (plus its test); nothing else keeps a
copy of a name, a range, a default or a help text.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from nncore.errors import ConfigError

# ------------------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class Limit:
    """A bound that protects a shared server, with the setting that raises it on one's own
    machine (None: fixed in the code, as other parts rely on it)."""

    name: str
    default: int | float
    setting: str | None  # the environment variable that changes it
    help: str

    def value(self) -> int | float:
        """The bound in force: the setting's value when set to a positive whole number."""
        if self.setting is None:
            return self.default
        raw = os.environ.get(self.setting, "")
        try:
            value = int(raw)
        except ValueError:
            return self.default
        return value if value > 0 else self.default

    def advice(self) -> str:
        """How to lift the bound where one runs the studio oneself, for the end of a refusal."""
        return f"on your own machine, set {self.setting} to raise this limit"

    def shown(self) -> str:
        """The default as the README's table writes it."""
        return f"{self.default:,}" if isinstance(self.default, int) else f"{self.default:g}"


@dataclass(frozen=True, slots=True)
class TableLimits:
    """What one table that comes in (an upload, a file on the command line) may hold."""

    max_bytes: int | None
    max_cells: int | None
    max_columns: int | None

    @classmethod
    def from_env(cls) -> TableLimits:
        return cls(
            max_bytes=UPLOAD_BYTES.value(),
            max_cells=TABLE_CELLS.value(),
            max_columns=TABLE_COLUMNS.value(),
        )


UPLOAD_BYTES = Limit(
    "bytes",
    25 * 2**20,
    "NNSTUDIO_MAX_BYTES",
    "bytes one table may have (the upload widget's own limit is .streamlit/config.toml's "
    "maxUploadSize)",
)
TABLE_CELLS = Limit(
    "cells",
    10_000_000,
    "NNSTUDIO_MAX_CELLS",
    "rows × columns one table may hold: reading a table peaks at several times its final size, "
    "and every session keeps its own table",
)
TABLE_COLUMNS = Limit(
    "columns",
    5_000,
    "NNSTUDIO_MAX_COLUMNS",
    "columns one table may have: profiling and one input per column grow with it",
)
UPLOAD_MEGABYTES = Limit(
    "upload",
    25,
    None,
    "megabytes the upload widget takes: Streamlit's `server.maxUploadSize` in "
    "`.streamlit/config.toml` (on your own machine: `streamlit run app.py --server.maxUploadSize "
    "500`, with NNSTUDIO_MAX_BYTES)",
)
CATEGORY_LEVELS = Limit(
    "categories",
    1000,
    None,
    "categories one column may have to be one-hot encoded: each becomes one input; a column with "
    "more is left out",
)
TARGET_CLASSES = Limit(
    "classes",
    200,
    None,
    "classes a classification target may have; with more, predict it as a number",
)
NETWORK_PARAMETERS = Limit(
    "parameters",
    # With Adam's two slots and float32 that is ~80 MB of weights and optimizer state, which
    # fits beside TensorFlow in a 1 GB host.
    5_000_000,
    None,
    "weights and biases of the largest network this studio trains",
)
NUMBER_MAGNITUDE = Limit(
    "magnitude",
    # Beyond this a column's variance overflows float64 and float32 inputs turn infinite: the
    # loss would become NaN with no word why.
    1e30,
    None,
    "the largest number a feature may hold (infinite values count as missing)",
)
EXPERIMENT_BYTES = Limit(
    "experiment file",
    1_000_000,
    None,
    "bytes of an experiment file loaded in the sidebar (one has a few kilobytes)",
)
MODEL_FILE_BYTES = Limit(
    "model file",
    200 * 2**20,
    None,
    "bytes of a model file imported on the Predict page",
)
LIMITS = (
    UPLOAD_BYTES,
    TABLE_CELLS,
    TABLE_COLUMNS,
    UPLOAD_MEGABYTES,
    CATEGORY_LEVELS,
    TARGET_CLASSES,
    NETWORK_PARAMETERS,
    NUMBER_MAGNITUDE,
    EXPERIMENT_BYTES,
    MODEL_FILE_BYTES,
)


# -------------------------------------------------------------------------------- workspaces


@dataclass(frozen=True, slots=True)
class Place:
    """A server setting that is a word, not a bound: where or how the server runs."""

    name: str
    default: str  # as the README shows it
    setting: str
    help: str

    def value(self) -> str:
        return os.environ.get(self.setting, "").strip()


HOSTED = Place(
    "hosted",
    "unset",
    "NNSTUDIO_HOSTED",
    "1 on a shared server: workspaces live in the temporary folder, and the quota, the expiry "
    "and the total cap below apply (a local install keeps everything, unbounded)",
)
STORE_HOME = Place(
    "home",
    "~/.nnstudio, hosted: <temp>/nnstudio",
    "NNSTUDIO_HOME",
    "the folder that holds the workspaces, one folder each under workspaces/",
)
WORKSPACE_BYTES = Limit(
    "workspace bytes",
    500 * 2**20,
    "NNSTUDIO_WORKSPACE_BYTES",
    "bytes one workspace may hold on a hosted server (its tables and its runs' files); a table "
    "or a run that would go past it is refused",
)
WORKSPACE_DAYS = Limit(
    "workspace days",
    7,
    "NNSTUDIO_WORKSPACE_DAYS",
    "days after its last opening that a workspace on a hosted server is removed",
)
STORE_BYTES = Limit(
    "store bytes",
    10 * 2**30,
    "NNSTUDIO_STORE_BYTES",
    "bytes all workspaces on a hosted server may hold together; past it, the least recently "
    "opened are removed first",
)
STORE = (HOSTED, STORE_HOME, WORKSPACE_BYTES, WORKSPACE_DAYS, STORE_BYTES)


def hosted() -> bool:
    """Whether this server is shared (`NNSTUDIO_HOSTED` set to 1, true or yes)."""
    return HOSTED.value().lower() in ("1", "true", "yes")


# --------------------------------------------------------------------------------------- jobs

QUEUED_PER_OWNER = Limit(
    "queued jobs",
    16,
    "NNSTUDIO_MAX_QUEUED",
    "jobs one workspace may have waiting in the queue (a full 12-rate sweep fits)",
)
JOB_SECONDS = Limit(
    "seconds per job",
    3600,
    "NNSTUDIO_JOB_SECONDS",
    "wall-time budget of one job: a training still going after it stops and keeps its best "
    "weights, as if Stop were pressed",
)
SWEEP_WORK = Limit(
    "trials × epochs × rows",
    50_000_000,
    "NNSTUDIO_MAX_SWEEP_WORK",
    "trials × epochs × rows one learning-rate sweep or capacity search may ask for",
)
CHECKPOINT_SECONDS = Limit(
    "seconds between checkpoints",
    5,
    "NNSTUDIO_CHECKPOINT_SECONDS",
    "a training saves its best weights at most this often (and when it ends), so a killed "
    "server loses at most these seconds",
)
WORKER_NICENESS = Limit(
    "niceness of workers",
    10,
    "NNSTUDIO_WORKER_NICE",
    "how much lower than the server's the CPU priority of a job's worker process is (1 to 19): "
    "a training takes every core it can, and the pages must stay quick meanwhile",
)
JOB_LIMITS = (QUEUED_PER_OWNER, JOB_SECONDS, SWEEP_WORK, CHECKPOINT_SECONDS, WORKER_NICENESS)


# ------------------------------------------------------------------------------- search space


@dataclass(frozen=True, slots=True)
class SearchRange:
    """What a network search (`nncore.run.search`) tries for one setting: numbers from `low` to
    `high` (on a log scale when `log`), or one of `choices`. A user may narrow it, never widen
    it; the setting's own rule in SETTINGS still bounds every value."""

    name: str
    help: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()


SEARCH_SPACE: dict[str, SearchRange] = {
    r.name: r
    for r in (
        SearchRange("hidden_layers", "How many hidden layers a trial has.", 1, 4),
        SearchRange("units", "Units of each hidden layer, tried per layer.", 8, 256, log=True),
        SearchRange(
            "activation",
            "The activation of every hidden layer of a trial.",
            choices=("relu", "elu", "gelu", "tanh"),
        ),
        SearchRange("dropout", "Dropout after every hidden layer of a trial.", 0.0, 0.5),
        SearchRange("l2", "The L2 penalty of every hidden layer.", 1e-6, 1e-2, log=True),
        SearchRange("optimizer", "How the weights are updated.", choices=("adam", "rmsprop")),
        SearchRange("learning_rate", "The optimizer's step size.", 1e-4, 3e-2, log=True),
        SearchRange("batch_size", "Rows per update.", choices=(16, 32, 64, 128, 256)),
    )
}
# How a search spends its budget: each trial trains at most SEARCH_EPOCHS epochs (early
# stopping as set), and the pruner judges no trial before SEARCH_WARMUP epochs nor before
# SEARCH_STARTUP trials have ended, as a median of fewer says little.
SEARCH_EPOCHS = 30
SEARCH_WARMUP = 3
SEARCH_STARTUP = 3
SEARCH_MAX_TRIALS = 200  # one search's trials at most: each is a run the workspace keeps
SEARCH_MAX_MINUTES = 240  # one search's wall time at most
# "Find me a network" (the Train page): a search of so many minutes for a table of up to so many
# rows (past the last row: the last minutes), then its best design trained to completion. Small
# tables train a trial in seconds, so a few minutes try dozens of designs; big ones need longer
# for as many.
FIND_MINUTES: tuple[tuple[int, int], ...] = ((2_000, 3), (20_000, 5), (200_000, 10))
FIND_MINUTES_PAST = 20


def find_minutes(rows: int) -> int:
    """The minutes "Find me a network" searches a table of `rows` rows for."""
    return next((minutes for most, minutes in FIND_MINUTES if rows <= most), FIND_MINUTES_PAST)


# ------------------------------------------------------------------------------ the validator


def _shown(value: Any) -> str:
    """`value` as the message quotes it: its repr, cut to about 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of the specs: its default, what it may be and what it does.

    The kind of value follows the default: a bool is true or false, an int a whole number, a
    float any number, a str one of `choices`. Numbers lie within `low`..`high`.
    """

    name: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, value: Any, where: str) -> None:
        """Raise a `ConfigError` naming `where`.`name`, the value and what is allowed."""
        path = f"{where}.{self.name}"
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: expected true or false, got {_shown(value)}.")
        elif isinstance(self.default, str):
            if not isinstance(value, str) or value not in self.choices:
                raise ConfigError(
                    f"{path}: {_shown(value)} is not one of {', '.join(map(repr, self.choices))}."
                )
        elif isinstance(self.default, int) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise ConfigError(f"{path}: expected a whole number, got {_shown(value)}.")
        elif not _is_number(value):
            raise ConfigError(f"{path}: expected a number, got {_shown(value)}.")
        elif not self.low <= value <= self.high:
            raise ConfigError(
                f"{path} must be between {self.low} and {self.high}, got {_shown(value)}."
            )


# ------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    output_activation: str
    one_unit_per_class: bool  # else one output unit
    losses: tuple[str, ...]  # the losses that fit, the default first
    help: str
    head_reason: str  # why the output layer is what it is; {positive} names the positive class

    def output_units(self, n_classes: int) -> int:
        return n_classes if self.one_unit_per_class else 1


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "regression",
            "linear",
            False,
            ("mse", "mae", "huber"),
            "predict a number",
            "a regression predicts any number, so nothing squeezes it.",
        ),
        Task(
            "binary",
            "sigmoid",
            False,
            ("binary_crossentropy",),
            "predict one of two classes",
            "the probability of {positive}, between 0 and 1.",
        ),
        Task(
            "multiclass",
            "softmax",
            True,
            ("sparse_categorical_crossentropy", "categorical_crossentropy"),
            "predict one of several classes",
            "one probability per class, together summing to 1.",
        ),
    )
}
LOSSES_BY_TASK: dict[str, tuple[str, ...]] = {name: t.losses for name, t in TASKS.items()}


# ------------------------------------------------------------------------------- activations


@dataclass(frozen=True, slots=True)
class Activation:
    name: str
    help: str
    saturates: bool = False  # the gradient nearly vanishes at large inputs
    can_die: bool = False  # a unit pushed below zero for every row stops learning
    keras: str = ""  # the name Keras writes into a saved model's config, when not `name`
    # The weights' initializer it needs, when not Keras' default glorot_uniform.
    initializer: str = ""

    @property
    def keras_name(self) -> str:
        return self.keras or self.name


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "relu",
            "0 below zero, the input above. Fast and the usual choice, but a unit pushed below "
            "zero for every row can *die* and stop learning.",
            can_die=True,
        ),
        Activation("leaky_relu", "keeps a small slope below zero, so no unit dies."),
        Activation("elu", "a smooth curve below zero instead of 0, so no unit dies."),
        Activation(
            "selu",
            "self-normalizing; keeps outputs near mean 0, variance 1 in deep stacks.",
            initializer="lecun_normal",
        ),
        Activation("gelu", "a smooth relu-like curve from modern networks."),
        Activation("swish", "a smooth relu-like curve from modern networks.", keras="silu"),
        Activation(
            "tanh",
            "−1…1; saturates at large inputs, where the gradient nearly vanishes, so deep stacks "
            "of it learn slowly.",
            saturates=True,
        ),
        Activation(
            "sigmoid",
            "0…1; saturates at large inputs, where the gradient nearly vanishes, so deep stacks "
            "of it learn slowly.",
            saturates=True,
        ),
        Activation("linear", "no bend; linear layers stacked are still one linear map."),
    )
}


# -------------------------------------------------------------------------------- optimizers


@dataclass(frozen=True, slots=True)
class Optimizer:
    name: str
    keras: str  # the class in keras.optimizers
    help: str
    momentum: bool = False  # takes a momentum
    nesterov: bool = False  # takes Nesterov momentum


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer(
            "sgd",
            "SGD",
            "plain stochastic gradient descent, the classic starting point; momentum and "
            "nesterov speed it up",
            momentum=True,
            nesterov=True,
        ),
        Optimizer("adam", "Adam", "adapts a step size per weight and works well untuned"),
        Optimizer("adamw", "AdamW", "adam with weight decay"),
        Optimizer(
            "rmsprop",
            "RMSprop",
            "divides each step by a running size of the gradients",
            momentum=True,
        ),
        Optimizer("adagrad", "Adagrad", "steps shrink for weights that were updated a lot"),
        Optimizer("nadam", "Nadam", "adam with Nesterov momentum"),
    )
}


# ------------------------------------------------------------------------------------ losses


@dataclass(frozen=True, slots=True)
class Loss:
    name: str
    keras: str  # the class in keras.losses
    help: str
    one_hot: bool = False  # takes one-hot targets rather than class indices

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(name for name, task in TASKS.items() if self.name in task.losses)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", "MeanSquaredError", "mean squared error: punishes large errors most"),
        Loss("mae", "MeanAbsoluteError", "mean absolute error: robust to outliers"),
        Loss("huber", "Huber", "squared for small errors, absolute for large ones"),
        Loss("binary_crossentropy", "BinaryCrossentropy", "for two classes with a sigmoid output"),
        Loss(
            "categorical_crossentropy",
            "CategoricalCrossentropy",
            "for several classes, targets one-hot encoded",
            one_hot=True,
        ),
        Loss(
            "sparse_categorical_crossentropy",
            "SparseCategoricalCrossentropy",
            "for several classes, targets as class indices",
        ),
    )
}


# ----------------------------------------------------------------------------------- metrics


@dataclass(frozen=True, slots=True)
class Metric:
    """A score: logged while training when it has a Keras metric for the task, else computed by
    the evaluation."""

    name: str
    label: str
    higher_is_better: bool
    help: str
    tasks: tuple[str, ...]
    # The Keras metric class that logs it, by loss name or else by task ("" for none).
    keras: tuple[tuple[str, str], ...] = ()
    # Arguments that class takes beside `name`, as (argument, value).
    keras_options: tuple[tuple[str, Any], ...] = ()

    def keras_class(self, task: str, loss: str) -> str:
        classes = dict(self.keras)
        return classes.get(loss) or classes.get(task, "")


_ALL = tuple(TASKS)
_CLASSES = ("binary", "multiclass")
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("loss", "loss", False, "what the training minimizes", _ALL),
        Metric(
            "mae",
            "mean absolute error",
            False,
            "the average distance from the truth, in the target's units",
            ("regression",),
            (("regression", "MeanAbsoluteError"),),
        ),
        Metric("mse", "mean squared error", False, "the average squared distance", ("regression",)),
        Metric(
            "rmse",
            "root mean squared error",
            False,
            "the square root of the mean squared error, in the target's units",
            ("regression",),
            (("regression", "RootMeanSquaredError"),),
        ),
        Metric(
            "r2",
            "R²",
            True,
            "share of the target's variance explained; 1 is perfect",
            ("regression",),
        ),
        Metric(
            "accuracy",
            "accuracy",
            True,
            "share of rows whose class is right",
            _CLASSES,
            (
                ("binary", "BinaryAccuracy"),
                ("multiclass", "SparseCategoricalAccuracy"),
                ("categorical_crossentropy", "CategoricalAccuracy"),
            ),
        ),
        Metric(
            "balanced_accuracy",
            "balanced accuracy",
            True,
            "the accuracy of each class, averaged: rare classes count as much as common ones",
            _CLASSES,
        ),
        Metric(
            "precision",
            "precision",
            True,
            "of the rows called positive, the share that are",
            _CLASSES,
        ),
        Metric("recall", "recall", True, "of the positive rows, the share found", _CLASSES),
        Metric("f1", "F1", True, "the harmonic mean of precision and recall", _CLASSES),
        Metric(
            "auc",
            "ROC AUC",
            True,
            "how well the scores rank positive rows above negative ones; 0.5 is chance",
            ("binary",),
            (("binary", "AUC"),),
        ),
        Metric(
            "roc_auc",
            "ROC AUC",
            True,
            "how well the scores rank positive rows above negative ones; 0.5 is chance",
            _CLASSES,
        ),
        Metric(
            "pr_auc",
            "PR AUC",
            True,
            "the area under the precision-recall curve: how well the scores find the positive "
            "rows without false alarms; chance is the share of positive rows, so it stays low "
            "for a model that misses a rare class",
            ("binary",),
            (("binary", "AUC"),),
            (("curve", "PR"),),
        ),
        Metric(
            "log_loss",
            "log loss",
            False,
            "the crossentropy of the predicted probabilities",
            _CLASSES,
        ),
        Metric(
            "brier",
            "Brier score",
            False,
            "the mean squared gap between the predicted probabilities and what happened (0 or "
            "1, per class); 0 is perfect, and only probabilities that can be trusted score low",
            _CLASSES,
        ),
    )
}


def higher_is_better(name: str) -> bool:
    """Whether a larger value of a logged or reported score is better; "val_" prefixes and
    names outside the table (losses) count as lower is better."""
    metric = METRICS.get(name.removeprefix("val_"))
    return metric is not None and metric.higher_is_better


def trained_metrics(task: str, loss: str) -> tuple[tuple[str, str], ...]:
    """(name, Keras class) of the metrics logged while training a `task` model with `loss`."""
    return tuple(
        (m.name, m.keras_class(task, loss))
        for m in METRICS.values()
        if task in m.tasks and m.keras_class(task, loss)
    )


def monitors(task: str) -> tuple[str, ...]:
    """The validation scores early stopping may follow for `task` (any loss)."""
    names = {"loss": None}
    for loss in TASKS[task].losses:
        names.update(dict.fromkeys(name for name, _ in trained_metrics(task, loss)))
    return tuple(f"val_{name}" for name in names)


@dataclass(frozen=True, slots=True)
class Rows:
    """A number of rows under which the studio cautions, with why."""

    name: str
    value: int
    help: str


# On 300 rows an accuracy near 0.8 is known to about ±0.05 (95% interval), on 100 rows ±0.08.
SMALL_EVALUATION = Rows(
    "small evaluation",
    300,
    "Scores measured on fewer than 300 rows are rough: a handful of other rows would move them "
    "by several points, so small differences between models (or thresholds) may be luck. A "
    "larger validation or test share, or more data, makes them firmer.",
)


def small_evaluation(rows: int) -> bool:
    """Whether scores measured on `rows` rows deserve the SMALL_EVALUATION caution."""
    return 0 < rows < SMALL_EVALUATION.value


# ----------------------------------------------------------------------------------- targets

# Whole-number targets with at most this many distinct values are classes, not quantities.
MAX_INTEGER_CLASSES = 10
# Words that name what a table is meant to predict, matched against the words of a column's name
# ("SalePrice" and "sale_price" hold "price"); "income" or "year" are left out on purpose: as
# often inputs as outcomes.
TARGET_WORDS = frozenset(
    {
        *("target", "label", "class", "y", "price", "outcome", "result", "response"),
        *("churn", "churned", "default", "survived", "diagnosis", "species", "quality"),
        *("fraud", "progression"),
    }
)
# Columns the Data page suggests as the target, best first; the user still picks one.
MAX_SUGGESTIONS = 3


# ------------------------------------------------------------------------------------- picks

# A trial's score is the best mean of this many consecutive epochs of its monitored validation
# score: a simple moving average, the usual way to smooth a noisy series. One lucky epoch is
# diluted by its two neighbours, so a run must be good for three epochs running. A mean rather
# than a median: the median of three ignores one epoch either way, so a curve that alternates
# low, high, low would keep its low. Three rather than more: a short sweep still has a window, and
# a run that stopped early soon after its best is not dragged down by the epochs it waited.
SMOOTHING_EPOCHS = 3
# A trial is unstable when, in the later half of its epochs, its validation loss rises to more
# than this many times the epoch before: settled training drifts, it does not jump. Falls are
# not counted (that is learning), nor the first half, where a loss may still move a lot.
UNSTABLE_RISE = 3.0
# Two scores tie when they differ by less than the better one's magnitude / sqrt(validation
# rows), times this: a mean over n rows wanders by about its spread / sqrt(n), and a loss's
# spread across rows is about its mean (a squared error's is √2 times it), so the band is about
# one standard error: 12% on 69 rows, 5% on 400, 1% on 10,000.
TIE_BAND = 1.0


# ----------------------------------------------------------------------------------- imbalance


@dataclass(frozen=True, slots=True)
class Share:
    """A share of rows from which the studio judges differently, with why."""

    name: str
    value: float
    help: str


IMBALANCED = Share(
    "imbalanced",
    0.20,
    "A binary target whose rarer class is under this share of the rows is imbalanced: a model "
    "that ignores that class still scores a high accuracy and a low loss, so training stops on, "
    "and Evaluate compares on, PR AUC, which only rises when the rare class is found.",
)
# PR AUC because Keras computes it per epoch on the validation rows (early stopping can follow
# it) and it needs no threshold; F1 and balanced accuracy depend on one, which is chosen after
# training.
IMBALANCED_MEASURE = "pr_auc"


def imbalanced(task: str, class_counts) -> bool:
    """Whether a `task` target with these rows per class (any order) is imbalanced."""
    counts = [int(c) for c in class_counts]
    total = sum(counts)
    return task == "binary" and total > 0 and min(counts) < IMBALANCED.value * total


def default_monitor(task: str, class_counts) -> str:
    """The validation score early stopping and the tunings should follow by default for a `task`
    target with these rows per class: the minority-aware one when it is imbalanced."""
    if imbalanced(task, class_counts):
        return f"val_{IMBALANCED_MEASURE}"
    return SETTINGS["monitor"].default


def compare_on(task: str, class_counts=()) -> str:
    """The score to compare the network and the baselines on by default (a key of
    `nncore.learn.evaluate.scores`): the minority-aware one for an imbalanced target, else the
    plainest (in the target's units, for a regression)."""
    if imbalanced(task, class_counts):
        return IMBALANCED_MEASURE
    return "mae" if task == "regression" else "accuracy"


# ----------------------------------------------------------------------------------- scalers


@dataclass(frozen=True, slots=True)
class Scaler:
    name: str
    sklearn: str  # the class in sklearn.preprocessing; "" for no scaling
    label: str
    help: str


SCALERS: dict[str, Scaler] = {
    s.name: s
    for s in (
        Scaler(
            "standard",
            "StandardScaler",
            "standard",
            "mean 0, standard deviation 1 (the usual choice)",
        ),
        Scaler("minmax", "MinMaxScaler", "min–max", "from 0 to 1"),
        Scaler(
            "robust",
            "RobustScaler",
            "robust",
            "median 0 and interquartile range 1, for columns with outliers",
        ),
        Scaler("none", "", "none", "the numbers as they are"),
    )
}


# ---------------------------------------------------------------------------------- settings

PENALTY = "A penalty on the size of this layer's weights, added to the loss: "
_SETTINGS = (
    # data
    Setting(
        "task",
        "auto",
        "what to predict; auto decides from the target column",
        choices=("auto", *TASKS),
    ),
    Setting("scaling", "standard", "how numeric columns are scaled", choices=tuple(SCALERS)),
    Setting(
        "validation_fraction",
        0.2,
        "Held out during training to watch for overfitting and to stop early.",
        0.05,
        0.5,
        0.05,
    ),
    Setting(
        "test_fraction",
        0.0,
        "Held out until the end for an honest final score; 0 skips the test set.",
        0.0,
        0.5,
        0.05,
    ),
    Setting(
        "scale_target",
        True,
        "Regression only: train on a standardized target and undo it in the model's last layer.",
    ),
    Setting(
        "folds",
        5,
        "Cross-validation: the rows are cut into this many parts; each is held out once while "
        "the network learns from the rest.",
        2,
        20,
        1,
    ),
    # one hidden layer
    Setting("units", 50, "Units of this hidden layer.", 1, 4096, 1),
    Setting("activation", "relu", "How each unit bends its input.", choices=tuple(ACTIVATIONS)),
    Setting(
        "dropout",
        0.0,
        "Share of this layer's outputs switched off at random while training, so the network "
        "cannot lean on any one unit; it fights overfitting.",
        0.0,
        0.9,
        0.05,
    ),
    Setting("l1", 0.0, PENALTY + "it pushes unhelpful weights to exactly 0.", 0.0, 1.0, 1e-4),
    Setting("l2", 0.0, PENALTY + "it keeps all weights small.", 0.0, 1.0, 1e-4),
    Setting(
        "batch_norm",
        False,
        "Normalize this layer's sums over each batch before the activation; it often steadies "
        "and speeds up the training of deeper networks.",
    ),
    # the network
    Setting("hidden_layers", 2, "Hidden layers of the network.", 0, 32, 1),
    Setting(
        "max_parameters",
        NETWORK_PARAMETERS.default,
        "The largest network this studio trains, in weights and biases.",
        1,
        NETWORK_PARAMETERS.default,
    ),
    # compile
    Setting("optimizer", "adam", "How the weights are updated.", choices=tuple(OPTIMIZERS)),
    Setting(
        "learning_rate",
        0.001,
        "How big a step each update takes. Too small and learning crawls; too large and the "
        "loss jumps about or becomes NaN. Try several, 0.0001 to 0.1 (the Tune page's "
        "learning-rate sweep does it).",
        1e-7,
        10.0,
    ),
    Setting(
        "momentum",
        0.0,
        "Keeps part of the last step, to roll through small bumps.",
        0.0,
        0.999,
        0.01,
    ),
    Setting("nesterov", False, "Looks ahead along the momentum before measuring the gradient."),
    Setting("loss", "auto", "What the training minimizes.", choices=("auto", *LOSSES)),
    # training
    Setting("epochs", 100, "Passes over the training rows.", 1, 10_000, 1),
    Setting(
        "batch_size",
        32,
        "Rows per update. Smaller batches give noisier, more frequent steps.",
        1,
        65_536,
        1,
    ),
    Setting(
        "early_stopping",
        True,
        "Stop when the validation score has not improved for `patience` epochs.",
    ),
    Setting(
        "monitor",
        "val_loss",
        "The validation score early stopping and 'best weights' follow.",
        # The validation scores first; a training score ("loss", "mae") may be followed too.
        choices=tuple(
            dict.fromkeys(
                name
                for prefix in ("val_", "")
                for task in TASKS
                for name in (prefix + m.removeprefix("val_") for m in monitors(task))
            )
        ),
    ),
    Setting("patience", 10, "Epochs without improvement before early stopping.", 0, 10_000, 1),
    Setting("min_delta", 0.0, "The least change that counts as an improvement.", 0.0, 1e12),
    Setting(
        "restore_best_weights",
        True,
        "At the end (or on Stop) go back to the epoch with the best validation score.",
    ),
    Setting(
        "reduce_lr_on_plateau",
        False,
        "Lower the learning rate when the validation score stalls.",
    ),
    Setting(
        "reduce_lr_factor", 0.5, "What the learning rate is multiplied by on a plateau.", 0.01, 0.99
    ),
    Setting(
        "reduce_lr_patience",
        5,
        "Epochs without improvement before the rate is lowered.",
        0,
        10_000,
        1,
    ),
    Setting(
        "class_weight",
        "none",
        "Weigh rare classes up so the network cannot ignore them.",
        choices=("none", "balanced"),
    ),
    Setting("seed", 42, "The same seed gives the same split, weights and scores.", 0, 2**31 - 1, 1),
)
SETTINGS: dict[str, Setting] = {s.name: s for s in _SETTINGS}
