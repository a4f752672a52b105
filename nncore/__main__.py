"""Command line: `python -m nncore train ...` (and `train --continue RUN_DIR` to train a run
more), `predict ...`, `code ...`, `report ...`, `export ...` (SavedModel, TFLite, ONNX), `serve
...` (an HTTP prediction service), and the tunings `capacity ...`, `sweep ...` and `search ...`.

The same engine as the studio, for scripted and reproducible runs. Exit 0 on success, 2 with a
one-line message on stderr for anything the user got wrong; warnings go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from nncore.config import ACTIVATIONS, OPTIMIZERS, SCALINGS, Experiment, parse_layers
from nncore.data.ingest import with_sheet
from nncore.errors import NNCoreError
from nncore.rules import LOSSES, SETTINGS

USER_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
    try:
        return args.run(args)
    except NNCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nncore", description="Train and use neural networks on tabular data."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model on a CSV file")
    train.add_argument("--data", required=True, type=Path, help="the table (.csv, .xlsx, .parquet)")
    train.add_argument("--sheet", help="the sheet of an .xlsx workbook (default: its first)")
    train.add_argument("--target", help="the column to predict (or set it in --config)")
    train.add_argument("--out", type=Path, help="folder for the model and reports")
    train.add_argument("--config", type=Path, help="experiment.json; options below override it")
    train.add_argument(
        "--layers", help=f"hidden layers, e.g. 50:relu,32:relu ({', '.join(ACTIVATIONS)})"
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--loss", help=f"{', '.join(LOSSES)} (default: auto)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--validation-split", type=float, help="fraction of rows for validation")
    train.add_argument("--test-split", type=float, help="fraction of rows held out for testing")
    train.add_argument("--no-early-stopping", action="store_true")
    train.add_argument("--patience", type=int)
    train.add_argument("--scaling", choices=SCALINGS)
    train.add_argument("--task", choices=SETTINGS["task"].choices)
    train.add_argument("--seed", type=int)
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    train.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="also score the design by K-fold cross-validation, the baselines on the same folds "
        f"(K from {SETTINGS['folds'].low:g} to {SETTINGS['folds'].high:g}); into metrics.json",
    )
    train.add_argument(
        "--continue",
        dest="parent",
        type=Path,
        metavar="RUN_DIR",
        help="train this run --epochs more, from its weights and optimizer state, into --out",
    )
    train.add_argument(
        "--calibrate",
        action="store_true",
        help="classifiers: fit one temperature on the validation rows and fold it into the model "
        "files, so they give calibrated probabilities",
    )
    train.add_argument(
        "--costs",
        nargs=2,
        type=float,
        metavar=("FP", "FN"),
        help="binary: the cost of a false positive and of a false negative; the threshold with "
        "the lowest expected cost on the validation rows is kept with the model",
    )
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="predict with a saved model")
    predict.add_argument("--model", required=True, type=Path, help="model.keras or model.h5")
    predict.add_argument(
        "--schema", type=Path, help="schema.json (default: the one beside the model)"
    )
    predict.add_argument(
        "--data", required=True, type=Path, help="the table: CSV, .xlsx or .parquet"
    )
    predict.add_argument("--sheet", help="the sheet of an .xlsx workbook (default: its first)")
    predict.add_argument("--out", required=True, type=Path, help="where to write predictions")
    predict.add_argument(
        "--threshold",
        type=float,
        help="binary models: label a row positive from this probability on (default: the "
        "threshold saved in schema.json, 0.5 unless one was chosen)",
    )
    predict.add_argument(
        "--explain",
        action="store_true",
        help="add each input column's contribution to each prediction (contribution_<column>) "
        "and the base value they start from (shap, against a seeded sample of --data's rows)",
    )
    predict.add_argument(
        "--interval",
        type=float,
        metavar="COVERAGE",
        help="regression models: add columns lower and upper, an interval holding the true value "
        "with this probability (e.g. 0.9)",
    )
    predict.set_defaults(run=_predict)

    code = commands.add_parser(
        "code", help="write a trained run as a standalone pandas/scikit-learn/Keras script"
    )
    code.add_argument(
        "--run",
        dest="run_dir",
        required=True,
        type=Path,
        help="the folder train wrote (experiment.json, schema.json, ...)",
    )
    code.add_argument("--data", default="data.csv", help="the CSV name the script reads")
    code.add_argument("--out", type=Path, help="where to write the script (default: print it)")
    code.set_defaults(run=_code)
    _add_deploy_commands(commands)

    report = commands.add_parser(
        "report", help="write a trained run's model report: one self-contained HTML file"
    )
    report.add_argument(
        "--run", dest="run_dir", required=True, type=Path, help="the folder train wrote"
    )
    report.add_argument("--out", required=True, type=Path, help="where to write the .html file")
    report.set_defaults(run=_report)
    _add_tuning_commands(commands)
    _add_workspace_commands(commands, train)
    return parser


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NNCoreError(f"Cannot read {path}: {exc.strerror}. Check the path.") from None


def _read_table(path: Path, sheet: str | None = None):
    """The `--data` table, read as the studio reads an upload (the same limits and refusals)."""
    from nncore.data.ingest import read_table

    return read_table(_read(path), with_sheet(path.name, sheet))[0]


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    experiment = Experiment.from_json(_read(args.config)) if args.config else Experiment()
    data = experiment.data
    data_changes = {
        "target": args.target,
        "scaling": args.scaling,
        "task": args.task,
        "validation_fraction": args.validation_split,
        "test_fraction": args.test_split,
    }
    data = dataclasses.replace(data, **{k: v for k, v in data_changes.items() if v is not None})
    if not data.target:
        raise NNCoreError("No target column: pass --target COLUMN (or set it in --config).")
    compile_changes = {
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "loss": args.loss,
    }
    compile_ = dataclasses.replace(
        experiment.compile, **{k: v for k, v in compile_changes.items() if v is not None}
    )
    training_changes = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "patience": args.patience,
        "early_stopping": False if args.no_early_stopping else None,
    }
    training = dataclasses.replace(
        experiment.training, **{k: v for k, v in training_changes.items() if v is not None}
    )
    changes = {"data": data, "compile": compile_, "training": training}
    if args.layers is not None:
        changes["layers"] = parse_layers(args.layers)
    if args.seed is not None:
        changes["seed"] = args.seed
    # Through JSON once more, so options get the same checks as a config file.
    return Experiment.from_dict(experiment.replace(**changes).to_dict())


def _train(args: argparse.Namespace) -> int:
    if args.parent is not None:
        if args.cv is not None:
            raise NNCoreError("--cv scores a design trained from scratch; drop --continue.")
        return _train_more(args)
    experiment = experiment_from_args(args)
    frame = _read_table(args.data, args.sheet)
    experiment.check_columns([str(c) for c in frame.columns])
    _check_decisions(args, experiment, frame)
    if args.cv is not None:
        from nncore.run.crossval import make_folds

        make_folds(frame, experiment, args.cv)  # a wrong K is refused before the training

    from nncore.learn.train import Listener
    from nncore.run.pipeline import run_experiment

    result = run_experiment(
        frame,
        experiment,
        args.out,
        listener=None if args.quiet else Listener(on_epoch_end=_show_epoch),
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.message:
        print(result.message, file=sys.stderr)
    _print_validation(result)
    _decide(args)
    if args.cv is not None:
        _cross_validate(frame, experiment, args.cv, result)
    print(f"saved to {args.out}/: {', '.join(sorted(p.name for p in args.out.iterdir()))}")
    return 0


def _cross_validate(frame, experiment: Experiment, k: int, result) -> None:
    """`--cv K`: the folds' scores into the run's metrics.json, and a line of their summary."""
    from nncore.rules import compare_on
    from nncore.run.crossval import cross_validate
    from nncore.run.pipeline import _write_atomic

    found = cross_validate(frame, experiment, k)
    metrics = json.loads(result.files.metrics.read_bytes())
    metrics["cross_validation"] = found.to_metrics()
    _write_atomic(result.files.metrics, json.dumps(metrics, indent=2, allow_nan=False).encode())
    counts = frame[result.plan.target].value_counts()
    print(f"cross-validation: {found.in_words(compare_on(found.task, counts))}")


def _check_decisions(args: argparse.Namespace, experiment: Experiment, frame) -> None:
    """Refuse --costs or --calibrate for a task they do not apply to before training, not after."""
    if args.costs is None and not args.calibrate:
        return
    from nncore.data.plan import plan_columns

    task = plan_columns(frame, experiment.data).task
    if args.costs is not None and task != "binary":
        raise NNCoreError(f"--costs is for binary targets; this one is {task}. Leave it out.")
    if args.costs is not None and (min(args.costs) < 0 or sum(args.costs) == 0):
        raise NNCoreError("--costs FP FN takes two costs of 0 or more, not both 0.")
    if args.calibrate and task == "regression":
        raise NNCoreError("--calibrate is for classifiers; this target is a regression.")


def _decide(args: argparse.Namespace) -> None:
    from nncore.run import calibration

    if args.calibrate:
        section = calibration.temperature_scale(args.out)
        change = section["validation"]
        print(
            f"temperature {section['applied']:.4g}: validation Brier score "
            f"{change['brier_before']:.4f} -> {change['brier_after']:.4f}, log loss "
            f"{change['log_loss_before']:.4f} -> {change['log_loss_after']:.4f}"
        )
    if args.costs is not None:
        best = calibration.keep_cheapest_threshold(args.out, *args.costs)
        print(
            f"threshold {best['threshold']:g} kept: expected cost {best['cost']:.4g} per row on "
            f"the validation rows ({best['false_positives']} false positives, "
            f"{best['false_negatives']} false negatives)"
        )


def _print_validation(result) -> None:
    scores = result.metrics["validation"]["network"]
    shown = {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)}
    print(f"validation: {json.dumps(shown)}")


def _show_epoch(epoch: int, logs: dict[str, float]) -> None:
    values = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "learning_rate")
    print(f"epoch {epoch + 1}: {values}", flush=True)


def _train_more(args: argparse.Namespace) -> int:
    """`train --continue RUN_DIR --epochs N`: the run's design, split and seed, N epochs more."""
    if args.epochs is None:
        raise NNCoreError("--continue needs --epochs N: how many epochs more to train.")
    frame = _read_table(args.data, args.sheet)

    from nncore.learn.train import Listener
    from nncore.run.pipeline import continue_run

    listener = None if args.quiet else Listener(on_epoch_end=_show_epoch)
    result = continue_run(args.parent, frame, args.epochs, args.out, listener=listener)
    if result.message:
        print(result.message, file=sys.stderr)
    _print_validation(result)
    _decide(args)
    print(f"continued {args.parent} from epoch {result.first_epoch + 1}; saved to {args.out}/")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from nncore.artifacts import runfiles, sheets
    from nncore.artifacts.predict import (
        check_fits,
        interval_half_width,
        load_model,
        load_schema,
        predict,
        with_interval,
    )
    from nncore.data.drift import drift, row_checks

    schema_path = args.schema or args.model.with_name(runfiles.SCHEMA)
    if not schema_path.exists():
        raise NNCoreError(
            f"No schema beside the model ({schema_path} is missing). Pass --schema schema.json, "
            "the file saved with the model."
        )
    schema = load_schema(schema_path)
    if args.threshold is not None:
        if schema.target.task != "binary":
            raise NNCoreError(
                f"--threshold is for binary models; this one is {schema.target.task}. Leave it out."
            )
        schema = dataclasses.replace(schema, threshold=args.threshold)
    if args.interval is not None:
        interval_half_width(schema, args.interval)  # refused before anything is read
    frame = _read_table(args.data, args.sheet)
    if not args.model.exists():
        raise NNCoreError(f"No model file at {args.model}. Check the path.")
    model = load_model(args.model)
    check_fits(model, schema)
    table = predict(model, frame, schema)
    if args.interval is not None:
        table = with_interval(table, schema, args.interval)
    checks = row_checks(frame, schema)
    table[checks.name] = checks
    if args.explain:  # last: a row's contributions and base value end it
        table = table.join(_contributions(model, frame, schema))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheets.to_csv(table, args.out)
    decided = ""
    if "threshold" in table.attrs:
        positive = schema.target.classes[1]
        decided = f" ({positive} from a probability of {table.attrs['threshold']:g} on)"
    explained = ", explained" if args.explain else ""
    print(f"wrote {len(table)} predictions{explained} to {args.out}{decided}")
    flagged = int((checks != "").sum())
    if flagged:
        print(f"{flagged} rows flagged in column {checks.name} (outside the training rows)")
    _print_drift(drift(frame, schema))
    return 0


