"""Plotly figures of the studio: training curves, the architecture, and the evaluation charts.

Every function returns a plain `go.Figure`; the pages only show them. This module imports
neither Streamlit nor TensorFlow: the Streamlit server process draws these figures and must
stay free of both. All figures share one calm look (`plotly_white` cut to flat charts, the same
colours, titles and hover text that name what is shown).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np

# Plotly's validators look pandas up in `sys.modules`, where a pandas another thread is still
# importing is half made ("has no attribute 'Series'"). Importing it here waits for it whole.
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from nncore import rules
from nncore.config import LayerSpec, layer_parameters
from nncore.data.schema import decimals_of


def _calm_template() -> go.layout.Template:
    """Plotly's `plotly_white`, cut to the parts the flat charts here read.

    Every figure holds a copy of its template: the whole of `plotly_white` (3-D scenes, maps,
    two dozen trace kinds) cost a live page about 10 ms a figure to copy and check, a third of
    the time it takes to draw the Train page's charts again after a reload.
    """
    white = pio.templates["plotly_white"]
    layout = white.layout.to_plotly_json()
    data = white.data.to_plotly_json()
    flat = ("autotypenumbers", "colorway", "font", "hovermode", "hoverlabel", "paper_bgcolor")
    flat += ("plot_bgcolor", "coloraxis", "colorscale", "xaxis", "yaxis", "title")
    flat += ("shapedefaults", "annotationdefaults")
    return go.layout.Template(
        layout={key: layout[key] for key in flat},
        data={kind: data[kind] for kind in ("scatter", "bar", "heatmap")},
    )


TEMPLATE = _calm_template()
TRAINING_COLOR = "#4C78A8"
VALIDATION_COLOR = "#F58518"
ACCENT_COLOR = "#54A24B"
MUTED_COLOR = "#9AA0A6"
# One colour per class for the per-class curves (Plotly's "D3" palette, which prints well).
CLASS_COLORS = (
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
)
MAX_SCATTER_POINTS = 5000

_NOT_METRICS = frozenset({"epoch", "learning_rate"})


def metric_label(name: str) -> str:
    """A readable name for a logged metric: "rmse" -> "root mean squared error"."""
    metric = rules.METRICS.get(name)
    return metric.label if metric else name.replace("_", " ")


def _lower_is_better(name: str) -> bool:
    return not rules.higher_is_better(name)


def _user_text(value: object) -> str:
    """A name from the user's data or runs (a column, a class, the target, a run) as a figure
    may show it: Plotly renders a subset of HTML in titles, labels, legends and hover text,
    links included, so its markup is escaped and shows as typed."""
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str, **extra) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        font={"size": 13},
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        hoverlabel={"bgcolor": "white"},
        **extra,
    )
    return fig


# --- training -----------------------------------------------------------------------------------


def _log_axis(values: Sequence[float | None]) -> dict:
    """A log axis for `values` whose every tick has a readable label: powers of ten (10⁻³) when
    they span a decade or more, else plain numbers at 1, 2, 5 (or every digit) times a power of
    ten; Plotly's own ticks label the digits between powers with bare 2s and 5s."""
    shown = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    axis = {"type": "log", "exponentformat": "power"}
    if not shown or max(shown) / min(shown) >= 10:
        return {**axis, "dtick": 1}
    low, high = min(shown), max(shown)
    powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for digits in ((1, 2, 5), range(1, 10)):
        ticks = [
            d * 10.0**k for k in powers for d in digits if low / 1.1 <= d * 10.0**k <= high * 1.1
        ]
        if len(ticks) >= 3:
            break
    return {
        **axis,
        "tickvals": ticks,
        "ticktext": [np.format_float_positional(t, precision=6, trim="-") for t in ticks],
    }


def metric_names(history: Sequence[dict[str, float]]) -> list[str]:
    """The base metrics logged in `history`, loss first, then in the order they first appear.

    Validation keys count by their base name ("val_mae" -> "mae"); "epoch" and "learning_rate"
    are not metrics.
    """
    names: dict[str, None] = {}
    for logs in history:
        for key in logs:
            base = key.removeprefix("val_")
            if base not in _NOT_METRICS:
                names.setdefault(base)
    return sorted(names, key=lambda name: name != "loss")  # stable: keeps first-seen order


def training_curves(
    history: Sequence[dict[str, float]],
    metric: str = "loss",
    *,
    best_epoch: int | None = None,
    stopped_epoch: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """`metric` per epoch on the training and validation rows.

    `history` holds one log dict per epoch; the x axis is the 1-based epoch. `best_epoch` and
    `stopped_epoch` are 0-based positions in `history` (as training reports them): the best
    epoch gets a dashed line and a marker on the validation curve, early stopping a dotted
    line. Redrawn every second while a model trains, so it does no more than draw.
    """
    label = metric_label(metric)
    fig = go.Figure()
    _layout(
        fig,
        title if title is not None else f"{label[:1].upper()}{label[1:]} per epoch",
        xaxis={"title": {"text": "epoch"}, "rangemode": "tozero"},
        yaxis={"title": {"text": label}},
        # Below the plot: above it, the legend collides with the title in narrow columns.
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        uirevision=metric,  # keep the user's zoom while the figure is redrawn
    )
    fig.update_layout(margin_b=90)
    if not history:
        return _waiting(fig)

    epochs = list(range(1, len(history) + 1))
    train = [logs.get(metric) for logs in history]
    val = [logs.get(f"val_{metric}") for logs in history]
    if all(v is None for v in train) and all(v is None for v in val):
        raise ValueError(
            f"The history has no {metric!r}; it logs {', '.join(metric_names(history))}."
        )
    mode = "lines+markers" if len(history) <= 30 else "lines"
    curves = [("training", train, TRAINING_COLOR)]
    if any(v is not None for v in val):
        curves.append(("validation", val, VALIDATION_COLOR))
    for name, values, color in curves:
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=values,
                name=name,
                mode=mode,
                line={"color": color, "width": 2},
                marker={"size": 5},
                hovertemplate=f"epoch %{{x}}<br>{name} {label} %{{y:.4g}}<extra></extra>",
            )
        )

    finite = [v for _, values, _ in curves for v in values if v is not None and math.isfinite(v)]
    if _lower_is_better(metric) and finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        fig.update_yaxes(_log_axis(finite), title_text=f"{label} (log scale)")

    if best_epoch is not None and 0 <= best_epoch < len(history):
        x = best_epoch + 1
        marked = val if len(curves) == 2 else train
        _mark_epoch(fig, x, f"best epoch {x}", "dash", ACCENT_COLOR, "top left")
        if marked[best_epoch] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[x],
                    y=[marked[best_epoch]],
                    name=f"best epoch {x}",
                    mode="markers",
                    marker={"size": 12, "color": ACCENT_COLOR, "symbol": "star"},
                    hovertemplate=f"best epoch %{{x}}<br>{label} %{{y:.4g}}<extra></extra>",
                )
            )
    if stopped_epoch is not None and 0 <= stopped_epoch < len(history):
        _mark_epoch(fig, stopped_epoch + 1, "early stop", "dot", MUTED_COLOR, "top right")
    return fig


