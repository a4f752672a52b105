"""Show me the code: one experiment as a standalone Python script (pandas, scikit-learn, Keras).

The script follows the notes' steps in order (read, split, scale, specify, compile, fit with
validation and early stopping, evaluate, save, predict) with no `nncore` import, so a user can
read it, run it anywhere and change it. It makes the same choices the engine makes: the same
seeded and stratified split, the same scikit-learn preprocessing fitted on the training rows,
the same layers built in the same order after the same seed, and batches in the engine's order
(one `numpy` permutation per epoch from a generator seeded with the experiment's seed). On the
same data it trains the same network, to floating-point noise.

Column lists, date parts and class labels come from the run's `Schema`, which records what the
engine decided for this data (roles, the date parts, the classes in output order).
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from nncore import rules
from nncore.config import Experiment, LayerSpec, monitor_mode, output_units
from nncore.data.schema import MISSING_CATEGORY, Schema

LINE_LENGTH = 100


def script_name(schema: Schema) -> str:
    """A file name for the script, e.g. `train_price.py`."""
    stem = re.sub(r"[^0-9A-Za-z]+", "_", schema.target.name).strip("_").lower() or "model"
    return f"train_{stem}.py"


def render(experiment: Experiment, schema: Schema, data_name: str = "data.csv") -> str:
    """The script that reproduces `experiment` on the data `schema` was learned from."""
    task = schema.target.task
    loss = experiment.compile.resolved_loss(task)
    numeric = [c.name for c in schema.columns if c.role == "numeric"]
    dates = {c.name: list(c.datetime_parts) for c in schema.columns if c.role == "datetime"}
    categorical = [c.name for c in schema.columns if c.role == "categorical"]
    date_parts = [f"{name}__{part}" for name, parts in dates.items() for part in parts]
    if numeric + date_parts != [i.column for i in schema.numeric]:  # pragma: no cover
        raise AssertionError("the schema's numeric inputs are not its columns in order")
    parts = [
        _header(schema, data_name),
        _imports(experiment, schema),
        _constants(experiment, schema, data_name, numeric, dates, categorical),
        _helpers(numeric, dates, categorical),
        _read_and_split(experiment, task),
        _scale(experiment, schema, bool(numeric or date_parts), categorical),
        _specify(experiment, schema, loss),
        _fit(experiment, schema),
        _evaluate_save_predict(experiment, schema),
    ]
    return "\n".join(part for part in parts if part).rstrip() + "\n"


# ------------------------------------------------------------------------------------ parts


def _header(schema: Schema, data_name: str) -> str:
    # Names are quoted as literals even here: raw, a name holding three quotes would end the
    # docstring (and run what follows), and one holding a backslash would be a bad escape.
    # textwrap breaks only at spaces, never inside an escape.
    about = textwrap.fill(
        f"It predicts {_describe(schema.target.name)} from {_describe(data_name)}, step by "
        "step: read, split, scale, specify, compile, fit with validation "
        "and early stopping, evaluate, save, predict.",
        LINE_LENGTH,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return f'''"""Train the network designed in NN Studio, in plain pandas, scikit-learn and Keras.

{about}
It needs only pandas, scikit-learn and Keras (pip install pandas scikit-learn keras tensorflow).
Run it beside the data:

    python {script_name(schema)} {_describe(data_name)}