def _contributions(model, frame, schema):
    """Each column's contribution to each row's prediction, against a seeded sample of the
    rows themselves (the command line has no training rows)."""
    from nncore.artifacts.predict import model_inputs, raw_outputs
    from nncore.learn.explain import background_rows, contributions

    return contributions(
        lambda rows: raw_outputs(model, model_inputs(rows, schema)),
        frame,
        background_rows(frame, schema),
        schema,
    )


def _print_drift(table) -> None:
    """Each column that moved away from the training rows, in a line; one line when none did."""
    if table.empty:
        print("no drift check: this model's schema.json keeps no training spread (train it again)")
        return
    moved = table[table["level"] != "stable"]
    print(f"drift against the training rows (PSI): {len(moved)} of {len(table)} columns shifted")
    for column, level, index, note in moved[["column", "level", "PSI", "what moved"]].to_numpy():
        print(f"  {column}: {level}, PSI {index:.2f} ({note})")


def _report(args: argparse.Namespace) -> int:
    from nncore.artifacts.report import report_html
    from nncore.artifacts.runfiles import RunFiles

    html = report_html(RunFiles(args.run_dir))
    try:
        args.out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise NNCoreError(f"Cannot write {args.out}: {exc.strerror}. Check the path.") from None
    print(f"wrote {args.out}")
    return 0


