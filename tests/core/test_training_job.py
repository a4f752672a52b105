"""A real training as a job: live history, stop, result, and TensorFlow only in the worker."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, "tests/core")
    from frames import mixed_frame, tiny_experiment
    from nncore.config import TrainSpec
    from nncore.run.jobs import JobRunner
    from nncore.run.records import EpochReport, Progress
    from nncore.run.tasks import train_job

    out = sys.argv[1]
    frame = mixed_frame(n=2000, task="binary")
    long_run = tiny_experiment("binary").replace(
        training=TrainSpec(epochs=500, early_stopping=False)
    )
    report = {}
    with JobRunner(max_concurrent=1) as runner:
        quick = runner.submit(train_job, frame, tiny_experiment("binary"), out + "/quick")
        stopped = runner.submit(train_job, frame, long_run, out + "/stopped")
        deadline = time.monotonic() + 60
        while quick.status == "queued" and time.monotonic() < deadline:
            time.sleep(0.01)  # the dispatcher hands the first job to the free slot
        report["queued_position"] = stopped.queue_position()
        quick_result = quick.result(timeout=300)
        deadline = time.monotonic() + 300
        while len(stopped.history()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        report["live_epochs"] = len(stopped.history())
        report["progress"] = repr(Progress.from_dict(stopped.progress()))
        report["epoch_record"] = repr(EpochReport.from_record(stopped.history()[0]))
        stopped.stop()
        stopped_result = stopped.result(timeout=120)
    report.update(
        tensorflow_here="tensorflow" in sys.modules or "keras" in sys.modules,
        quick_status=quick.status,
        quick_epochs=len(quick_result.history),
        quick_history=len(quick.history()),
        stopped_status=stopped.status,
        stopped_by=stopped_result.training.stopped_by,
        stopped_epochs=len(stopped_result.history),
        files=sorted(p.name for p in stopped_result.out_dir.iterdir()),
    )
    print(json.dumps(report))
    """
)


def test_training_job_reports_live_stops_and_keeps_tensorflow_out(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["tensorflow_here"] is False
    assert report["queued_position"] == 1
    assert report["quick_status"] == "done"
    assert report["quick_epochs"] == report["quick_history"] > 0
    assert report["live_epochs"] >= 3
    # The worker speaks the records the pages read: epochs counted from 0 in them.
    assert report["progress"].startswith("Progress(epoch=")
    assert report["epoch_record"].startswith("EpochReport(epoch=0, logs={'loss': ")
    assert report["stopped_status"] == "stopped"
    assert report["stopped_by"] == "user"
    assert 3 <= report["stopped_epochs"] < 500
    assert {"model.keras", "model.h5", "schema.json"} <= set(report["files"])