def _mark_epoch(fig: go.Figure, x: int, text: str, dash: str, color: str, side: str) -> None:
    """A vertical line at epoch `x` with `text` at its top, on the `side` of the line."""
    fig.add_vline(
        x=x,
        line={"dash": dash, "color": color, "width": 1.5},
        annotation={
            "text": text,
            "font": {"color": color, "size": 12},
            "xshift": -4 if side == "top left" else 4,
        },
        annotation_position=side,
    )


# --- architecture -------------------------------------------------------------------------------


def architecture(
    n_inputs: int,
    layers: Sequence[LayerSpec],
    task: str,
    n_outputs: int,
    input_label: str = "inputs",
) -> go.Figure:
    """The network left to right: inputs, one block per hidden layer, the output layer.

    Block heights grow with log(units); each hidden block names its activation and shows
    badges for dropout, L1/L2 and batch normalization. Hovering a block shows its parameters;
    the title gives the total.
    """
    if task not in rules.TASKS:
        raise ValueError(f"task must be one of {', '.join(rules.TASKS)}, got {task!r}.")
    layers = tuple(layers)
    params = layer_parameters(n_inputs, layers, n_outputs)
    total = sum(params)

    blocks = [(_user_text(input_label), n_inputs, "", None, None)]
    for i, spec in enumerate(layers):
        blocks.append((f"hidden {i + 1}", spec.units, spec.activation, spec, params[i]))
    blocks.append(("output", n_outputs, rules.TASKS[task].output_activation, None, params[-1]))

    crowded = len(blocks) > 12
    # Past the room of five, a block is narrower than "hidden 1" or "dropout 0.2" on one line.
    narrow = len(blocks) > 5
    font = 9 if len(blocks) > 20 else 11 if crowded else 12 if narrow else 13
    widest = max(units for _, units, *_ in blocks)
    tallest = math.log2(widest + 1)
    width = 0.55
    shapes, notes = [], []
    centers_x, hover = [], []
    for i, (name, units, activation, spec, count) in enumerate(blocks):
        half = 0.15 + 0.85 * math.log2(units + 1) / tallest  # log-scaled, never flat
        kind = "input" if i == 0 else "output" if i == len(blocks) - 1 else "hidden"
        fill, line = {
            "input": ("#E8EEF6", TRAINING_COLOR),
            "hidden": ("#DCE6F2", TRAINING_COLOR),
            "output": ("#FDEBD3", VALIDATION_COLOR),
        }[kind]
        shapes.append(
            {
                "type": "rect",
                "name": name,
                "x0": i - width / 2,
                "x1": i + width / 2,
                "y0": -half,
                "y1": half,
                "line": {"color": line, "width": 1.5},
                "fillcolor": fill,
                "layer": "below",
            }
        )
        if i:
            notes.append(
                {
                    "x": i - width / 2,
                    "y": 0,
                    "ax": i - 1 + width / 2,
                    "ay": 0,
                    "xref": "x",
                    "yref": "y",
                    "axref": "x",
                    "ayref": "y",
                    "text": "",
                    "showarrow": True,
                    "arrowhead": 2,
                    "arrowsize": 1,
                    "arrowwidth": 1.2,
                    "arrowcolor": MUTED_COLOR,
                }
            )
        notes.append(_text(i, 0, f"<b>{units}</b>", font, "middle"))
        if crowded and kind == "hidden":
            caption = [str(i)]
        else:
            caption = [name.replace(" ", "<br>", 1) if narrow else name]
        if activation:
            caption.append(activation)
        caption += _badges(spec, short=narrow)
        notes.append(_text(i, -half - 0.05, "<br>".join(caption), font - 1, "top"))
        centers_x.append(i)
        what = "features" if kind == "input" else "units"
        detail = [f"<b>{name}</b>", f"{units:,} {what}"]
        if activation:
            detail.append(f"activation {activation}")
        detail += _badges(spec)
        if count is not None:
            detail.append(f"{count:,} parameters")
        hover.append("<br>".join(detail))

    fig = go.Figure(
        go.Scatter(
            x=centers_x,
            y=[0] * len(blocks),
            mode="markers",
            name="blocks",
            marker={"size": 30, "color": "rgba(0,0,0,0)", "symbol": "square"},
            customdata=[0 if c is None else c for *_, c in blocks],
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
        )
    )
    n_hidden = len(layers)
    pad = max(0, 5 - len(blocks)) / 2
    return _layout(
        fig,
        f"{n_hidden} hidden layer{'s' if n_hidden != 1 else ''} · {total:,} parameters",
        shapes=shapes,
        annotations=notes,
        # Few blocks are centred in the room of five, so that they do not grow wide.
        xaxis={
            "visible": False,
            "range": [-0.6 - pad, len(blocks) - 0.4 + pad],
            "fixedrange": True,
        },
        yaxis={"visible": False, "range": [-2.2, 1.15], "fixedrange": True},
        height=340,
        showlegend=False,
        hoverdistance=60,  # the blocks are wider than the default 20 pixels
    )


def _badges(spec: LayerSpec | None, short: bool = False) -> list[str]:
    """Dropout, L1/L2 and batch normalization of a hidden layer; `short` for crowded stacks."""
    if spec is None:
        return []
    badges = []
    if spec.dropout:
        badges.append(f"D {spec.dropout:g}" if short else f"dropout {spec.dropout:g}")
    if spec.l1:
        badges.append("L1" if short else f"L1 {spec.l1:g}")
    if spec.l2:
        badges.append("L2" if short else f"L2 {spec.l2:g}")
    if spec.batch_norm:
        badges.append("BN" if short else "batch norm")
    return badges


def _text(x: float, y: float, text: str, size: int, yanchor: str) -> dict:
    return {
        "x": x,
        "y": y,
        "xref": "x",
        "yref": "y",
        "text": text,
        "showarrow": False,
        "yanchor": yanchor,
        "font": {"size": size},
    }


# --- evaluation ---------------------------------------------------------------------------------