def _code(args: argparse.Namespace) -> int:
    from nncore.artifacts.codegen import render
    from nncore.artifacts.predict import load_schema

    if not (args.run_dir / "experiment.json").exists():
        raise NNCoreError(
            f"No experiment.json in {args.run_dir}. Pass the folder `python -m nncore train` wrote."
        )
    experiment = Experiment.from_json(_read(args.run_dir / "experiment.json"))
    script = render(experiment, load_schema(args.run_dir / "schema.json"), args.data)
    if args.out is None:
        print(script, end="")
    else:
        args.out.write_text(script)
        print(f"wrote {args.out}; run it beside {args.data}: python {args.out.name} {args.data}")
    return 0


# ----------------------------------------------------------------------------- export, serve


def _add_deploy_commands(commands) -> None:
    from nncore.artifacts.formats import FORMATS

    export = commands.add_parser(
        "export",
        help="write a run's model as a SavedModel, TFLite or ONNX file, checked against the "
        ".keras model in a fresh process",
    )
    export.add_argument("--run", dest="run_dir", required=True, type=Path, help="the run folder")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument(
        "--out", type=Path, help="where to write it (default: the run's exports/ folder)"
    )
    export.add_argument(
        "--data",
        type=Path,
        help="the table the run trained on: check on its validation rows (default: rows drawn "
        "across the training ranges)",
    )
    export.set_defaults(run=_export)

    serve = commands.add_parser(
        "serve", help="serve a run's model over HTTP: POST /predict, GET /health, GET /schema"
    )
    serve.add_argument("--run", dest="run_dir", required=True, type=Path, help="the run folder")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(run=_serve)


