"""Wide tables: reading and profiling, and training through the command line, as columns grow.

    python bench/wide.py [--quick] [--columns 1000 3000 10000] [--rows 60]

A seeded CSV of 60 rows × N columns: numbers with 4 decimals and a yes/no target `y` made from
the first two, for N = 1,000, 3,000 and 10,000 (over the default column limit of 5,000:
the bench sets NNSTUDIO_MAX_COLUMNS for it):

- profile: `nncore.data.ingest.read_table(data)` then `nncore.data.columns.profile_columns`, the
  Data page's two steps on an upload, in a fresh process; peak memory is VmHWM after the work
  minus the RSS once the bytes are in memory (peak reset by writing 5 to /proc/self/clear_refs);
- train: `python -m nncore train --data wide.csv --target y --out OUT --epochs 5 --quiet`, the
  whole command (TensorFlow's start, profile, training, scores, importance, saved files); peak
  memory is the command's maximum RSS.

And the Data page's answer to the table of issue 14: 22 rows × 50,000 columns (20 MB) at the
default limits, `read_table` as above: the refusal's time and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import MB, ROOT, machine, memory_status, run_fresh

MAX_COLUMNS = "20000"  # NNSTUDIO_MAX_COLUMNS: 10,000 columns are over the default limit


def make_csv(columns: int, rows: int, decimals: int = 4, seed: int = 0) -> bytes:
    """`columns` numbers and the target: `columns` + 1 columns."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)).round(decimals)
    target = np.where(values[:, 0] + values[:, 1] > 0, "yes", "no")
    lines = [",".join([f"c{i}" for i in range(columns)] + ["y"])]
    lines += [
        ",".join(map(str, row)) + f",{label}" for row, label in zip(values, target, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def profile(csv: str) -> dict:
    """In a fresh process: read and profile the file's bytes, or the refusal."""
    from nncore.data.columns import profile_columns
    from nncore.data.ingest import read_table
    from nncore.errors import DataError

    data = Path(csv).read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    baseline = memory_status()["VmRSS"]
    started = time.perf_counter()
    try:
        frame, _ = read_table(data, "wide.csv")
        profile_columns(frame)
        answer = f"{frame.shape[0]} x {frame.shape[1]} read and profiled"
    except DataError as refused:
        answer = str(refused).split(". ")[0]
    return {
        "seconds": time.perf_counter() - started,
        "peak": memory_status()["VmHWM"] - baseline,
        "bytes": len(data),
        "answer": answer,
    }


def train(csv: str, out: str, epochs: int) -> dict:
    """In a fresh process: the command line's training; its time and its maximum RSS."""
    command = [sys.executable, "-m", "nncore", "train", "--data", csv, "--target", "y"]
    command += ["--out", out, "--epochs", str(epochs), "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"training failed:\n{done.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 and 1,000 columns, 2 epochs")
    parser.add_argument("--columns", type=int, nargs="+")
    parser.add_argument("--rows", type=int, default=60)
    args = parser.parse_args()
    widths = args.columns or ([300, 1000] if args.quick else [1000, 3000, 10000])
    epochs = 2 if args.quick else 5
    os.environ["NNSTUDIO_MAX_COLUMNS"] = MAX_COLUMNS

    print(f"machine: {machine()}\n")
    print(f"{args.rows} rows, {epochs} epochs, NNSTUDIO_MAX_COLUMNS={MAX_COLUMNS}\n")
    print("| columns | CSV (MB) | read + profile (s) | its peak (MB) | train (s) | its peak (MB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for columns in widths:
            csv = Path(tmp) / f"wide{columns}.csv"
            csv.write_bytes(make_csv(columns - 1, args.rows))
            read = run_fresh("wide", "profile", csv=str(csv))
            trained = run_fresh(
                "wide", "train", csv=str(csv), out=str(Path(tmp) / f"out{columns}"), epochs=epochs
            )
            print(
                f"| {columns:,} | {read['bytes'] / MB:.1f} | {read['seconds']:.2f} | "
                f"{read['peak'] / MB:.0f} | {trained['seconds']:.0f} | "
                f"{trained['peak'] / MB:,.0f} |",
                flush=True,
            )

        os.environ.pop("NNSTUDIO_MAX_COLUMNS")  # the default limits, as a server has them
        csv = Path(tmp) / "wide50000.csv"
        csv.write_bytes(make_csv(49_999, 22, decimals=16))  # 20 MB, as in the issue
        refused = run_fresh("wide", "profile", csv=str(csv))
    print(
        f"\nThe Data page's reading of 22 rows × 50,000 columns ({refused['bytes'] / MB:.1f} MB) "
        f"at the default limits: {refused['seconds']:.2f} s, peak {refused['peak'] / MB:.0f} MB "
        f'above the bytes held: "{refused["answer"]}."'
    )


if __name__ == "__main__":
    main()