def confusion_matrix(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], normalize: bool = False
) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes.

    With `normalize`, cells show the share of each true class (rows sum to 100%), and the
    colours follow those shares; the counts stay in the cells and the hover text.
    """
    counts = np.asarray(matrix, dtype=int)
    labels = [_user_text(label) for label in labels]
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(
            f"A confusion matrix for {len(labels)} classes must be {len(labels)}x{len(labels)}, "
            f"got shape {counts.shape}."
        )
    row_totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    if normalize:
        z = shares.tolist()
        text = [
            [f"{s:.0%}<br>({c:,})" for s, c in zip(rs, rc, strict=True)]
            for rs, rc in zip(shares, counts, strict=True)
        ]
    else:
        z = counts.tolist()
        text = [[f"{c:,}" for c in row] for row in counts]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            customdata=np.dstack([counts, shares]).tolist(),
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else max(int(counts.max(initial=0)), 1),
            colorbar={"title": {"text": "share of row" if normalize else "rows"}},
            hovertemplate=(
                "true %{y}<br>predicted %{x}<br>%{customdata[0]:,} rows "
                "(%{customdata[1]:.1%} of true %{y})<extra></extra>"
            ),
        )
    )
    return _layout(
        fig,
        "Confusion matrix" + (" (share of each true class)" if normalize else ""),
        xaxis={"title": {"text": "predicted"}, "type": "category", "showgrid": False},
        yaxis={
            "title": {"text": "true"},
            "type": "category",
            "autorange": "reversed",
            "showgrid": False,
        },
    )


def roc_curves(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence,
    threshold: float | None = None,
) -> go.Figure:
    """ROC curves: the positive class (`classes[1]`) for two classes, else one per class.

    `y_true` holds class indices and `probabilities` one column per class (a single column,
    or a 1-D array, is read as the positive class's probability). `threshold` marks the point
    reached by predicting the positive class at p >= threshold (two classes only). The AUC
    of each curve is in the legend.
    """
    from sklearn import metrics as skm

    y, p = _class_inputs(y_true, probabilities, classes)
    fig = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            name="chance",
            mode="lines",
            line={"dash": "dash", "color": MUTED_COLOR, "width": 1},
            hoverinfo="skip",
        )
    )
    for color, name, positive, score in _one_vs_rest(y, p, classes):
        fpr, tpr, cut = skm.roc_curve(positive, score)
        area = skm.auc(fpr, tpr)
        fig.add_trace(
            go.Scatter(
                x=fpr,
                y=tpr,
                name=f"{name} (AUC {area:.3f})",
                mode="lines",
                line={"color": color, "width": 2},
                text=_threshold_text(cut),
                hovertemplate=(
                    f"{name}<br>false positive rate %{{x:.3f}}<br>true positive rate "
                    "%{y:.3f}<br>%{text}<extra></extra>"
                ),
            )
        )
        if threshold is not None and p.shape[1] == 2:
            predicted = score >= threshold
            point = (predicted[~positive].mean(), predicted[positive].mean())
            fig.add_trace(_threshold_marker(threshold, *point, "false positive rate", "recall"))
    _note_skipped(fig, y, classes)
    return _layout(
        fig,
        "ROC curve" if p.shape[1] == 2 else "ROC curves",
        title_subtitle_text=None if p.shape[1] == 2 else "each class against the rest",
        margin_t=80,
        xaxis={"title": {"text": "false positive rate"}, "range": [-0.01, 1.01]},
        yaxis={"title": {"text": "true positive rate (recall)"}, "range": [-0.01, 1.01]},
        legend={"x": 0.98, "xanchor": "right", "y": 0.02, "yanchor": "bottom"},
    )


def precision_recall_curves(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence,
    threshold: float | None = None,
) -> go.Figure:
    """Precision against recall, like `roc_curves`; the legend gives the average precision.

    For two classes the dotted line is the precision of guessing (the positive rate).
    """
    from sklearn import metrics as skm

    y, p = _class_inputs(y_true, probabilities, classes)
    fig = go.Figure()
    for color, name, positive, score in _one_vs_rest(y, p, classes):
        precision, recall, cut = skm.precision_recall_curve(positive, score)
        average = skm.average_precision_score(positive, score)
        fig.add_trace(
            go.Scatter(
                x=recall,
                y=precision,
                name=f"{name} (AP {average:.3f})",
                mode="lines",
                line={"color": color, "width": 2, "shape": "hv"},
                text=_threshold_text(np.append(cut, np.inf)),
                hovertemplate=(
                    f"{name}<br>recall %{{x:.3f}}<br>precision %{{y:.3f}}<br>%{{text}}"
                    "<extra></extra>"
                ),
            )
        )
        if p.shape[1] == 2:
            rate = positive.mean()
            fig.add_trace(
                go.Scatter(
                    x=[0, 1],
                    y=[rate, rate],
                    name=f"chance ({rate:.2f})",
                    mode="lines",
                    line={"dash": "dot", "color": MUTED_COLOR, "width": 1},
                    hoverinfo="skip",
                )
            )
            if threshold is not None:
                predicted = score >= threshold
                hits = (predicted & positive).sum()
                point = (
                    hits / positive.sum(),
                    hits / predicted.sum() if predicted.any() else 1.0,
                )
                fig.add_trace(_threshold_marker(threshold, *point, "recall", "precision"))
    _note_skipped(fig, y, classes)
    return _layout(
        fig,
        "Precision and recall",
        # A title as long as the detail is clipped in a half-width column: it goes below.
        title_subtitle_text=None if p.shape[1] == 2 else "each class against the rest",
        margin_t=80,
        xaxis={"title": {"text": "recall"}, "range": [-0.01, 1.01]},
        yaxis={"title": {"text": "precision"}, "range": [-0.01, 1.05]},
        legend={"x": 0.02, "xanchor": "left", "y": 0.02, "yanchor": "bottom"},
    )


def _class_inputs(y_true, probabilities, classes) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(probabilities, dtype=float)
    if p.ndim == 1 or p.shape[1] == 1:
        p = p.reshape(-1)
        p = np.column_stack([1 - p, p])
    if p.shape != (len(y), len(classes)):
        raise ValueError(
            f"Expected probabilities of shape ({len(y)}, {len(classes)}) for {len(y)} rows and "
            f"{len(classes)} classes, got {p.shape}."
        )
    return y, p


def _one_vs_rest(y: np.ndarray, p: np.ndarray, classes: Sequence):
    """(colour, class name, is-this-class, its probability) for each class with a curve.

    Two classes give one curve, of the positive class; a class needs rows of its own and rows
    of others among `y` to have a curve at all.
    """
    ks = [1] if p.shape[1] == 2 else range(p.shape[1])
    for k in ks:
        positive = y == k
        if positive.any() and not positive.all():
            yield CLASS_COLORS[k % len(CLASS_COLORS)], _user_text(classes[k]), positive, p[:, k]


def _note_skipped(fig: go.Figure, y: np.ndarray, classes: Sequence) -> None:
    ks = [1] if len(classes) == 2 else range(len(classes))
    skipped = [_user_text(classes[k]) for k in ks if (y == k).all() or not (y == k).any()]
    if skipped:
        fig.add_annotation(
            text=f"no curve for {', '.join(skipped)}: needs rows of it and of other classes",
            x=0.5,
            y=1.0,
            xref="paper",
            yref="paper",
            yanchor="bottom",
            showarrow=False,
            font={"color": MUTED_COLOR, "size": 12},
        )


def _threshold_text(cuts: np.ndarray) -> list[str]:
    return [f"p ≥ {c:.3f}" if np.isfinite(c) else "nothing predicted positive" for c in cuts]


def _threshold_marker(threshold: float, x: float, y: float, x_name: str, y_name: str):
    return go.Scatter(
        x=[float(x)],
        y=[float(y)],
        name=f"threshold {threshold:g}",
        mode="markers",
        marker={"size": 12, "color": "black", "symbol": "circle-open", "line": {"width": 2}},
        hovertemplate=(
            f"threshold {threshold:g}<br>{x_name} %{{x:.3f}}<br>{y_name} %{{y:.3f}}<extra></extra>"
        ),
    )


def _sample(n: int, limit: int = MAX_SCATTER_POINTS) -> np.ndarray:
    """Row positions to draw: all of them, or `limit` picked the same way every time."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def _written_as(actual: np.ndarray) -> str:
    """A d3 number format for values of the target `actual` holds: as many decimals as it is
    written with (whole prices show no decimals), else four significant digits."""
    decimals = decimals_of(actual)
    return f",.{decimals}f" if decimals is not None else ".4g"


def _finite_pairs(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(y_true, dtype=float).reshape(-1)
    predicted = np.asarray(y_pred, dtype=float).reshape(-1)
    if actual.shape != predicted.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(actual)} and {len(predicted)}."
        )
    keep = np.isfinite(actual) & np.isfinite(predicted)
    return actual[keep], predicted[keep]


