"""Model: design the hidden layers of the network; the output layer follows from the task."""

from pathlib import Path

import pandas as pd
import streamlit as st

from nncore import plots, rules
from nncore.config import (
    LayerSpec,
    check_size,
    count_parameters,
    layer_parameters,
    output_units,
)
from nncore.data.plan import ColumnPlan, estimate_width
from nncore.errors import NNCoreError
from nncore.rules import SETTINGS
from ui import (
    LAYER_FIELDS,
    LAYER_WIDGET,
    Keys,
    experiment_file,
    init_state,
    md,
    require,
    set_experiment,
    show_error,
)

MAX_LAYERS = SETTINGS["hidden_layers"].high
ERROR = "model_error"  # the NNCoreError of the last refused edit, shown once
PRESETS = {
    "default": (
        "Default",
        (LayerSpec(50), LayerSpec(32)),
        "Dense 50 relu → Dense 32 relu: the starting design, a fair first try on most tables",
    ),
    "small": ("Small", (LayerSpec(16),), "Dense 16 relu: quick, for small tables"),
    "wide": ("Wide", (LayerSpec(256), LayerSpec(128)), "Dense 256 relu → Dense 128 relu"),
    "deep": ("Deep", (LayerSpec(64),) * 5, "5 × Dense 64 relu"),
}
ACTIVATION_HELP = (
    "How each unit bends its input; the bends let a network learn more than straight lines.  \n"
    + "  \n".join(f"**{a.name}**: {a.help}" for a in rules.ACTIVATIONS.values())
)


def set_layers(layers: tuple[LayerSpec, ...]) -> None:
    """Store a new structure and clear the per-layer widgets so they re-seed from it."""
    try:
        experiment = st.session_state[Keys.EXPERIMENT].replace(layers=tuple(layers))
    except NNCoreError as exc:
        st.session_state[ERROR] = exc
        return
    set_experiment(experiment)
    for key in [k for k in st.session_state if LAYER_WIDGET.fullmatch(str(k))]:
        del st.session_state[key]


def add_layer() -> None:
    layers = st.session_state[Keys.EXPERIMENT].layers
    set_layers((*layers, layers[-1] if layers else LayerSpec(32)))


def remove_layer(i: int) -> None:
    layers = st.session_state[Keys.EXPERIMENT].layers
    set_layers(layers[:i] + layers[i + 1 :])


def move_layer(i: int, step: int) -> None:
    layers = list(st.session_state[Keys.EXPERIMENT].layers)
    layers[i], layers[i + step] = layers[i + step], layers[i]
    set_layers(tuple(layers))


def edit_layer(i: int) -> None:
    """Build layer i from its widgets; a refused value is shown and the widgets reset."""
    state = st.session_state
    layers = list(state[Keys.EXPERIMENT].layers)
    try:
        layers[i] = LayerSpec(
            units=int(state[f"units_{i}"]),
            activation=state[f"activation_{i}"],
            dropout=round(float(state[f"dropout_{i}"]), 2),
            l1=float(state[f"l1_{i}"]),
            l2=float(state[f"l2_{i}"]),
            batch_norm=bool(state[f"batch_norm_{i}"]),
        )
    except NNCoreError as exc:
        state[ERROR] = exc
        seed(i, layers[i], overwrite=True)
        return
    set_experiment(state[Keys.EXPERIMENT].replace(layers=tuple(layers)))


def seed(i: int, layer: LayerSpec, overwrite: bool = False) -> None:
    """Give layer i's widgets the stored values, unless they already hold one."""
    for field in LAYER_FIELDS:
        if overwrite or f"{field}_{i}" not in st.session_state:
            st.session_state[f"{field}_{i}"] = getattr(layer, field)


def output_layer(plan: ColumnPlan) -> tuple[int, str, str]:
    """Units, activation and the reason for the output layer, which follows from the task."""
    task = rules.TASKS[plan.task]
    positive = plan.classes[1] if len(plan.classes) > 1 else ""
    return (
        output_units(plan.task, len(plan.classes)),
        task.output_activation,
        task.head_reason.format(positive=positive),
    )


