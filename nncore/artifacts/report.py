"""A run's model report: one self-contained HTML page, the one an analyst forwards to a colleague.

Built from the files the run left in its folder alone (metrics.json, result.json, schema.json,
experiment.json, history.csv), so it needs neither the table nor TensorFlow. Plotly's script is
inlined once, so the page draws its figures with no network: nothing is fetched when it opens.
The figures are drawn here rather than by `nncore.plots`, which sits above this layer.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from html import escape
from pathlib import Path
from typing import Any

from nncore.artifacts.runfiles import (
    EXPERIMENT,
    HISTORY,
    METRICS,
    RESULT,
    SCHEMA,
    RunFiles,
)
from nncore.errors import NNCoreError

__all__ = ["REPORT", "report_html"]

REPORT = "report.html"  # its name in the zip bundle

_TRAIN, _VALID, _ACCENT, _MUTED = "#4C78A8", "#F58518", "#54A24B", "#9AA0A6"
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666}.warn{background:#fff7e0;border-left:4px solid #f0b400;padding:.4em .8em}
"""


def report_html(files: RunFiles) -> str:
    """The report of the run whose files are `files`, as one HTML document. Raises NNCoreError,
    in one line, when the folder holds no finished run (no metrics.json or result.json)."""
    # The zip bundle is made on every rerun of the Predict page: the report, a second's work, is
    # made again only when one of its files changed.
    stamps = tuple(_stamp(files.folder / name) for name in _SOURCES)
    return _report(files, stamps)


_SOURCES = (METRICS, RESULT, SCHEMA, EXPERIMENT, HISTORY)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _report(files: RunFiles, stamps: tuple) -> str:
    metrics = _json(files, METRICS)
    result = _json(files, RESULT)
    schema = _json(files, SCHEMA)
    experiment = _json(files, EXPERIMENT)
    history = _history(files)
    plan = result.get("plan", {})
    figures: list[Any] = []
    sections = [
        _section("The data", _data(plan, schema, metrics)),
        _section("Warnings", _warnings(plan, result)),
        _section("The experiment", _experiment(experiment, metrics)),
        _section("Training curves", _curves(history, metrics, figures)),
        _section("Scores beside the baselines", _scores(metrics, figures)),
        _section("The most important columns", _importance(metrics, figures)),
        _section("Limits of this model", _limits(plan, schema, metrics)),
    ]
    title = f"Model report: predicting {plan.get('target') or metrics.get('task', '')}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='muted'>{escape(_summary(metrics, result))}</p>"
        + "".join(sections)
        + "</body></html>"
    )


def _json(files: RunFiles, name: str) -> dict:
    try:
        return json.loads((files.folder / name).read_text())
    except (OSError, ValueError):
        raise NNCoreError(
            f"{files.folder} holds no finished run ({name} is missing or unreadable). Point at "
            "the folder a training wrote."
        ) from None


def _history(files: RunFiles) -> list[dict[str, float]]:
    try:
        text = files.history.read_text()
    except OSError:
        return []
    return [
        {k: float(v) for k, v in row.items() if v not in ("", None)}
        for row in csv.DictReader(io.StringIO(text))
    ]


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f"<section id='{anchor}'><h2>{escape(title)}</h2>{body}</section>"


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{_number(v)}</td>"
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary(metrics: dict, result: dict) -> str:
    training = metrics.get("training", {})
    return (
        f"A {metrics.get('task', '')} network, trained {training.get('epochs_run', '?')} epochs "
        f"({training.get('stopped_by', '')}), best epoch {training.get('best_epoch', '?')}; "
        f"validation: {result.get('split_note') or metrics.get('split', '')}."
    )