def _shown(n_shown: int, n: int) -> str | None:
    return f"{n_shown:,} of {n:,} rows drawn" if n_shown < n else None


def predicted_vs_actual(y_true: np.ndarray, y_pred: np.ndarray, target: str) -> go.Figure:
    """Each row's prediction against its actual value, beside the line of perfect predictions.

    R² (in the title) is computed on all rows; at most 5,000 of them are drawn, the same ones
    every time.
    """
    from sklearn import metrics as skm

    target = _user_text(target)
    actual, predicted = _finite_pairs(y_true, y_pred)
    r2 = skm.r2_score(actual, predicted) if len(actual) > 1 else float("nan")
    rows = _sample(len(actual))
    written = _written_as(actual)
    fig = go.Figure(
        go.Scatter(
            x=actual[rows],
            y=predicted[rows],
            name="rows",
            mode="markers",
            marker={"size": 5, "color": TRAINING_COLOR, "opacity": 0.5},
            hovertemplate=(
                f"actual {target} %{{x:{written}}}<br>predicted %{{y:{written}}}<extra></extra>"
            ),
        )
    )
    if len(actual):
        low = float(min(actual.min(), predicted.min()))
        high = float(max(actual.max(), predicted.max()))
        fig.add_trace(
            go.Scatter(
                x=[low, high],
                y=[low, high],
                name="perfect prediction",
                mode="lines",
                line={"dash": "dash", "color": MUTED_COLOR, "width": 1},
                hoverinfo="skip",
            )
        )
    return _layout(
        fig,
        f"Predicted vs actual {target} · R² {r2:.3f}",
        title_subtitle_text=_shown(len(rows), len(actual)),
        xaxis={"title": {"text": f"actual {target}"}},
        yaxis={"title": {"text": f"predicted {target}"}},
        legend={"x": 0.02, "xanchor": "left", "y": 0.98, "yanchor": "top"},
    )