def _run_folder(run_dir: Path):
    from nncore.artifacts.runfiles import RunFiles

    files = RunFiles(run_dir)
    if not (files.keras.exists() and files.schema.exists()):
        raise NNCoreError(
            f"No model.keras and schema.json in {run_dir}. Pass the folder `python -m nncore "
            "train` wrote."
        )
    return files


def _export(args: argparse.Namespace) -> int:
    from nncore.artifacts.bundle import EXPORTS
    from nncore.artifacts.formats import FORMATS, check_file, export_checked, in_words

    files = _run_folder(args.run_dir)
    out = args.out or files.folder / EXPORTS / FORMATS[args.format].file_name
    rows = _read_table(args.data) if args.data else None
    check = export_checked(files.folder, args.format, out, rows)
    print(f"wrote {out}")
    print(in_words(check))
    print(check["takes"])
    print(f"check written to {check_file(out)}")
    return 0 if check["passed"] else 1


def _serve(args: argparse.Namespace) -> int:
    try:
        from nncore.artifacts.serve import serve
    except ImportError as exc:
        raise NNCoreError(
            f"serve needs FastAPI and uvicorn ({exc.name} is missing): pip install -r "
            "requirements-deploy.txt"
        ) from None
    files = _run_folder(args.run_dir)
    serve(files.folder, args.host, args.port)
    return 0


