"""Ingest: reading and profiling a big CSV against `pandas.read_csv(engine="pyarrow")` alone.

    python bench/ingest.py [--quick] [--rows 1000000] [--repeats 7]

A seeded CSV of 1,000,000 rows x 20 columns (14 decimal, 2 whole-number, 3 text columns and a
text label; about 135 MB) is read from its bytes in memory, as the server holds an upload:

- pandas: `pandas.read_csv(io.BytesIO(data), engine="pyarrow")`, nothing more;
- studio: `nncore.data.csvio.read_csv(data)` then `nncore.data.columns.profile_columns(frame)`,
  what the Data page does with an upload.

Each side runs in a fresh process, alternating, median of the repeats (7: both sides' times
move by tenths of a second between runs on a shared 2-core machine). Peak memory: once the
imports are done and the bytes are in memory, the process's peak RSS is reset (writing 5 to
/proc/self/clear_refs) and the RSS then is the baseline; the figure is VmHWM after the work minus
that baseline, against the DataFrame's `memory_usage(deep=True)`. The CSV's bytes are not in it
(they are the input, held before and after); their size is printed beside it.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import MB, machine, median, memory_status, run_fresh

SIDES = ("pandas", "studio")


def measure(side: str, csv: str) -> dict:
    """In a fresh process: one side's time, its peak memory above the baseline, the frame."""
    import pandas as pd

    from nncore.data.columns import profile_columns
    from nncore.data.csvio import read_csv

    data = Path(csv).read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    baseline = memory_status()["VmRSS"]
    started = time.perf_counter()
    if side == "pandas":
        frame = pd.read_csv(io.BytesIO(data), engine="pyarrow")
        kinds = None
        read_seconds = time.perf_counter() - started
    else:
        frame = read_csv(data)
        read_seconds = time.perf_counter() - started
        kinds = [profile.kind for profile in profile_columns(frame)]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "read_seconds": read_seconds,
        "peak": memory_status()["VmHWM"] - baseline,
        "frame": int(frame.memory_usage(deep=True).sum()),
        "shape": list(frame.shape),
        "bytes": len(data),
        "kinds": kinds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, help="runs per side (default 7, quick 1)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 7)

    from bench.memory import make_csv

    print(f"machine: {machine()}")
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "ingest.csv"
        make_csv(csv, 0, rows=args.rows)
        for repeat in range(repeats):
            for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                results[side].append(run_fresh("ingest", "measure", side=side, csv=str(csv)))

    studio = results["studio"][0]
    rows, columns = studio["shape"]
    print(
        f"\n{rows:,} rows x {columns} columns, CSV {studio['bytes'] / MB:,.0f} MB, median of "
        f"{repeats}; kinds: {', '.join(sorted(set(studio['kinds'])))}\n"
    )
    print(
        "| side | seconds | of which reading | peak above baseline (MB) | DataFrame (MB) "
        "| peak / DataFrame |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for side in SIDES:
        peak, frame = median(results[side], "peak"), median(results[side], "frame")
        print(
            f"| {side} | {median(results[side], 'seconds'):.2f} | "
            f"{median(results[side], 'read_seconds'):.2f} | {peak / MB:,.0f} | "
            f"{frame / MB:,.0f} | {peak / frame:.2f} |"
        )
    ratio = median(results["studio"], "seconds") / median(results["pandas"], "seconds")
    memory = median(results["studio"], "peak") / median(results["studio"], "frame")
    print(
        f"\nstudio read + profile: {ratio:.2f}x the time of pandas' pyarrow reader (goal <= 1.5x); "
        f"peak {memory:.2f}x its DataFrame (goal <= 3x)"
    )


if __name__ == "__main__":
    main()