def residuals(y_true: np.ndarray, y_pred: np.ndarray, target: str) -> go.Figure:
    """Residuals (actual - predicted) against the prediction, with their histogram beside.

    The scatter draws at most 5,000 rows; the histogram counts all of them.
    """
    target = _user_text(target)
    actual, predicted = _finite_pairs(y_true, y_pred)
    errors = actual - predicted
    rows = _sample(len(errors))
    written = _written_as(actual)
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, column_widths=[0.78, 0.22], horizontal_spacing=0.02
    )
    fig.add_trace(
        go.Scatter(
            x=predicted[rows],
            y=errors[rows],
            name="rows",
            mode="markers",
            marker={"size": 5, "color": TRAINING_COLOR, "opacity": 0.5},
            hovertemplate=f"predicted %{{x:{written}}}<br>residual %{{y:{written}}}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if len(errors):
        counts, edges = np.histogram(errors, bins=min(40, max(5, len(errors) // 10)))
        fig.add_trace(
            go.Bar(
                x=counts,
                y=(edges[:-1] + edges[1:]) / 2,
                width=np.diff(edges),
                orientation="h",
                name="residuals",
                marker={"color": TRAINING_COLOR, "opacity": 0.7},
                customdata=np.column_stack([edges[:-1], edges[1:]]),
                hovertemplate=(
                    "residual %{customdata[0]:.4g} to %{customdata[1]:.4g}<br>%{x:,} rows"
                    "<extra></extra>"
                ),
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=0, line={"dash": "dash", "color": MUTED_COLOR, "width": 1})
    fig.update_xaxes(title_text=f"predicted {target}", row=1, col=1)
    fig.update_xaxes(title_text="rows", row=1, col=2)
    fig.update_yaxes(title_text=f"residual (actual − predicted {target})", row=1, col=1)
    return _layout(
        fig,
        f"Residuals of {target}",
        title_subtitle_text=_shown(len(rows), len(errors)),
        showlegend=False,
        bargap=0.05,
    )


def baseline_comparison(metrics: dict, metric: str) -> go.Figure:
    """The network's `metric` beside the baselines' on the same rows.

    `metrics` is one part of a run's metrics, such as `metrics["validation"]`:
    `{"network": {...scores...}, "baselines": {"dummy (mean)": {...}, ...}}`.
    """
    network = metrics.get("network", {})
    if metric not in network:
        known = [k for k, v in network.items() if isinstance(v, int | float)]
        raise ValueError(f"No {metric!r} among the network's scores; it has {', '.join(known)}.")
    models = {"network": network, **metrics.get("baselines", {})}
    names = list(models)
    values = [_number(scores.get(metric)) for scores in models.values()]
    label = metric_label(metric)
    better = "lower" if _lower_is_better(metric) else "higher"
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker={"color": [VALIDATION_COLOR if n == "network" else MUTED_COLOR for n in names]},
            text=["n/a" if math.isnan(v) else f"{v:.4g}" for v in values],
            textposition="auto",
            hovertemplate=f"%{{y}}<br>{label} %{{x:.4g}}<extra></extra>",
        )
    )
    return _layout(
        fig,
        f"{label[:1].upper()}{label[1:]}: the network against baselines",
        title_subtitle_text=f"{better} is better",
        xaxis={"title": {"text": label}},
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(220, 90 + 50 * len(names)),
        showlegend=False,
    )


def class_probabilities(classes: Sequence, probabilities: Sequence[float], chosen) -> go.Figure:
    """One row's probability of each class as labelled bars, the predicted class coloured."""
    names = [_user_text(c) for c in classes]
    fig = go.Figure(
        go.Bar(
            x=list(probabilities),
            y=names,
            orientation="h",
            marker={"color": [VALIDATION_COLOR if c == chosen else MUTED_COLOR for c in classes]},
            text=[f"{p:.1%}" for p in probabilities],
            textposition="auto",
            hovertemplate="%{y}<br>probability %{x:.1%}<extra></extra>",
        )
    )
    return _layout(
        fig,
        "Probability of each class",
        xaxis={"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%"},
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(200, 110 + 40 * len(names)),
        showlegend=False,
    )


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


# --- inside the network while it trains ---------------------------------------------------------


def _layer_colors(diagnostics: Sequence[dict | None]) -> dict[str, str]:
    """One colour per layer name, the same in every chart: dark for the first layer, light for
    the output layer, so "the early layers" are easy to find."""
    from plotly.colors import sample_colorscale

    names: dict[str, None] = {}
    for record in diagnostics:
        for layer in (record or {}).get("layers", []):
            names.setdefault(layer["name"])
    n = len(names)
    colors = sample_colorscale("Viridis", [0.85 * i / max(1, n - 1) for i in range(n)])
    return dict(zip(names, colors, strict=True))


def _waiting(fig: go.Figure) -> go.Figure:
    fig.update_layout(xaxis_range=[0, 10], yaxis_range=[0, 1])
    fig.add_annotation(
        text="waiting for the first epoch",
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"color": MUTED_COLOR, "size": 15},
    )
    return fig


def _layer_series(
    diagnostics: Sequence[dict | None], key: str
) -> tuple[list[int], dict[str, tuple[str, list]]]:
    """The measured epochs (1-based; an epoch without a record is left out, so lines bridge
    it), and per layer name its activation and its `key` at each of them."""
    measured = [(epoch, record) for epoch, record in enumerate(diagnostics, start=1) if record]
    activations: dict[str, str] = {}
    for _, record in measured:
        for layer in record["layers"]:
            if layer.get(key) is not None:
                activations.setdefault(layer["name"], layer["activation"])
    series: dict[str, tuple[str, list]] = {name: (a, []) for name, a in activations.items()}
    for _, record in measured:
        values = {layer["name"]: layer.get(key) for layer in record["layers"]}
        for name, (_, column) in series.items():
            column.append(values.get(name))
    return [epoch for epoch, _ in measured], series


def unit_health(diagnostics: Sequence[dict | None]) -> go.Figure:
    """Per hidden layer and epoch, the share of its units that are dead (relu) or saturated
    (sigmoid, tanh), from `nncore.learn.diagnostics` records (one per epoch, None for a gap).

    A dotted line marks the share at which the Train page raises an alert.
    """
    from nncore.learn.diagnostics import DEAD_ALERT, SATURATED_ALERT

    fig = go.Figure()
    _layout(
        fig,
        "Dead and saturated units per layer",
        xaxis={"title": {"text": "epoch"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "share of the layer's units"}, "tickformat": ".0%"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        uirevision="unit_health",
    )
    fig.update_layout(margin_b=90)
    if not any(diagnostics):
        return _waiting(fig)
    colors = _layer_colors(diagnostics)
    lines = []
    for state, dash in (("dead", "solid"), ("saturated", "dash")):
        epochs, series = _layer_series(diagnostics, state)
        for name, (activation, values) in series.items():
            lines.append((f"{name} ({activation}), {state}", epochs, values, colors[name], dash))
    if not lines:
        fig.update_layout(yaxis_range=[0, 1])
        fig.add_annotation(
            text="no relu, sigmoid or tanh layer to watch",
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            showarrow=False,
            font={"color": MUTED_COLOR, "size": 15},
        )
        return fig
    mode = "lines+markers" if len(diagnostics) <= 30 else "lines"
    for name, epochs, values, color, dash in lines:
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=values,
                name=name,
                mode=mode,
                line={"color": color, "width": 2, "dash": dash},
                marker={"size": 5},
                hovertemplate=f"epoch %{{x}}<br>{name} %{{y:.0%}}<extra></extra>",
            )
        )
    fig.update_layout(yaxis_range=[-0.02, 1.02])
    fig.add_hline(
        y=min(DEAD_ALERT, SATURATED_ALERT),
        line={"dash": "dot", "color": MUTED_COLOR, "width": 1.5},
        annotation={"text": "alert", "font": {"color": MUTED_COLOR, "size": 12}},
        annotation_position="top left",
    )
    return fig


def gradient_norms(diagnostics: Sequence[dict | None]) -> go.Figure:
    """Per layer and epoch, the norm of the loss's gradient for the layer's weights, on a log
    scale: vanishing gradients show as the first layers' lines lying decades below the last."""
    fig = go.Figure()
    _layout(
        fig,
        "Gradient norm per layer",
        xaxis={"title": {"text": "epoch"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "gradient norm (log scale)"}},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        uirevision="gradient_norms",
    )
    fig.update_layout(margin_b=90)
    if not any(diagnostics):
        return _waiting(fig)
    colors = _layer_colors(diagnostics)
    mode = "lines+markers" if len(diagnostics) <= 30 else "lines"
    epochs, series = _layer_series(diagnostics, "gradient_norm")
    for layer, (activation, values) in series.items():
        name, color = f"{layer} ({activation})", colors[layer]
        # A norm of exactly zero has no place on a log axis: it shows as a gap.
        shown = [v if v is not None and v > 0 else None for v in values]
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=shown,
                name=name,
                mode=mode,
                line={"color": color, "width": 2},
                marker={"size": 5},
                hovertemplate=f"epoch %{{x}}<br>{name} %{{y:.3g}}<extra></extra>",
            )
        )
    fig.update_yaxes(_log_axis([v for _, values in series.values() for v in values]))
    return fig