With the same data and seed it trains the same network as the studio.
"""
'''


def _imports(experiment: Experiment, schema: Schema) -> str:
    scaling = schema.scaling
    preprocessing = []
    if schema.categorical:
        preprocessing.append("OneHotEncoder")
    if scaling != "none" and schema.numeric:
        preprocessing.append(rules.SCALERS[scaling].sklearn)
    lines = [
        "import sys",
        "",
        "import keras",
        "import numpy as np",
        "import pandas as pd",
        "from sklearn.compose import ColumnTransformer",
        "from sklearn.impute import SimpleImputer",
        "from sklearn.model_selection import train_test_split",
        "from sklearn.pipeline import Pipeline",
    ]
    if preprocessing:
        lines.append(f"from sklearn.preprocessing import {', '.join(sorted(preprocessing))}")
    if _balanced(experiment, schema):
        lines.append("from sklearn.utils.class_weight import compute_class_weight")
    return "\n".join(lines) + "\n"


def _constants(
    experiment: Experiment,
    schema: Schema,
    data_name: str,
    numeric: list[str],
    dates: dict[str, list[str]],
    categorical: list[str],
) -> str:
    target = schema.target
    data = experiment.data
    lines = [
        _assign("DATA", f"sys.argv[1] if len(sys.argv) > 1 else {_literal(data_name)}"),
        _assign("TARGET", _literal(target.name)),
        "# The columns the studio used, by role; the others were left out.",
        _assign("NUMERIC", _literal(numeric)),
    ]
    if dates:
        lines.append("# Each date column becomes these numbers.")
        lines.append(_assign("DATES", _literal(dates)))
    lines.append(_assign("CATEGORICAL", _literal(categorical)))
    if target.task != "regression":
        keys = [_class_text(c) for c in target.classes]
        what = (
            f"the network outputs the probability of {_describe(keys[1])}"
            if target.task == "binary"
            else "output i of the network is the probability of CLASSES[i]"
        )
        lines.append(f"# The classes in the studio's order: {what}.")
        lines.append(_assign("CLASSES", _literal(keys)))
    lines.append(_assign("VALIDATION", _literal(data.validation_fraction)))
    if data.test_fraction:
        lines.append(_assign("TEST", _literal(data.test_fraction)))
    lines.append(_assign("SEED", _literal(experiment.seed)))
    return "\n".join(lines) + "\n"


def _helpers(numeric: list[str], dates: dict[str, list[str]], categorical: list[str]) -> str:
    body = []
    if numeric:
        body.append(
            """    for name in NUMERIC:
        numbers = pd.to_numeric(table[name], errors="coerce").astype("float64")
        columns[name] = numbers.replace([np.inf, -np.inf], np.nan)"""
        )
    if dates:
        body.append(
            """    for name, parts in DATES.items():
        dates = pd.to_datetime(table[name], format="mixed", errors="coerce", utc=True)
        dates = dates.dt.tz_localize(None)
        for part in parts:
            attribute = "day_of_week" if part == "dayofweek" else part
            columns[f"{name}__{part}"] = getattr(dates.dt, attribute).astype("float64")"""
        )
    if categorical:
        body.append(
            """    for name in CATEGORICAL:
        columns[name] = as_text(table[name])"""
        )
    return f'''
def as_text(values: pd.Series) -> pd.Series:
    """Values as text, missing kept missing; 1 and 1.0 both become "1"."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype(str).str.strip().astype(object).where(values.notna(), np.nan)


def features(table: pd.DataFrame) -> pd.DataFrame:
    """The columns the network learns from: numbers (dates as numbers) and categories as text."""
    columns = {{}}
{chr(10).join(body)}
    return pd.DataFrame(columns, index=table.index)