# ------------------------------------------------------------------------------------ tunings


def _add_tuning_commands(commands) -> None:
    capacity = commands.add_parser(
        "capacity",
        help="size a network: grow it wider while each step helps, then deeper; stop at the "
        "first deeper step that does not help",
    )
    _tuning_options(capacity)
    capacity.add_argument("--start-units", type=int, default=8, help="units of the first step")
    capacity.add_argument(
        "--min-improvement",
        type=float,
        default=0.02,
        help="relative gain a step needs to be kept (default 0.02, 2%%)",
    )
    capacity.add_argument("--max-steps", type=int, default=8, help="trainings at most")
    capacity.set_defaults(run=_capacity)

    sweep = commands.add_parser(
        "sweep", help="train once per learning rate, on the same split and seed; name the best"
    )
    _tuning_options(sweep)
    sweep.add_argument(
        "--rates",
        required=True,
        help="LOW:HIGH:COUNT, e.g. 0.0001:0.1:4 for 4 rates spaced evenly on a log scale",
    )
    sweep.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the experiment's")
    sweep.add_argument("--jobs", type=int, default=1, help="trainings at once (default 1)")
    sweep.set_defaults(run=_sweep)

    search = commands.add_parser(
        "search",
        help="find a network: an Optuna search over layers, dropout, L2, optimizer, learning "
        "rate and batch size (pruning trailing trials), then the best trained to completion",
    )
    search.add_argument("--data", required=True, type=Path, help="the CSV file")
    search.add_argument("--target", help="the column to predict (or set it in --config)")
    search.add_argument(
        "--out",
        required=True,
        type=Path,
        help="folder for the best design's model and reports (as train writes), and trials.csv",
    )
    search.add_argument("--config", type=Path, help="experiment.json: the settings to keep")
    search.add_argument("--minutes", required=True, type=float, help="the search's wall time")
    search.add_argument("--trials", type=int, help="trials at most (default: as time allows)")
    search.add_argument("--epochs", type=int, help="epochs per trial (the final training: 100)")
    search.add_argument("--seed", type=int)
    search.set_defaults(run=_search)