# --- tuning and run comparison ------------------------------------------------------------------


def compare_curves(
    curves: dict[str, Sequence[dict[str, float]]],
    metric: str = "loss",
    *,
    best: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """One validation curve of `metric` per run (the training curve for a run without
    validation), overlaid; run `best` drawn bold with a star at its best epoch."""
    label = _user_text(metric_label(metric))  # the monitored value is free text
    fig = go.Figure()
    _layout(
        fig,
        title if title is not None else f"Validation {label} per epoch",
        xaxis={"title": {"text": "epoch"}, "rangemode": "tozero"},
        yaxis={"title": {"text": f"validation {label}"}},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        uirevision=metric,
    )
    fig.update_layout(margin_b=110)
    finite = []
    for i, (run, history) in enumerate(curves.items()):
        values = [logs.get(f"val_{metric}", logs.get(metric)) for logs in history]
        finite += [v for v in values if v is not None and math.isfinite(v)]
        bold, name = run == best, _user_text(run)
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(values) + 1)),
                y=values,
                name=f"{name} (best)" if bold else name,
                mode="lines",
                line={"color": CLASS_COLORS[i % len(CLASS_COLORS)], "width": 4 if bold else 1.5},
                opacity=1.0 if bold or best is None else 0.75,
                hovertemplate=f"{name}<br>epoch %{{x}}<br>{label} %{{y:.4g}}<extra></extra>",
            )
        )
        scored = [(v, e) for e, v in enumerate(values, start=1) if v is not None]
        if bold and scored:
            value, epoch = (min if _lower_is_better(metric) else max)(scored)
            fig.add_trace(
                go.Scatter(
                    x=[epoch],
                    y=[value],
                    name=f"best: {name}, epoch {epoch}",
                    mode="markers",
                    marker={"size": 14, "color": ACCENT_COLOR, "symbol": "star"},
                    hovertemplate=f"best: {name}<br>epoch %{{x}}<br>{label} %{{y:.4g}}"
                    "<extra></extra>",
                )
            )
    if _lower_is_better(metric) and finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        fig.update_yaxes(_log_axis(finite), title_text=f"validation {label} (log scale)")
    return fig


