"""Plotly figures of the studio: training curves, the architecture, and the evaluation charts.

Every function returns a plain `go.Figure`; the pages only show them. This module imports
neither Streamlit nor TensorFlow: the Streamlit server process draws these figures and must
stay free of both. All figures share one calm look (`plotly_white`, the same colours, titles
and hover text that name what is shown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from nncore.config import TASKS, LayerSpec

TEMPLATE = "plotly_white"
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

_LABELS = {
    "loss": "loss",
    "mae": "mean absolute error",
    "mse": "mean squared error",
    "rmse": "root mean squared error",
    "r2": "R²",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "auc": "ROC AUC",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "learning_rate": "learning rate",
}
# Errors: never negative, lower is better, and worth a log axis when they fall by decades.
_ERRORS = frozenset({"loss", "mae", "mse", "rmse", "log_loss"})
_NOT_METRICS = frozenset({"epoch", "learning_rate"})
_OUTPUT_ACTIVATION = {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}


def metric_label(name: str) -> str:
    """A readable name for a logged metric: "rmse" -> "root mean squared error"."""
    return _LABELS.get(name, name.replace("_", " "))


def _lower_is_better(name: str) -> bool:
    return name in _ERRORS or name.endswith("loss")


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
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        uirevision=metric,  # keep the user's zoom while the figure is redrawn
    )
    if not history:
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
        fig.update_yaxes(type="log", title_text=f"{label} (log scale)")

    shapes, notes = [], []
    if best_epoch is not None and 0 <= best_epoch < len(history):
        x = best_epoch + 1
        marked = val if len(curves) == 2 else train
        shapes.append(_vline(x, "dash", ACCENT_COLOR))
        notes.append(_vline_note(x, f"best epoch {x}", ACCENT_COLOR, "right"))
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
        x = stopped_epoch + 1
        shapes.append(_vline(x, "dot", MUTED_COLOR))
        notes.append(_vline_note(x, "early stop", MUTED_COLOR, "left"))
    if shapes:
        fig.update_layout(shapes=shapes, annotations=notes)
    return fig


def _vline(x: float, dash: str, color: str) -> dict:
    return {
        "type": "line",
        "x0": x,
        "x1": x,
        "xref": "x",
        "y0": 0,
        "y1": 1,
        "yref": "paper",
        "line": {"dash": dash, "color": color, "width": 1.5},
    }


def _vline_note(x: float, text: str, color: str, side: str) -> dict:
    return {
        "x": x,
        "y": 1,
        "xref": "x",
        "yref": "paper",
        "text": text,
        "showarrow": False,
        "xanchor": "right" if side == "right" else "left",
        "yanchor": "top",
        "xshift": -4 if side == "right" else 4,
        "font": {"color": color, "size": 12},
    }


# --- architecture -------------------------------------------------------------------------------


def layer_parameters(n_inputs: int, layers: Sequence[LayerSpec], n_outputs: int) -> list[int]:
    """Parameters of each hidden layer and of the output layer, in order (as `count_parameters`).

    A hidden layer with batch normalization counts its Dense kernel (no bias) and the 4
    parameters per unit of the normalization.
    """
    counts, width = [], n_inputs
    for spec in layers:
        counts.append(width * spec.units + (4 * spec.units if spec.batch_norm else spec.units))
        width = spec.units
    counts.append(width * n_outputs + n_outputs)
    return counts


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
    if task not in _OUTPUT_ACTIVATION:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}.")
    layers = tuple(layers)
    params = layer_parameters(n_inputs, layers, n_outputs)
    total = sum(params)

    blocks = [(input_label, n_inputs, "", [], None)]
    for i, spec in enumerate(layers):
        blocks.append((f"hidden {i + 1}", spec.units, spec.activation, _badges(spec), params[i]))
    blocks.append(("output", n_outputs, _OUTPUT_ACTIVATION[task], [], params[-1]))

    crowded = len(blocks) > 12
    font = 9 if len(blocks) > 20 else 11 if crowded else 13
    widest = max(units for _, units, *_ in blocks)
    tallest = math.log2(widest + 1)
    width = 0.55
    shapes, notes = [], []
    centers_x, hover = [], []
    for i, (name, units, activation, badges, count) in enumerate(blocks):
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
        caption = [name if not crowded or kind != "hidden" else str(i)]
        if activation:
            caption.append(activation)
        caption += badges
        notes.append(_text(i, -half - 0.05, "<br>".join(caption), font - 1, "top"))
        centers_x.append(i)
        what = "features" if kind == "input" else "units"
        detail = [f"<b>{name}</b>", f"{units:,} {what}"]
        if activation:
            detail.append(f"activation {activation}")
        detail += badges
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
    return _layout(
        fig,
        f"{n_hidden} hidden layer{'s' if n_hidden != 1 else ''} · {total:,} parameters",
        shapes=shapes,
        annotations=notes,
        xaxis={"visible": False, "range": [-0.6, len(blocks) - 0.4], "fixedrange": True},
        yaxis={"visible": False, "range": [-2.2, 1.15], "fixedrange": True},
        height=340,
        showlegend=False,
    )


def _badges(spec: LayerSpec) -> list[str]:
    badges = []
    if spec.dropout:
        badges.append(f"dropout {spec.dropout:g}")
    if spec.l1:
        badges.append(f"L1 {spec.l1:g}")
    if spec.l2:
        badges.append(f"L2 {spec.l2:g}")
    if spec.batch_norm:
        badges.append("batch norm")
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