def _tuning_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, type=Path, help="the table: CSV, .xlsx or .parquet"
    )
    parser.add_argument("--sheet", help="the sheet of an .xlsx workbook (default: its first)")
    parser.add_argument("--target", help="the column to predict (or set it in --config)")
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="the workspace folder (made if new) for the runs, one per training",
    )
    parser.add_argument("--config", type=Path, help="experiment.json: the design to start from")
    parser.add_argument("--epochs", type=int, help="epochs per training")
    parser.add_argument("--seed", type=int)


def _tuning_setup(args: argparse.Namespace, **search_options):
    """The experiment to tune, checked against the table, and the workspace --out with the
    table in use; nothing is written before every check has passed (`search_options`: those of a
    capacity search, checked too)."""
    from nncore.data.ingest import read_table
    from nncore.run.capacity import CapacitySearch
    from nncore.run.workspace import Workspace

    experiment = Experiment.from_json(_read(args.config)) if args.config else Experiment()
    changes = {}
    if args.target:
        changes["data"] = dataclasses.replace(experiment.data, target=args.target)
    if args.epochs is not None:
        changes["training"] = dataclasses.replace(experiment.training, epochs=args.epochs)
    if args.seed is not None:
        changes["seed"] = args.seed
    experiment = Experiment.from_dict(experiment.replace(**changes).to_dict())
    if not experiment.data.target:
        raise NNCoreError("No target column: pass --target COLUMN (or set it in --config).")
    data, name = _read(args.data), with_sheet(args.data.name, args.sheet)
    experiment.check_columns([str(c) for c in read_table(data, name)[0].columns])
    if search_options:
        CapacitySearch(base=experiment, **search_options)
    workspace = Workspace.at(args.out, create=True)
    workspace.add_table(data, name)
    return experiment, workspace


def _describe_run(run) -> str:
    monitor = run.experiment.training.monitor
    score = run.score()
    scored = f"{monitor} {score:.4g}" if score is not None else f"no {monitor}"
    return f"{scored}  ({run.out_dir})"


def _capacity(args: argparse.Namespace) -> int:
    from nncore.config import describe_layers
    from nncore.run.jobs import JobRunner
    from nncore.run.session import Workbench

    if args.max_steps < 1:
        raise NNCoreError(f"--max-steps must be at least 1, got {args.max_steps}.")
    options = {
        "start_units": args.start_units,
        "min_improvement": args.min_improvement,
        "max_steps": args.max_steps,
    }
    experiment, workspace = _tuning_setup(args, **options)
    with JobRunner(max_concurrent=1) as runner:
        bench = Workbench(lambda: runner, workspace)
        record = bench.start_capacity_search(experiment, **options)
        monitor, shown = record.search.monitor, 0
        try:
            while True:
                # Each step starts when the one before ends, on the runner's thread; this one
                # only reports the steps whose scores are in.
                finished = record.wait(timeout=0.5)
                steps = record.search.steps
                while shown < len(steps) and steps[shown].done:
                    step, run = steps[shown], record.runs[shown]
                    verdict = "kept" if step.accepted else "not kept"
                    layers = describe_layers(step.layers)
                    scored = (
                        f"{monitor} {step.score:.4g}" if step.score is not None else f"no {monitor}"
                    )
                    print(
                        f"step {shown + 1} ({step.move}) {layers}: {scored}  ({run.out_dir}) "
                        f"{verdict}",
                        flush=True,
                    )
                    if run.status == "failed":
                        print(f"warning: {run.name}: {run.error()}", file=sys.stderr)
                    shown += 1
                if finished:
                    break
        except KeyboardInterrupt:
            bench.stop_search()  # so that leaving the runner does not wait for the step to end
            raise
    chosen = record.search.chosen
    if record.error:
        print(f"warning: {record.error}", file=sys.stderr)
    if chosen is None:
        failed = next((r.error() for r in record.runs if r.status == "failed"), None)
        raise NNCoreError(failed or f"{record.search.outcome} Nothing to choose.")
    print(record.search.outcome)
    print(f"chosen: {describe_layers(chosen.layers)} ({monitor} {chosen.score:.4g})")
    return 0