def range_test(
    rates: Sequence[float],
    losses: Sequence[float],
    smoothed: Sequence[float],
    suggestion: float | None = None,
) -> go.Figure:
    """Loss against a learning rate growing batch by batch (log axis), the suggestion marked."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=list(rates),
            y=list(losses),
            name="loss of each batch",
            mode="lines",
            line={"color": MUTED_COLOR, "width": 1},
            hovertemplate="rate %{x:.3g}<br>loss %{y:.4g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(rates),
            y=list(smoothed),
            name="smoothed",
            mode="lines",
            line={"color": TRAINING_COLOR, "width": 2.5},
            hovertemplate="rate %{x:.3g}<br>smoothed loss %{y:.4g}<extra></extra>",
        )
    )
    finite = [v for v in smoothed if math.isfinite(v)]
    if finite:  # the climb at the end can dwarf the curve; keep the interesting part in view
        low, high = min(finite), max(finite[0], min(finite) * 2)
        pad = (high - low) * 0.15 or abs(low) * 0.1 or 1.0
        fig.update_yaxes(range=[low - pad, high + pad])
        if suggestion is not None:
            # A trace, not a shape: shapes and annotations take log10 positions on a log axis.
            fig.add_trace(
                go.Scatter(
                    x=[suggestion, suggestion],
                    y=[low - pad, high + pad],
                    name=f"suggested rate {suggestion:g}",
                    mode="lines",
                    line={"color": ACCENT_COLOR, "width": 2, "dash": "dash"},
                    hovertemplate=f"suggested rate {suggestion:g}<extra></extra>",
                )
            )
    return _layout(
        fig,
        "Loss as the learning rate grows",
        xaxis={"title": {"text": "learning rate (log scale)"}, **_log_axis(rates)},
        yaxis={"title": {"text": "training loss"}},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        margin_b=90,
    )


def capacity_steps(
    labels: Sequence[str], scores: Sequence[float | None], accepted: Sequence[bool], metric: str
) -> go.Figure:
    """The validation score of each step of a capacity search; kept steps in colour."""
    label = _user_text(metric_label(metric.removeprefix("val_")))  # free text, as above
    values = [_number(s) for s in scores]
    fig = go.Figure(
        go.Bar(
            x=[f"{i}. {_user_text(text)}" for i, text in enumerate(labels, start=1)],
            y=values,
            marker={"color": [ACCENT_COLOR if a else MUTED_COLOR for a in accepted]},
            text=["n/a" if math.isnan(v) else f"{v:.4g}" for v in values],
            textposition="auto",
            hovertemplate=f"%{{x}}<br>validation {label} %{{y:.4g}}<extra></extra>",
        )
    )
    better = "lower" if _lower_is_better(metric.removeprefix("val_")) else "higher"
    return _layout(
        fig,
        "Capacity search: each step's best validation score",
        title_subtitle_text=f"{better} is better; green steps improved enough to keep",
        xaxis={"title": {"text": "hidden layers"}, "type": "category"},
        yaxis={"title": {"text": f"validation {label}"}},
        showlegend=False,
    )


def cross_validation(scores: dict[str, Sequence[float | None]], metric: str) -> go.Figure:
    """Each model's `metric` on each fold of a cross-validation, side by side per fold; the
    network first and in its colour. `scores` maps a model's name to its score per fold (None
    where undefined), as `nncore.run.crossval.CrossValidation.fold_scores` gives them."""
    label = metric_label(metric)
    fig = go.Figure()
    baseline_colors = [c for c in CLASS_COLORS if c != VALIDATION_COLOR]
    for i, (model, values) in enumerate(scores.items()):
        numbers = [_number(v) for v in values]
        name = _user_text(model)
        color = (
            VALIDATION_COLOR if model == "network" else baseline_colors[i % len(baseline_colors)]
        )
        fig.add_trace(
            go.Bar(
                x=[f"fold {n}" for n in range(1, len(numbers) + 1)],
                y=numbers,
                name=name,
                marker={"color": color},
                hovertemplate=f"{name}<br>%{{x}}<br>{label} %{{y:.4g}}<extra></extra>",
            )
        )
    better = "lower" if _lower_is_better(metric) else "higher"
    return _layout(
        fig,
        f"Cross-validation: {label} on each held-out fold",
        title_subtitle_text=f"{better} is better; every model learns from the same rows per fold",
        xaxis={"title": {"text": "held-out fold"}, "type": "category"},
        yaxis={"title": {"text": label}},
        barmode="group",
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
        margin_b=90,
    )


def feature_importance(importance: dict) -> go.Figure:
    """Permutation importance per column (mean and spread over the shuffles), largest on top."""
    columns = importance["columns"]
    score = metric_label(importance["score"])
    change = "fall in" if importance["score"] == "r2" else "rise in"
    fig = go.Figure(
        go.Bar(
            x=[c["mean"] for c in columns],
            y=[_user_text(c["column"]) for c in columns],
            orientation="h",
            error_x={"type": "data", "array": [c["std"] for c in columns], "color": MUTED_COLOR},
            marker={"color": [ACCENT_COLOR if c["mean"] > 0 else MUTED_COLOR for c in columns]},
            hovertemplate=f"%{{y}}<br>{change} {score} %{{x:.4g}}<extra></extra>",
        )
    )
    return _layout(
        fig,
        "Which columns matter",
        title_subtitle_text=(
            f"{change} {score} on the {importance['rows']:,} validation rows when the column's "
            f"values are shuffled ({importance['repeats']} times)"
        ),
        xaxis={"title": {"text": f"{change} {score}"}, "zeroline": True},
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(260, 110 + 28 * len(columns)),
        showlegend=False,
    )


# --- decisions ----------------------------------------------------------------------------------


def calibration_curves(calibration: dict) -> go.Figure:
    """Mean predicted probability against the share that happened, per bin and class, from
    `nncore.learn.calibrate.calibration`; the diagonal is perfect calibration."""
    fig = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            name="perfectly calibrated",
            mode="lines",
            line={"dash": "dash", "color": MUTED_COLOR, "width": 1},
            hoverinfo="skip",
        )
    )
    for color, curve in zip(CLASS_COLORS * 10, calibration["curves"], strict=False):
        name = _user_text(curve["class"])
        fig.add_trace(
            go.Scatter(
                x=curve["predicted"],
                y=curve["observed"],
                name=name,
                mode="lines+markers",
                line={"color": color, "width": 2},
                customdata=curve["rows"],
                hovertemplate=(
                    f"{name}<br>predicted %{{x:.3f}}<br>observed %{{y:.3f}}<br>"
                    "%{customdata} rows<extra></extra>"
                ),
            )
        )
    return _layout(
        fig,
        "Calibration curve",
        title_subtitle_text=f"Brier score {calibration['brier']:.4f} (0 is perfect)",
        xaxis={"title": {"text": "mean predicted probability"}, "range": [0, 1]},
        yaxis={"title": {"text": "share of rows of that class"}, "range": [0, 1]},
        legend={"orientation": "h", "y": -0.25},
    )


def gain_and_lift(gains: Sequence[dict], positive: str) -> go.Figure:
    """Cumulative gain (left) and lift (right) over the share of rows taken, best-ranked first,
    from `nncore.learn.calibrate.gains`."""
    positive = _user_text(positive)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Cumulative gain", "Lift"))
    shares = [0.0, *(row["rows"] for row in gains)]
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            name="random order",
            mode="lines",
            line={"dash": "dash", "color": MUTED_COLOR, "width": 1},
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=shares,
            y=[0.0, *(row["gain"] for row in gains)],
            name="network",
            mode="lines+markers",
            line={"color": ACCENT_COLOR, "width": 2},
            hovertemplate=(
                f"top %{{x:.0%}} of rows hold %{{y:.0%}} of the {positive} rows<extra></extra>"
            ),
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=shares[1:],
            y=[row["lift"] for row in gains],
            name="lift",
            mode="lines+markers",
            line={"color": ACCENT_COLOR, "width": 2},
            showlegend=False,
            hovertemplate=(
                f"top %{{x:.0%}} of rows: %{{y:.2f}} times the overall rate of {positive}"
                "<extra></extra>"
            ),
        ),
        row=1,
        col=2,
    )
    fig.add_hline(y=1, line={"dash": "dash", "color": MUTED_COLOR, "width": 1}, row=1, col=2)
    fig.update_xaxes(title_text="share of rows, highest probability first", tickformat=".0%")
    fig.update_yaxes(title_text=f"share of all {positive} rows found", tickformat=".0%", row=1)
    fig.update_yaxes(title_text="times the overall rate", tickformat="", row=1, col=2)
    return _layout(fig, f"Finding the {positive} rows", showlegend=False)


def expected_cost(costs: Sequence[dict], chosen: float, threshold: float | None) -> go.Figure:
    """Mean cost per row over thresholds, from `nncore.learn.calibrate.expected_costs`; the
    cheapest threshold (`chosen`) and the slider's (`threshold`) marked."""
    x = [row["threshold"] for row in costs]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=[row["cost"] for row in costs],
            name="expected cost",
            mode="lines",
            line={"color": VALIDATION_COLOR, "width": 2},
            customdata=[(row["false_positives"], row["false_negatives"]) for row in costs],
            hovertemplate=(
                "threshold %{x:.2f}<br>cost per row %{y:.4g}<br>%{customdata[0]} false "
                "positives, %{customdata[1]} false negatives<extra></extra>"
            ),
        )
    )
    by_threshold = {round(row["threshold"], 2): row["cost"] for row in costs}
    fig.add_trace(
        _threshold_marker(chosen, chosen, by_threshold[round(chosen, 2)], "threshold", "cost")
    )
    fig.data[-1].name = f"cheapest, {chosen:g}"
    if threshold is not None and round(threshold, 2) in by_threshold and threshold != chosen:
        fig.add_vline(x=threshold, line={"dash": "dot", "color": MUTED_COLOR, "width": 1})
    return _layout(
        fig,
        "Expected cost per row",
        xaxis={"title": {"text": "decision threshold"}, "range": [0, 1]},
        yaxis={"title": {"text": "mean cost per validation row"}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
    )


# --- explanations -------------------------------------------------------------------------------


def waterfall(contributions: dict[str, float], base: float, output: str) -> go.Figure:
    """One prediction as steps from the base value (the mean prediction over reference rows),
    one per column's contribution, largest first, to the prediction itself."""
    ranked = sorted(contributions.items(), key=lambda item: -abs(item[1]))
    predicted = base + sum(contributions.values())
    names = ["base value", *(_user_text(column) for column, _ in ranked), "prediction"]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *["relative"] * len(ranked), "total"],
            y=names,
            x=[base, *(value for _, value in ranked), predicted],
            increasing={"marker": {"color": ACCENT_COLOR}},
            decreasing={"marker": {"color": VALIDATION_COLOR}},
            totals={"marker": {"color": TRAINING_COLOR}},
            connector={"line": {"color": MUTED_COLOR, "width": 1}},
            hovertemplate="%{y}: %{x:+.4g}<extra></extra>",
        )
    )
    return _layout(
        fig,
        "Why this prediction",
        title_subtitle_text=f"each column's contribution to {_user_text(output)}",
        xaxis={"title": {"text": _user_text(output)}},
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(260, 120 + 26 * len(names)),
        showlegend=False,
    )


