"""Every benchmark, one after another: `python -m bench [--quick] [--only NAME ...]`.

Each runs as its own process with its own side-by-side comparisons; their reports (Markdown)
go to stdout, and to a file with --out FILE. The full run takes about 30 minutes on the quiet 2-core
machine of BENCHMARKS.md (an hour when loaded), most of it `model.fit` and `model.predict` on a
million rows. --quick uses fewer rows, epochs and repeats: a check that everything runs, not
figures to quote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, arguments, arguments with --quick)
BENCHES = {
    "ingest": ("ingest", [], ["--quick"]),
    "predict_speed": ("predict_speed", [], ["--quick"]),
    "cold_start": ("cold_start", [], ["--quick"]),
    "live_charts": ("live_charts", [], ["--quick"]),
    "live_charts_tune": ("live_charts", ["--page", "tune"], ["--page", "tune", "--quick"]),
    "train_speed": ("train_speed", [], ["--quick"]),
    "stop_latency": ("stop_latency", [], ["--repeats", "3"]),
    "checkpoint": ("checkpoint", [], ["--quick"]),
    "server_exit": ("server_exit", [], ["--quick"]),
    "diagnostics_overhead": ("diagnostics_overhead", [], ["--repeats", "1"]),
    "memory": ("memory", ["--workers-only"], ["--workers-only", "--trainings", "10"]),
    "wide": ("wide", [], ["--quick"]),
    "reload": ("reload", [], ["--quick"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and short: a smoke run")
    parser.add_argument("--only", action="append", choices=list(BENCHES), help="run only these")
    parser.add_argument("--out", type=Path, help="also write the reports to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    report = [f"# bench results ({'quick' if args.quick else 'full'} run)\n"]
    failed = []
    for name, (script, full, quick) in BENCHES.items():
        if args.only and name not in args.only:
            continue
        command = [sys.executable, str(HERE / f"{script}.py"), *(quick if args.quick else full)]
        print(f"\n## {name}: {' '.join(command[1:])}\n", flush=True)
        bench_started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        seconds = time.perf_counter() - bench_started
        print(done.stdout, flush=True)
        print(f"({name}: {seconds:.0f} s)", flush=True)
        report.append(f"\n## {name} ({seconds:.0f} s)\n\n{done.stdout}")
        if done.returncode:
            failed.append(name)
    total = time.perf_counter() - started
    report.append(f"\nwhole run: {total / 60:.1f} minutes\n")
    if args.out:
        args.out.write_text("".join(report))
    print(f"\nwhole run: {total / 60:.1f} minutes")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