def layer_editor(i: int, layer: LayerSpec, count: int) -> None:
    """The widgets of hidden layer i, seeded from `layer`; edits go through `edit_layer`."""
    seed(i, layer)
    edit = {"on_change": edit_layer, "args": (i,)}
    with st.container(border=True):
        units, activation, dropout, *buttons = st.columns(
            [3, 4, 4, 1, 1, 1], vertical_alignment="bottom"
        )
        rule = SETTINGS["units"]
        units.number_input(
            f"Layer {i + 1} units", rule.low, rule.high, key=f"units_{i}", help=rule.help, **edit
        )
        activation.selectbox(
            "Activation",
            list(rules.ACTIVATIONS),
            key=f"activation_{i}",
            help=ACTIVATION_HELP,
            **edit,
        )
        rule = SETTINGS["dropout"]
        dropout.slider(
            "Dropout",
            rule.low,
            rule.high,
            step=rule.step,
            key=f"dropout_{i}",
            help=rule.help,
            **edit,
        )
        actions = (
            ("up", ":material/arrow_upward:", "Move up", i == 0, move_layer, (i, -1)),
            ("down", ":material/arrow_downward:", "Move down", i == count - 1, move_layer, (i, 1)),
            ("remove", ":material/delete:", "Remove", False, remove_layer, (i,)),
        )
        for column, (name, icon, tip, off, action, args) in zip(buttons, actions, strict=True):
            column.button(
                "", icon=icon, key=f"{name}_{i}", help=tip, disabled=off, on_click=action, args=args
            )
        norm, penalties = st.columns([1, 2], vertical_alignment="center")
        norm.checkbox("Batch norm", key=f"batch_norm_{i}", help=SETTINGS["batch_norm"].help, **edit)
        with penalties.expander("Regularization (L1, L2)", expanded=bool(layer.l1 or layer.l2)):
            for column, name in zip(st.columns(2), ("l1", "l2"), strict=True):
                rule = SETTINGS[name]
                column.number_input(
                    name.upper(),
                    rule.low,
                    rule.high,
                    step=rule.step,
                    format="%.4f",
                    key=f"{name}_{i}",
                    help=rule.help,
                    **edit,
                )


def summary_table(
    n_inputs: int, layers: tuple[LayerSpec, ...], head: tuple[int, str]
) -> pd.DataFrame:
    """One row per layer: its units, activation, extras and parameters."""
    rows = [("input", n_inputs, "", "")]
    for i, layer in enumerate(layers):
        extras = [f"dropout {layer.dropout:g}"] if layer.dropout else []
        extras += ["batch norm"] if layer.batch_norm else []
        extras += [
            f"{name} {value:g}" for name, value in (("L1", layer.l1), ("L2", layer.l2)) if value
        ]
        rows.append((f"hidden {i + 1}", layer.units, layer.activation, ", ".join(extras)))
    rows.append(("output", *head, ""))
    table = pd.DataFrame(rows, columns=["layer", "units", "activation", "extras"])
    table["parameters"] = [0, *layer_parameters(n_inputs, layers, head[0])]
    return table.set_index("layer")


init_state()
st.title("Model")
require(Keys.DATASET, fix_page="pages/data.py", message="Load a CSV or pick a sample first.")
plan: ColumnPlan | None = st.session_state[Keys.PLAN]
if plan is None:
    st.info(
        "Choose a target on the Data step first, one a model can learn.", icon=":material/info:"
    )
    st.page_link("pages/data.py")
    st.stop()
experiment_file()

# ------------------------------------------------------------------------ widgets -> layers
design, summary = st.columns([3, 2], gap="large")
with design:
    st.markdown("**Start from a preset**, then change any layer.")
    for column, (name, (title, preset, about)) in zip(
        st.columns(len(PRESETS)), PRESETS.items(), strict=True
    ):
        column.button(
            title,
            key=f"preset_{name}",
            help=about,
            on_click=set_layers,
            args=(preset,),
            width="stretch",
        )
    if st.session_state.get(ERROR) is not None:
        show_error(st.session_state.pop(ERROR))

    st.subheader("Hidden layers", anchor=False)
    layers = st.session_state[Keys.EXPERIMENT].layers
    for i, layer in enumerate(layers):
        layer_editor(i, layer, len(layers))
    if not layers:
        kind = {"regression": "linear", "binary": "logistic"}.get(plan.task, "softmax")
        st.info(
            f"No hidden layers: the inputs feed the output directly, which is {kind} "
            "regression. Add a layer to learn curves and interactions.",
            icon=":material/info:",
        )
    st.button(
        "Add layer",
        key="add_layer",
        icon=":material/add:",
        on_click=add_layer,
        disabled=len(layers) >= MAX_LAYERS,
        help=f"Appends a copy of the last layer; at most {MAX_LAYERS} layers.",
    )

    n_outputs, head_activation, why = output_layer(plan)
    st.subheader("Output layer", anchor=False)
    st.markdown(
        f"**{n_outputs} unit{'' if n_outputs == 1 else 's'}, {head_activation}**: {md(why)}"
    )
    if plan.task == "multiclass":
        st.caption("Classes: " + md(", ".join(map(str, plan.classes))))

# ------------------------------------------------------------------------- engine -> render
with summary:
    n_inputs = estimate_width(st.session_state[Keys.DATASET], plan)
    inputs, params = st.columns(2)
    inputs.metric(
        "Inputs",
        f"{n_inputs:,}",
        help="Numbers one row becomes: one per numeric "
        "column, one per category of a categorical column, a few per date.",
    )
    params.metric(
        "Parameters",
        f"{count_parameters(n_inputs, layers, n_outputs):,}",
        help="Weights and biases the training will fit.",
    )
    try:
        check_size(n_inputs, layers, n_outputs)
    except NNCoreError as exc:
        show_error(exc)
    st.dataframe(summary_table(n_inputs, layers, (n_outputs, head_activation)))
    figure = plots.architecture(n_inputs, layers, plan.task, n_outputs)
    st.plotly_chart(figure, key="architecture")

if (Path(__file__).resolve().parent / "train.py").exists():
    st.page_link("pages/train.py", label="Next: train this model", icon=":material/arrow_forward:")