def partial_dependence(curve: dict, outputs: Sequence[str], task: str) -> go.Figure:
    """How the output moves with one column, the others as they are: the average over rows
    (bars for a category) and, for one output, each of some rows' own curve (ICE)."""
    column = _user_text(curve["column"])
    grid = [_user_text(v) for v in curve["grid"]] if curve["categorical"] else curve["grid"]
    fig = go.Figure()
    if not curve["categorical"]:
        for line in curve["individual"]:
            fig.add_trace(
                go.Scatter(
                    x=grid,
                    y=line,
                    mode="lines",
                    line={"color": MUTED_COLOR, "width": 0.7},
                    opacity=0.5,
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    for i, (name, average) in enumerate(zip(outputs, curve["average"], strict=True)):
        color = CLASS_COLORS[i % len(CLASS_COLORS)] if task == "multiclass" else TRAINING_COLOR
        label = _user_text(name)
        if curve["categorical"]:
            trace = go.Bar(x=grid, y=average, name=label, marker={"color": color})
        else:
            trace = go.Scatter(
                x=grid, y=average, name=label, mode="lines", line={"color": color, "width": 3}
            )
        fig.add_trace(trace)
    what = "prediction" if task == "regression" else "probability"
    return _layout(
        fig,
        f"{column}",
        title_subtitle_text=(
            f"average {what} with {column} set to each value"
            + ("; grey: single rows" if curve["individual"] and not curve["categorical"] else "")
        ),
        xaxis={
            "title": {"text": column},
            "type": "category" if curve["categorical"] else "linear",
        },
        yaxis={"title": {"text": what}},
        showlegend=task == "multiclass",
        barmode="group",
        height=320,
    )


def _grid_text(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else _user_text(value)


def interaction(pair: dict, output: str, index: int) -> go.Figure:
    """The average output with two columns set together to each pair of values."""
    first, second = (_user_text(c) for c in pair["columns"])
    grids = [[_grid_text(v) for v in grid] for grid in pair["grids"]]
    fig = go.Figure(
        go.Heatmap(
            z=pair["average"][index],
            y=grids[0],
            x=grids[1],
            colorscale="Blues",
            colorbar={"title": {"text": _user_text(output)}},
            hovertemplate=f"{first} %{{y}}<br>{second} %{{x}}<br>%{{z:.4g}}<extra></extra>",
        )
    )
    return _layout(
        fig,
        f"{first} and {second} together",
        title_subtitle_text=f"average {_user_text(output)} for each pair of values",
        xaxis={"title": {"text": second}, "type": "category"},
        yaxis={"title": {"text": first}, "type": "category"},
        height=420,
    )


def drift(table: pd.DataFrame, bounds: Sequence[float]) -> go.Figure:
    """Each column's population stability index against the training rows (`table` as
    `nncore.data.drift.drift` gives it), largest on top, with the level `bounds` marked."""
    colors = {"stable": MUTED_COLOR, "some shift": VALIDATION_COLOR}
    fig = go.Figure(
        go.Bar(
            x=table["PSI"].tolist(),
            y=[_user_text(c) for c in table["column"]],
            orientation="h",
            marker={"color": [colors.get(level, "#E45756") for level in table["level"]]},
            customdata=table["level"].tolist(),
            hovertemplate="%{y}<br>PSI %{x:.3f}: %{customdata}<extra></extra>",
        )
    )
    for bound in bounds:
        fig.add_vline(x=bound, line_dash="dot", line_color=MUTED_COLOR)
    return _layout(
        fig,
        "Do the new rows look like the training rows?",
        title_subtitle_text="population stability index per column (dotted: some shift, large "
        "shift)",
        xaxis={"title": {"text": "PSI"}, "zeroline": True},
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(260, 110 + 28 * len(table)),
        showlegend=False,
    )


def search_progress(
    seconds: Sequence[float | None], best: Sequence[float | None], metric: str
) -> go.Figure:
    """A network search's best validation score so far against the minutes its trials took."""
    label = _user_text(metric_label(metric.removeprefix("val_")))
    minutes = np.cumsum([_number(s) if s is not None else 0.0 for s in seconds]) / 60
    fig = go.Figure(
        go.Scatter(
            x=minutes,
            y=[_number(b) for b in best],
            mode="lines+markers",
            line={"shape": "hv", "color": ACCENT_COLOR},
            hovertemplate=f"%{{x:.1f}} min<br>best {label} %{{y:.4g}}<extra></extra>",
        )
    )
    better = "lower" if _lower_is_better(metric.removeprefix("val_")) else "higher"
    return _layout(
        fig,
        "Search: the best validation score so far",
        title_subtitle_text=f"{better} is better; each point is a trial's end",
        xaxis={"title": {"text": "minutes of trials"}},
        yaxis={"title": {"text": f"best validation {label}"}},
        showlegend=False,
    )


def search_curves(
    curves: dict[int, dict[int, float]], pruned: Sequence[int], metric: str
) -> go.Figure:
    """Each trial's validation score per epoch, overlaid; pruned trials faded."""
    label = _user_text(metric_label(metric.removeprefix("val_")))
    fig = go.Figure()
    for number, values in curves.items():
        epochs = sorted(values)
        faded = number in pruned
        fig.add_trace(
            go.Scatter(
                x=[e + 1 for e in epochs],
                y=[_number(values[e]) for e in epochs],
                mode="lines",
                name=f"trial {number}" + (" (pruned)" if faded else ""),
                line={"color": MUTED_COLOR if faded else None},
                opacity=0.35 if faded else 0.9,
                hovertemplate=f"trial {number}<br>epoch %{{x}}<br>{label} %{{y:.4g}}"
                "<extra></extra>",
            )
        )
    return _layout(
        fig,
        "Search: each trial's validation curve",
        title_subtitle_text="faded: stopped early by the pruner",
        xaxis={"title": {"text": "epoch"}},
        yaxis={"title": {"text": f"validation {label}"}},
    )