'''


def _read_and_split(experiment: Experiment, task: str) -> str:
    data = experiment.data
    if task == "regression":
        target = 'y = pd.to_numeric(frame[TARGET], errors="coerce").to_numpy("float64")'
        labels = "labels = None"
    else:
        dtype = "int32" if task == "multiclass" else "float32"
        target = f'y = as_text(frame[TARGET]).map(CLASSES.index).to_numpy("{dtype}")'
        parts = 3 if data.test_fraction else 2
        labels = f"""# Stratified by class, when every class has rows enough for each part.
counts = frame[TARGET].value_counts()
stratify = counts.min() >= {parts} and round(len(frame) * VALIDATION) >= len(counts)
labels = frame[TARGET].to_numpy() if stratify else None"""
    if data.test_fraction:
        split = (
            (
                "rest, test_rows = train_test_split("
                "rows, test_size=TEST, random_state=SEED, stratify=labels)\n"
            )
            + """train_rows, val_rows = train_test_split(
    rest,
    test_size=VALIDATION / (1 - TEST),
    random_state=SEED,
    stratify=None if labels is None else labels[rest],
)
train_rows, val_rows, test_rows = np.sort(train_rows), np.sort(val_rows), np.sort(test_rows)"""
        )
    else:
        split = """train_rows, val_rows = train_test_split(
    rows, test_size=VALIDATION, random_state=SEED, stratify=labels
)
train_rows, val_rows = np.sort(train_rows), np.sort(val_rows)"""
    return f"""
# 1. Read. Rows without a target cannot be learned from. (A file with ";" between values and
# decimal commas reads with pd.read_csv(DATA, sep=";", decimal=",").)
frame = pd.read_csv(DATA)
frame = frame[frame[TARGET].notna()]
x = features(frame)
{target}

# 2. Split, shuffled with the seed: validation rows to watch for overfitting and to stop early
# (Keras' own validation_split would take the file's last rows).
rows = np.arange(len(frame))
{labels}
{split}
"""


def _scale(experiment: Experiment, schema: Schema, numbers: bool, categorical: list[str]) -> str:
    parts = []
    if numbers:
        steps = ['("impute", SimpleImputer(strategy="median", keep_empty_features=True))']
        if schema.scaling != "none":
            steps.append(f'("scale", {rules.SCALERS[schema.scaling].sklearn}())')
        numeric_columns = "NUMERIC"
        if any(c.role == "datetime" for c in schema.columns):
            numeric_columns = (
                "NUMERIC + [f'{name}__{part}' for name, parts in DATES.items() for part in parts]"
            ).replace("'", '"')
        steps_text = "".join(f"                    {step},\n" for step in steps)
        parts.append(
            f"""        (
            "numeric",
            Pipeline(
                [
{steps_text}                ]
            ),
            {numeric_columns},
        ),"""
        )
    if categorical:
        parts.append(
            f"""        (
            "categorical",
            Pipeline(
                [
                    (
                        "impute",
                        SimpleImputer(strategy="constant", fill_value={_literal(MISSING_CATEGORY)}),
                    ),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]
            ),
            CATEGORICAL,
        ),"""
        )
    scale_what = {
        "standard": "to mean 0 and standard deviation 1",
        "minmax": "to the range 0 to 1",
        "robust": "by median and interquartile range",
        "none": "not at all (as chosen)",
    }[schema.scaling]
    scale_comment = (
        "3. Scale before fitting: missing numbers become the training median, numbers are "
        f"scaled {scale_what}, categories become one-hot columns. Fitted on the training rows "
        "only."
    )
    target = ""
    if schema.target.task == "regression":
        if experiment.data.scale_target:
            target = """
# The target is standardized too, so a target in the thousands trains as easily as one near 1.
y_center, y_scale = y[train_rows].mean(), y[train_rows].std()
y_scale = y_scale if y_scale > 0 else 1.0
"""
        else:
            target = "\ny_center, y_scale = 0.0, 1.0\n"
        target += 'y = ((y - y_center) / y_scale).astype("float32")\n'
    loss = experiment.compile.resolved_loss(schema.target.task)
    if rules.LOSSES[loss].one_hot:
        target += f"\n# {loss} takes one-hot targets.\n"
        target += 'y = np.eye(len(CLASSES), dtype="float32")[y]\n'
    text = f"""
{_comment(scale_comment)}
preprocess = ColumnTransformer(
    [
{chr(10).join(parts)}
    ]
)
x_train = preprocess.fit_transform(x.iloc[train_rows]).astype("float32")
x_val = preprocess.transform(x.iloc[val_rows]).astype("float32")
{target}"""
    return text


def _specify(experiment: Experiment, schema: Schema, loss: str) -> str:
    task = schema.target.task
    n_out = output_units(task, len(schema.target.classes))
    head = rules.TASKS[task].output_activation
    metrics = "".join(
        f'        keras.metrics.{keras_class}(name="{name}"'
        + "".join(f", {k}={_literal(v)}" for k, v in rules.METRICS[name].keras_options)
        + "),\n"
        for name, keras_class in rules.trained_metrics(task, loss)
    )
    layers = ["        keras.Input(shape=(x_train.shape[1],)),"]
    for spec in experiment.layers:
        layers.extend(_layer_lines(spec))
    layers.append(f'        keras.layers.Dense({n_out}, activation="{head}"),')
    optimizer = _optimizer(experiment)
    return f"""
# 4. Specify: the hidden layers as designed, the output layer from the task.
keras.utils.set_random_seed(SEED)
model = keras.Sequential(
    [
{chr(10).join(layers)}
    ]
)
model.summary()

# 5. Compile: the optimizer, its learning rate, the loss and the scores to watch.
model.compile(
    optimizer={optimizer},
    loss="{loss}",
    metrics=[
{metrics}    ],
)
"""


def _layer_lines(spec: LayerSpec) -> list[str]:
    options = []
    if initializer := rules.ACTIVATIONS[spec.activation].initializer:
        options.append(f'kernel_initializer="{initializer}"')
    regularizer = _regularizer(spec)
    if regularizer:
        options.append(f"kernel_regularizer={regularizer}")
    extra = "".join(f", {o}" for o in options)
    if spec.batch_norm:
        lines = [
            f"        keras.layers.Dense({spec.units}, use_bias=False{extra}),",
            "        keras.layers.BatchNormalization(),",
            f'        keras.layers.Activation("{spec.activation}"),',
        ]
    else:
        dense = f'keras.layers.Dense({spec.units}, activation="{spec.activation}"{extra}),'
        lines = [f"        {dense}"]
    if spec.dropout:
        lines.append(f"        keras.layers.Dropout({spec.dropout!r}),")
    return [_wrap_call(line) for line in lines]


def _regularizer(spec: LayerSpec) -> str:
    if spec.l1 and spec.l2:
        return f"keras.regularizers.L1L2(l1={spec.l1!r}, l2={spec.l2!r})"
    if spec.l1:
        return f"keras.regularizers.L1({spec.l1!r})"
    if spec.l2:
        return f"keras.regularizers.L2({spec.l2!r})"
    return ""


def _optimizer(experiment: Experiment) -> str:
    spec = experiment.compile
    args = [f"learning_rate={spec.learning_rate!r}"]
    optimizer = rules.OPTIMIZERS[spec.optimizer]
    if optimizer.momentum and spec.momentum:
        args.append(f"momentum={spec.momentum!r}")
    if optimizer.nesterov and spec.nesterov:
        args.append("nesterov=True")
    return f"keras.optimizers.{optimizer.keras}({', '.join(args)})"


def _fit(experiment: Experiment, schema: Schema) -> str:
    spec = experiment.training
    balanced = _balanced(experiment, schema)
    weights = ", weights" if balanced else ""
    mode = monitor_mode(spec.monitor)
    callbacks = ["keras.callbacks.TerminateOnNaN()"]
    if spec.early_stopping or spec.restore_best_weights:
        patience = spec.patience if spec.early_stopping else spec.epochs + 1
        callbacks.append(
            "keras.callbacks.EarlyStopping(\n"
            f"        monitor={_literal(spec.monitor)},\n"
            f'        mode="{mode}",\n'
            f"        patience={patience},\n"
            f"        min_delta={spec.min_delta!r},\n"
            f"        restore_best_weights={spec.restore_best_weights},\n"
            "    )"
        )
    if spec.reduce_lr_on_plateau:
        callbacks.append(
            "keras.callbacks.ReduceLROnPlateau(\n"
            f"        monitor={_literal(spec.monitor)},\n"
            f'        mode="{mode}",\n'
            f"        factor={spec.reduce_lr_factor!r},\n"
            f"        patience={spec.reduce_lr_patience},\n"
            "    )"
        )
    why = []
    if spec.early_stopping:
        why.append(
            _comment(
                f"Early stopping ends the fit when {_describe(spec.monitor)} has not improved for "
                f"{spec.patience} epochs"
                + ("; the best weights are kept." if spec.restore_best_weights else ".")
            )
        )
    elif spec.restore_best_weights:
        why.append("# No early stopping, but the weights of the best epoch are kept at the end.")
    weighting = ""
    if balanced:
        weighting = """
# Rare classes weigh more, so the network cannot ignore them.
present = np.unique(y[train_rows].astype(int))
balanced = compute_class_weight("balanced", classes=present, y=y[train_rows].astype(int))
class_weights = np.ones(max(len(CLASSES), 2), dtype="float32")
class_weights[present] = balanced
weights = class_weights[y[train_rows].astype(int)]
"""
    why_text = "".join(line + "\n" for line in why)
    callbacks_text = "".join(f"        {c},\n".replace("\n    ", "\n        ") for c in callbacks)
    return f'''