def _parse_rates(text: str) -> tuple[float, ...]:
    from nncore.run.rates import learning_rates

    try:
        low, high, count = text.split(":")
        low, high, count = float(low), float(high), int(count)
    except ValueError:
        raise NNCoreError(
            f"--rates takes LOW:HIGH:COUNT, e.g. 0.0001:0.1:4; got {text!r}."
        ) from None
    return learning_rates(low, high, count)


def _sweep(args: argparse.Namespace) -> int:
    from nncore.run.jobs import JobRunner
    from nncore.run.session import Workbench, sweep_pick

    rates = _parse_rates(args.rates)
    if args.jobs < 1:
        raise NNCoreError(f"--jobs must be at least 1, got {args.jobs}.")
    experiment, workspace = _tuning_setup(args)
    optimizer = args.optimizer or experiment.compile.optimizer
    with JobRunner(max_concurrent=args.jobs) as runner:
        bench = Workbench(lambda: runner, workspace)
        sweep = bench.start_rate_sweep(experiment, optimizer, rates)
        try:
            for run in sweep.runs:
                run.job.wait()
                rate = run.experiment.compile.learning_rate
                print(f"{optimizer} {rate:g}: {_describe_run(run)}", flush=True)
                if run.status == "failed":
                    print(f"warning: {run.name}: {run.error()}", file=sys.stderr)
        except KeyboardInterrupt:
            runner.shutdown(wait=False)  # stop the trials, so that leaving does not wait for them
            raise
    pick = sweep_pick(sweep.runs)
    if pick is None or pick.index is None:
        failed = next((r.error() for r in sweep.runs if r.status == "failed"), None)
        raise NNCoreError(failed or (pick.why if pick else "Nothing to pick."))
    for run, reason in zip(sweep.runs, pick.reasons, strict=True):
        print(f"{run.experiment.compile.learning_rate:g}: {reason}")
    print(pick.why)
    best = sweep.runs[pick.index]
    monitor = best.experiment.training.monitor
    print(
        f"best: {optimizer} {best.experiment.compile.learning_rate:g} "
        f"({monitor} {best.judged().score:.4g}) in {best.out_dir}"
    )
    return 0


def _search(args: argparse.Namespace) -> int:
    import tempfile

    from nncore.run.jobs import JobRunner
    from nncore.run.pipeline import run_experiment
    from nncore.run.search import check_budget
    from nncore.run.session import Workbench
    from nncore.run.workspace import Workspace

    check_budget(args.trials, args.minutes)
    # The settings the best design is trained with at the end: the trials' but for epochs.
    final = Experiment.from_json(_read(args.config)) if args.config else Experiment()
    changes = {"seed": args.seed} if args.seed is not None else {}
    if args.target:
        changes["data"] = dataclasses.replace(final.data, target=args.target)
    final = Experiment.from_dict(final.replace(**changes).to_dict())
    if not final.data.target:
        raise NNCoreError("No target column: pass --target COLUMN (or set it in --config).")
    frame = _read_table(args.data)
    final.check_columns([str(c) for c in frame.columns])
    base = final
    if args.epochs is not None:
        training = dataclasses.replace(final.training, epochs=args.epochs)
        base = Experiment.from_dict(final.replace(training=training).to_dict())
    # The trials' runs live in a workspace of their own, gone at the end: --out gets the best.
    with tempfile.TemporaryDirectory() as folder, JobRunner(max_concurrent=1) as runner:
        workspace = Workspace.at(Path(folder) / "search", create=True)
        workspace.add_table(_read(args.data), args.data.name)
        bench = Workbench(lambda: runner, workspace)
        record = bench.start_network_search(
            base, trials=args.trials, minutes=args.minutes, seed=args.seed
        )
        try:
            while not record.wait(timeout=5):
                pass
        except KeyboardInterrupt:
            bench.stop_network_search(wait=False)
            runner.shutdown(wait=False)
            raise
        search = record.search
        rows, best, chosen = search.table(), search.best(), search.final_design(final.training)
        described = "" if best is None else search.describe(best)
    if best is None:
        raise NNCoreError(record.error or "No trial of the search ended with a score.")
    monitor = search.monitor
    for row in rows:
        score = row[monitor]
        scored = f"{monitor} {score:.4g}" if score is not None else f"no {monitor}"
        print(f"trial {row['trial']} {row['state']}: {scored}")
    print(f"best: trial {best.number}, {described} ({monitor} {best.value:.4g})")
    result = run_experiment(frame, chosen, args.out)
    _write_trials(rows, args.out / "trials.csv")
    if result.message:
        print(result.message, file=sys.stderr)
    _print_validation(result)
    print(f"saved to {args.out}/: {', '.join(sorted(p.name for p in args.out.iterdir()))}")
    return 0