def _data(plan: dict, schema: dict, metrics: dict) -> str:
    target = schema.get("target", {})
    rows = metrics.get("training", {}).get("rows", {})
    sizes = ", ".join(f"{n:,} {part} rows" for part, n in rows.items())
    validation = metrics.get("validation", {}).get("rows")
    if validation:
        sizes += f", {validation:,} validation rows"
    text = (
        f"<p>Target <b>{escape(str(plan.get('target', target.get('name', ''))))}</b>: "
        f"{escape(str(plan.get('task_reason', plan.get('task', ''))))}. {escape(sizes)}.</p>"
    )
    numeric = [
        [c["column"], "numeric", c.get("minimum", ""), c.get("maximum", ""), c["center"], c["fill"]]
        for c in schema.get("numeric", [])
    ]
    categorical = [
        [c["column"], "categorical", f"{len(c['categories'])} values", "", "", c["most_common"]]
        for c in schema.get("categorical", [])
    ]
    text += _table(
        ["column", "used as", "minimum", "maximum", "mean", "missing filled with"],
        numeric + categorical,
    )
    excluded = plan.get("excluded") or []
    if excluded:
        text += "<p>Left out: " + escape(", ".join(_words(e) for e in excluded)) + ".</p>"
    return text


def _words(item: object) -> str:
    return ": ".join(map(str, item)) if isinstance(item, list | tuple) else str(item)


def _warnings(plan: dict, result: dict) -> str:
    found = [*plan.get("warnings", []), *result.get("warnings", [])]
    if result.get("message"):
        found.append(result["message"])
    if plan.get("rows_with_missing_target"):
        found.append(f"{plan['rows_with_missing_target']:,} rows had no target and were dropped.")
    if not found:
        return "<p>None: the data and the training raised no warning.</p>"
    return "".join(f"<p class='warn'>{escape(_words(w))}</p>" for w in found)


def _experiment(experiment: dict, metrics: dict) -> str:
    layers = experiment.get("layers", [])
    network = " → ".join(f"Dense {layer['units']} {layer['activation']}" for layer in layers)
    compile_, training, data = (experiment.get(k, {}) for k in ("compile", "training", "data"))
    rows = [
        ["network", network + " → output"],
        [
            "optimizer",
            f"{compile_.get('optimizer')} at learning rate {compile_.get('learning_rate')}",
        ],
        ["loss", metrics.get("loss", compile_.get("loss"))],
        ["scaling", data.get("scaling")],
        ["validation share", data.get("validation_fraction")],
        ["epochs, batch size", f"{training.get('epochs')}, {training.get('batch_size')}"],
        [
            "early stopping",
            f"on {training.get('monitor')}, patience {training.get('patience')}"
            if training.get("early_stopping")
            else "off",
        ],
        ["seed", experiment.get("seed")],
    ]
    return _table(["setting", "value"], rows)


def _figure(fig: Any, figures: list[Any]) -> str:
    """The figure as a <div> (numbered, so a run's report is the same file every time); the
    first one carries plotly.js itself, inlined."""
    figures.append(fig)
    fig.update_layout(template="plotly_white", height=360, margin={"t": 50, "b": 40})
    return fig.to_html(
        full_html=False, include_plotlyjs=len(figures) == 1, div_id=f"figure-{len(figures)}"
    )


def _curves(history: list[dict[str, float]], metrics: dict, figures: list[Any]) -> str:
    import plotly.graph_objects as go

    if not history:
        return "<p>No training history was saved with this run.</p>"
    names = [
        k for k in history[0] if not k.startswith("val_") and k not in ("epoch", "learning_rate")
    ]
    best = metrics.get("training", {}).get("best_epoch")
    parts = []
    for name in names[:3]:
        fig = go.Figure()
        epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(history)]
        fig.add_scatter(
            x=epochs, y=[r.get(name) for r in history], name="training", line={"color": _TRAIN}
        )
        if f"val_{name}" in history[0]:
            fig.add_scatter(
                x=epochs,
                y=[r.get(f"val_{name}") for r in history],
                name="validation",
                line={"color": _VALID},
            )
        if best:
            fig.add_vline(
                x=best, line_dash="dot", line_color=_MUTED, annotation_text=f"best epoch {best}"
            )
        fig.update_layout(title=name, xaxis_title="epoch")
        parts.append(_figure(fig, figures))
    return "".join(parts)


