"""How long a stop request takes to end training, on the notes' model.

    python bench/stop_latency.py [--rows 60000] [--repeats 5]

A thread requests the stop at a random moment inside an epoch; the figure is the time from the
request to `train` returning (best weights restored).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def _request_stop(delay: float, requested: threading.Event, when: dict) -> None:
    time.sleep(delay)
    when["requested"] = time.perf_counter()
    requested.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import keras

    from nncore.config import CompileSpec, Experiment, TrainSpec
    from nncore.learn.model import build_model, compile_model
    from nncore.learn.train import Listener, train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.rows, 12)).astype(np.float32)
    y = (np.tanh(x[:, :4]).sum(1) + 0.1 * rng.normal(size=args.rows)).astype(np.float32)
    cut = int(args.rows * 0.7)
    latencies = []
    for repeat in range(args.repeats):
        keras.utils.set_random_seed(repeat)
        model = build_model(12, Experiment().layers, "regression")
        compile_model(model, CompileSpec(), "regression")
        requested, when = threading.Event(), {}
        delay = 2.0 + rng.uniform(0, 1)  # past the first trace, somewhere inside an epoch
        threading.Thread(target=_request_stop, args=(delay, requested, when), daemon=True).start()
        outcome = train(
            model,
            x[:cut],
            y[:cut],
            x[cut:],
            y[cut:],
            TrainSpec(epochs=1000),
            seed=repeat,
            listener=Listener(should_stop=requested.is_set),
        )
        latencies.append(time.perf_counter() - when["requested"])
        assert outcome.stopped_by == "user", outcome.stopped_by
    print(
        f"stop latency over {args.repeats} stops ({args.rows} rows, batch 32): median "
        f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