def _write_trials(rows: list[dict], path: Path) -> None:
    import csv

    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)


# --------------------------------------------------------------------------------- workspaces


def _add_workspace_commands(commands, train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--workspace",
        type=Path,
        help="write the run into this workspace folder (made if new), where the studio lists it; "
        "instead of --out",
    )
    train.set_defaults(run=_train_somewhere)

    runs = commands.add_parser("runs", help="list the runs of a workspace, or delete one")
    runs.add_argument("--workspace", required=True, type=Path, help="the workspace folder")
    runs.add_argument("--delete", metavar="RUN_ID", help="delete this run and its files")
    runs.set_defaults(run=_runs)


def _train_somewhere(args: argparse.Namespace) -> int:
    """`train` into --out, or as a run of the workspace --workspace: the table kept in the
    workspace, the run recorded as running before it starts and finished or failed after."""
    if args.workspace is None:
        if args.out is None:
            raise NNCoreError("Pass --out FOLDER for the run's files (or --workspace FOLDER).")
        return _train(args)
    if args.out is not None:
        raise NNCoreError("Pass either --out or --workspace, not both.")
    from nncore.run.workspace import Workspace

    experiment = experiment_from_args(args)
    workspace = Workspace.at(args.workspace, create=True)
    table = workspace.add_table(_read(args.data), with_sheet(args.data.name, args.sheet))
    experiment.check_columns([str(c) for c in table.frame.columns])
    record = workspace.create_run(experiment, table.info, status="running")
    # The run learns from the workspace's copy of the table, as a run started in the studio does.
    args.out, args.data = workspace.run_files(record.id).folder, workspace.table_path(table.info.id)
    try:
        code = _train(args)
    except KeyboardInterrupt:
        workspace.update_run(record.id, status="interrupted", message="Stopped with Ctrl-C.")
        raise
    except Exception as exc:
        message = str(exc) if isinstance(exc, NNCoreError) else f"{type(exc).__name__}: {exc}"
        workspace.update_run(record.id, status="failed", message=message)
        raise
    workspace.update_run(record.id, status="finished")
    print(f"run {record.id} ({record.name}) in the workspace {args.workspace}")
    return code


def _runs(args: argparse.Namespace) -> int:
    from nncore.run.workspace import Workspace

    workspace = Workspace.at(args.workspace)
    workspace.recover()  # a run whose process is gone says so
    if args.delete:
        record = workspace.run(args.delete)
        workspace.delete_run(record.id)
        print(f"deleted {record.id} ({record.name})")
        return 0
    rows = [("id", "name", "status", "target", "table", "best", "created (UTC)")]
    for r in workspace.runs():
        best = f"{r.monitor} {r.score:.4g}" if r.score is not None else ""
        when = r.created.replace("T", " ").removesuffix("+00:00")
        rows.append((r.id, r.name, r.status, r.target, r.table_name, best, when))
    if len(rows) == 1:
        print(f"no runs in the workspace {args.workspace}")
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