def _scores(metrics: dict, figures: list[Any]) -> str:
    import plotly.graph_objects as go

    validation = metrics.get("validation", {})
    models = {"network": validation.get("network", {}), **validation.get("baselines", {})}
    names = [k for k, v in models["network"].items() if isinstance(v, int | float)]
    table = _table(
        ["metric", *models], [[n, *(m.get(n, "") for m in models.values())] for n in names]
    )
    if not names:
        return table
    shown = next(
        (n for n in ("pr_auc", "roc_auc", "accuracy", "r2", "rmse") if n in names), names[0]
    )
    values = [m.get(shown) for m in models.values()]
    colors = [_ACCENT, *[_MUTED] * (len(models) - 1)]
    fig = go.Figure(
        go.Bar(x=list(models), y=values, marker_color=colors, text=[_number(v) for v in values])
    )
    fig.update_layout(title=f"{shown} on the validation rows")
    return table + _figure(fig, figures)


def _importance(metrics: dict, figures: list[Any]) -> str:
    import plotly.graph_objects as go

    importance = metrics.get("importance") or {}
    columns = importance.get("columns") or []
    if not columns:
        return "<p>No column importance was measured for this run.</p>"
    top = columns[:15]
    fig = go.Figure(
        go.Bar(
            x=[c["mean"] for c in top][::-1],
            y=[c["column"] for c in top][::-1],
            orientation="h",
            error_x={"type": "data", "array": [c.get("std", 0) for c in top][::-1]},
            marker_color=_TRAIN,
        )
    )
    fig.update_layout(
        title=f"Drop in {importance.get('score')} when the column is shuffled",
        height=max(300, 28 * len(top) + 100),
    )
    note = (
        f"<p class='muted'>Permutation importance on {importance.get('rows', '?')} validation "
        f"rows, {importance.get('repeats', '?')} shuffles per column: how much the score falls "
        "when a column's values are shuffled. A column near zero or below adds nothing the "
        "network uses.</p>"
    )
    return note + _figure(fig, figures)


def _limits(plan: dict, schema: dict, metrics: dict) -> str:
    notes = []
    validation = metrics.get("validation", {})
    network = validation.get("network", {})
    baselines = validation.get("baselines", {})
    rows = sum(metrics.get("training", {}).get("rows", {}).values())
    if rows:
        notes.append(
            f"It learned from {rows:,} rows; scores on {validation.get('rows', '?')} "
            "validation rows carry the uncertainty of a sample that size."
        )
    for name in ("r2", "accuracy", "pr_auc", "roc_auc"):
        if name in network and baselines:
            best_name, best = max(baselines.items(), key=lambda kv: kv[1].get(name, float("-inf")))
            if network[name] <= best.get(name, float("-inf")):
                notes.append(
                    f"On {name} it does no better than the {best_name} baseline "
                    f"({_number(network[name])} against {_number(best[name])}): "
                    "prefer the simpler model until it does."
                )
            break
    ranges = [
        f"{c['column']} {_number(c['minimum'])}–{_number(c['maximum'])}"
        for c in schema.get("numeric", [])
        if "minimum" in c and "maximum" in c
    ]
    if ranges:
        notes.append(
            "Its predictions are only checked within the training range of each "
            "column: " + "; ".join(ranges[:12]) + ("; …" if len(ranges) > 12 else "") + "."
        )
    if schema.get("categorical"):
        notes.append(
            "A category it never saw in training is ignored: the row is predicted as if that "
            "column held none of the categories it knows."
        )
    notes.append(
        "It shows association in this data, not cause: changing a column in the world "
        "need not change the outcome as the model predicts."
    )
    return "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"