# 6. Fit, with validation after every epoch. Batches come in the studio's order: the rows
# shuffled with the seed at the start of every epoch.
class Batches(keras.utils.PyDataset):
    """Training rows in batches, in a new seeded order every epoch."""

    def __init__(self, *parts: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.parts, self.batch_size = parts, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(parts[0]))

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def on_epoch_begin(self) -> None:
        self.order = self.rng.permutation(len(self.order))

    def __getitem__(self, i: int):
        rows = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        return tuple(part[rows] for part in self.parts)

{weighting}
{why_text}history = model.fit(
    Batches(x_train, y[train_rows]{weights}, batch_size={spec.batch_size}, seed=SEED),
    validation_data=(x_val, y[val_rows]),
    epochs={spec.epochs},
    shuffle=False,  # Batches shuffles the rows itself
    callbacks=[
{callbacks_text}    ],
    verbose=2,
)
pd.DataFrame(history.history).to_csv("history.csv", index_label="epoch")
'''


def _evaluate_save_predict(experiment: Experiment, schema: Schema) -> str:
    task = schema.target.task
    test = ""
    if experiment.data.test_fraction:
        test = """
x_test = preprocess.transform(x.iloc[test_rows]).astype("float32")
print("test:", model.evaluate(x_test, y[test_rows], verbose=0, return_dict=True))
"""
    if task == "regression":
        evaluate_units = """
errors = (model.predict(x_val, verbose=0)[:, 0] - y[val_rows]) * y_scale
print(f"validation mean absolute error: {np.abs(errors).mean():.4g} (in {TARGET}'s units)")
"""
        show = """predicted = outputs[:, 0] * y_scale + y_center
print(pd.DataFrame({f"predicted {TARGET}": predicted}, index=new_rows.index))"""
    else:
        evaluate_units = ""
        if task == "binary":
            # The run's decision threshold (schema.json), a number the schema has checked.
            labels = (
                f"np.array(CLASSES)[(outputs[:, 0] >= {float(schema.threshold)!r}).astype(int)]"
            )
        else:
            labels = "np.array(CLASSES)[outputs.argmax(axis=1)]"
        show = f"""predicted = {labels}
print(pd.DataFrame({{f"predicted {{TARGET}}": predicted}}, index=new_rows.index))"""
    return f"""
# 7. Evaluate on the validation rows (with the best weights, when they were kept).
print("validation:", model.evaluate(x_val, y[val_rows], verbose=0, return_dict=True))
{evaluate_units}{test}
# 8. Save. The model takes the preprocessed numbers; new rows go through `preprocess` first.
model.save("model.keras")

# 9. Predict: new rows go through the same preprocessing, fitted on the training rows.
new_rows = pd.read_csv(DATA).head(5)
outputs = model.predict(preprocess.transform(features(new_rows)).astype("float32"), verbose=0)
{show}
"""


# ---------------------------------------------------------------------------------- helpers


def _balanced(experiment: Experiment, schema: Schema) -> bool:
    """Balanced class weights, which the engine applies to classification only."""
    return schema.target.task != "regression" and experiment.training.class_weight == "balanced"


def _class_text(value: Any) -> str:
    """A class as the script spells it (see its `as_text`): 1.0 as "1", text stripped."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _comment(text: str) -> str:
    return textwrap.fill(
        text, LINE_LENGTH, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
    )


def _describe(name: str) -> str:
    """`name` as a double-quoted literal, also for comments and docstrings: no newline, no quote
    and no backslash escapes from it. What cannot be seen is written as Python's escape (JSON's
    would write a character beyond U+FFFF as two halves, which Python reads as two characters).
    """
    text = json.dumps(name, ensure_ascii=False)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _literal(value: Any) -> str:
    """A Python literal for plain JSON-like values, quoted as ruff format writes them."""
    if isinstance(value, str):
        text = _describe(value)
        if value.count('"') > value.count("'"):  # fewer escapes in single quotes, as ruff picks
            return "'" + text[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        return text
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {value!r}")  # pragma: no cover


def _assign(name: str, literal: str) -> str:
    """`NAME = literal`, split one item a line (as ruff format would) when it is too long."""
    line = f"{name} = {literal}"
    if len(line) <= LINE_LENGTH or literal[0] not in "[{":
        return line
    return f"{name} = {_explode(literal)}"


def _explode(literal: str) -> str:
    """A long list or dict literal, one item a line with a trailing comma."""
    items = _split_items(literal[1:-1])
    inner = "".join(f"    {item},\n" for item in items)
    return f"{literal[0]}\n{inner}{literal[-1]}"


def _split_items(text: str) -> list[str]:
    """The top-level comma-separated items of a literal's inside, strings kept whole."""
    items, depth, start, quote, escaped = [], 0, 0, "", False
    for i, char in enumerate(text):
        if quote:
            if char == quote and not escaped:
                quote = ""
            escaped = char == "\\" and not escaped
            continue
        if char in "\"'":
            quote, escaped = char, False
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        items.append(text[start:].strip())
    return items


def _wrap_call(line: str) -> str:
    """A layer line over the line length, its arguments one a line."""
    if len(line) <= LINE_LENGTH:
        return line
    indent = line[: len(line) - len(line.lstrip())]
    head, _, rest = line.strip().partition("(")
    args = _split_items(rest[: -len("),")])
    inner = "".join(f"{indent}    {a},\n" for a in args)
    return f"{indent}{head}(\n{inner}{indent}),"
