"""Workspaces on disk: whole files under a killed writer, the index rebuilt from the run folders,
runs of dead processes marked interrupted, and the store's keys, quota, expiry and cap."""

import hashlib
import json
import logging
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from frames import mixed_frame, tiny_experiment

from nncore.data.ingest import read_table
from nncore.errors import DataError, NNCoreError
from nncore.rules import STORE
from nncore.run.workspace import StorePolicy, Workspace, WorkspaceStore
from nncore.run.workspace.files import this_process
from nncore.run.workspace.folder import RunRecord
from nncore.run.workspace.store import default_home

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = tiny_experiment("binary")


def csv_bytes(rows: int = 60, seed: int = 0) -> bytes:
    return mixed_frame(rows, seed=seed).to_csv(index=False).encode()


def child(code: str, *args, **options) -> subprocess.Popen:
    """A Python process running `code` with the engine importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env=env,
        text=True,
        **options,
    )


@pytest.fixture
def store(tmp_path):
    return WorkspaceStore(tmp_path / "home", StorePolicy())


@pytest.fixture
def workspace(store):
    return store.create()


def new_run(workspace, **options):
    table = workspace.table() or workspace.add_table(csv_bytes(), "data.csv").info
    return workspace.create_run(EXPERIMENT, table, **options)


def set_opened(workspace: Workspace, days_ago: float) -> None:
    """Move the workspace's last opening back, through its file."""
    path = workspace.folder / "workspace.json"
    info = json.loads(path.read_text())
    info["opened"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    path.write_text(json.dumps(info))


# ------------------------------------------------------------------------- what it keeps


def test_a_reopened_workspace_gives_back_its_table_experiment_and_settings(store, workspace):
    data = csv_bytes()
    added = workspace.add_table(data, "houses.csv")
    assert added.frame.equals(read_table(data, "houses.csv")[0])
    workspace.save_experiment(EXPERIMENT)
    workspace.save_settings({"model": {"layers": "16:relu"}, "page": "train"})

    again = store.open(workspace.token)
    loaded = again.load_table()
    assert loaded.info == added.info
    assert loaded.info.sha256 == hashlib.sha256(data).hexdigest()
    assert loaded.frame.equals(added.frame)
    assert again.table_bytes(added.info.id) == data
    assert again.experiment() == EXPERIMENT
    assert again.settings() == {"model": {"layers": "16:relu"}, "page": "train"}


def test_a_new_workspace_has_nothing_yet(workspace):
    assert workspace.table() is None
    assert workspace.load_table() is None
    assert workspace.experiment() is None
    assert workspace.settings() == {}
    assert workspace.runs() == []


def test_the_same_bytes_are_kept_once_and_the_last_added_table_is_in_use(workspace):
    first = workspace.add_table(csv_bytes(seed=1), "a.csv").info
    second = workspace.add_table(csv_bytes(seed=2), "b.csv").info
    assert workspace.table() == second
    assert workspace.add_table(csv_bytes(seed=1), "a again.csv").info == first
    assert workspace.tables() == [first, second]
    workspace.choose_table(second.id)
    assert workspace.table() == second


def test_a_table_over_the_upload_limits_is_refused_as_read_table_refuses_it(workspace, monkeypatch):
    monkeypatch.setenv("NNSTUDIO_MAX_BYTES", "200")
    data = csv_bytes()
    with pytest.raises(DataError) as expected:
        read_table(data, "big.csv")
    with pytest.raises(DataError) as refused:
        workspace.add_table(data, "big.csv")
    assert str(refused.value) == str(expected.value)
    assert workspace.tables() == []


def test_settings_are_bounded(workspace):
    with pytest.raises(NNCoreError, match="more than the 65.5 kB a workspace keeps"):
        workspace.save_settings({"text": "x" * 70_000})
    assert workspace.settings() == {}


def test_a_run_records_its_table_target_start_end_and_best_score(workspace):
    record = new_run(workspace, label="fast")
    assert (record.status, record.name, record.target, record.table_name) == (
        "queued",
        "run 1 · fast",
        "label",
        "data.csv",
    )
    assert record.started is None and record.ended is None
    assert (workspace.run_files(record.id).experiment).read_text() == EXPERIMENT.to_json()
    running = workspace.update_run(record.id, status="running")
    assert running.started is not None and running.ended is None
    workspace.run_files(record.id).history.write_text(
        "epoch,loss,val_loss\n0,0.9,0.8\n1,0.5,0.45\n2,0.4,0.6\n"
    )
    done = workspace.update_run(record.id, status="finished", message="all epochs")
    assert (done.status, done.score, done.message) == ("finished", 0.45, "all epochs")
    assert done.ended is not None
    assert workspace.runs() == [done]
    assert workspace.run(record.id) == done
    assert new_run(workspace, parent=record.id).parent == record.id


def test_a_run_records_its_datas_fingerprint_and_rows(workspace):
    table = workspace.add_table(csv_bytes(rows=60), "data.csv").info
    assert table.rows == 60
    assert table.id == hashlib.sha256(csv_bytes(rows=60)).hexdigest()[:16]
    record = workspace.create_run(EXPERIMENT, table)
    assert (record.table_id, record.table_rows) == (table.id, 60)
    assert workspace.run(record.id).table_rows == 60  # kept in run.json


def test_records_and_tables_written_before_rows_were_counted_still_load(workspace):
    table = workspace.add_table(csv_bytes(), "data.csv").info
    record = workspace.create_run(EXPERIMENT, table)
    table_file = workspace.folder / "tables" / table.id / "table.json"
    old_table = {k: v for k, v in json.loads(table_file.read_text()).items() if k != "rows"}
    table_file.write_text(json.dumps(old_table))
    run_file = workspace.run_files(record.id).folder / "run.json"
    old_run = {k: v for k, v in json.loads(run_file.read_text()).items() if k != "table_rows"}
    run_file.write_text(json.dumps(old_run))
    assert workspace.table_info(table.id).rows is None
    (listed,) = workspace.runs()
    assert (listed.id, listed.table_id, listed.table_rows) == (record.id, table.id, None)


def test_runs_compare_only_on_the_same_datas_bytes_and_target(workspace):
    first = workspace.add_table(csv_bytes(seed=1), "a.csv").info
    again = workspace.add_table(csv_bytes(seed=1), "a renamed.csv").info
    other = workspace.add_table(csv_bytes(seed=2), "a.csv").info  # same name, other bytes
    base = workspace.create_run(EXPERIMENT, first)
    same = workspace.create_run(EXPERIMENT, again)
    on_other = workspace.create_run(EXPERIMENT, other)
    numeric = EXPERIMENT.replace(data=tiny_experiment("regression").data)
    other_target = workspace.create_run(numeric, first)
    assert base.other_data(same) == ""
    assert base.other_data(on_other) == "trained on other data (a.csv)"
    assert base.other_data(other_target) == (
        f"predicts {numeric.data.target}, not {EXPERIMENT.data.target}"
    )
    unrecorded = RunRecord.from_dict({**base.to_dict(), "table_id": "", "table_name": ""})
    assert unrecorded.other_data(base) == "trained on other data (a.csv)"
    assert base.other_data(unrecorded) == "trained on other data (not recorded)"


def test_a_run_lookup_refuses_path_like_and_unknown_ids(workspace):
    new_run(workspace)
    for bad in ("../workspace", "..", "20990101-000000-000000-abcd", ""):
        with pytest.raises(NNCoreError, match="No run .* in this workspace"):
            workspace.run(bad)
        with pytest.raises(NNCoreError):
            workspace.delete_run(bad)
    with pytest.raises(NNCoreError):
        new_run(workspace, parent="20990101-000000-000000-abcd")
    assert len(workspace.runs()) == 1


def test_deleting_a_run_removes_its_folder_but_not_a_run_in_flight(workspace):
    ended = new_run(workspace)
    workspace.update_run(ended.id, status="stopped")
    live = new_run(workspace, status="running")  # owned by this process, which lives
    workspace.delete_run(ended.id)
    assert not (workspace.folder / "runs" / ended.id).exists()
    with pytest.raises(NNCoreError, match="is running. Stop it first"):
        workspace.delete_run(live.id)
    assert [r.id for r in workspace.runs()] == [live.id]


# ------------------------------------------------------------------------------- the index


def test_the_index_is_rebuilt_when_missing_or_unreadable(workspace):
    records = [new_run(workspace) for _ in range(3)]
    index = workspace.folder / "index.json"
    assert workspace.runs() == records
    index.unlink()
    assert workspace.runs() == records
    index.write_bytes(b'{"runs": {"20240101-000000-000000-abcd": ')  # cut off mid-write
    assert workspace.runs() == records
    index.write_text(json.dumps({"runs": {records[0].id: {"stamp": 1, "record": "nonsense"}}}))
    assert workspace.runs() == records
    assert set(json.loads(index.read_text())["runs"]) == {r.id for r in records}


def test_a_stale_index_follows_the_folders(workspace):
    first, second = new_run(workspace), new_run(workspace)
    index = workspace.folder / "index.json"
    workspace.runs()
    before = index.read_bytes()
    third = new_run(workspace)  # a folder the old index does not name
    second = workspace.update_run(second.id, status="running")  # a record newer than the index
    index.write_bytes(before)
    assert workspace.runs() == [first, second, third]

    workspace.runs()
    shutil.rmtree(workspace.folder / "runs" / first.id)  # a folder the index names, gone
    assert workspace.runs() == [second, third]


def test_a_run_folder_without_a_whole_run_json_is_not_listed_and_left_alone(workspace):
    kept = new_run(workspace)
    runs = workspace.folder / "runs"
    cut = runs / "20240101-000000-000000-aaaa"
    cut.mkdir()
    (cut / "run.json").write_text(json.dumps(kept.to_dict())[:40])
    empty = runs / "20240101-000000-000000-bbbb"
    empty.mkdir()
    strange = runs / "20240101-000000-000000-cccc"
    strange.mkdir()
    (strange / "run.json").write_text(json.dumps({**kept.to_dict(), "status": "dancing"}))
    building = runs / ".20240101-000000-000000-dddd.tmp"  # a run folder being put together
    building.mkdir()
    (building / "run.json").write_text(json.dumps(kept.to_dict()))
    assert workspace.runs() == [kept]
    assert cut.exists() and empty.exists() and strange.exists()


# ------------------------------------------------------------------- killed while writing

WRITER = """
    import hashlib, os, sys
    from pathlib import Path
    from nncore.config import DataSpec, Experiment
    from nncore.run.workspace import Workspace, write_atomic

    workspace = Workspace.at(Path(sys.argv[1]), create=True)
    experiment = Experiment(data=DataSpec(target="y"))
    for i in range(10_000):
        rows = "".join(f"{i},{j},{j % 7}\\n" for j in range(40_000))
        table = workspace.add_table(f"i,x,y\\n{rows}".encode(), f"table {i}.csv").info
        payload = os.urandom(4 * 2**20)
        record = workspace.create_run(
            experiment, table, label=hashlib.sha256(payload).hexdigest()
        )
        workspace.update_run(record.id, status="running")
        write_atomic(workspace.run_files(record.id).folder / "weights.bin", payload)
        workspace.update_run(record.id, status="finished")
        workspace.save_settings({"written": i, "padding": "x" * 30_000})
        print(i, flush=True)
"""


def test_a_writer_killed_mid_write_leaves_only_whole_items(tmp_path):
    folder = tmp_path / "ws"
    writer = child(WRITER, folder, stdout=subprocess.PIPE)
    # Killed after a varying number of whole rounds, while it writes the next.
    rounds = random.randint(2, 5)
    for _ in range(rounds):
        assert writer.stdout.readline(), "the writer ended early"
    writer.kill()
    writer.wait()
    writer.stdout.close()

    workspace = Workspace.at(folder)
    runs = workspace.runs()
    finished = [r for r in runs if r.status == "finished"]
    assert len(finished) >= rounds
    for record in finished:
        weights = (workspace.run_files(record.id).folder / "weights.bin").read_bytes()
        assert hashlib.sha256(weights).hexdigest() == record.label
    tables = workspace.tables()
    assert len(tables) >= rounds
    for table in tables:
        assert hashlib.sha256(workspace.table_bytes(table.id)).hexdigest() == table.sha256
    assert workspace.load_table().frame.shape == (40_000, 3)
    assert workspace.settings()["written"] >= rounds - 1
    # The round cut short left its run queued or running, its writer gone.
    workspace.recover()
    assert {r.status for r in workspace.runs()} <= {"finished", "interrupted"}


# --------------------------------------------------------------------------------- recover


def test_recover_marks_runs_of_dead_processes_interrupted_and_leaves_live_ones(workspace):
    code = """
        import sys
        from pathlib import Path
        from nncore.config import DataSpec, Experiment
        from nncore.run.workspace import Workspace

        workspace = Workspace.at(Path(sys.argv[1]))
        table = workspace.table()
        workspace.create_run(Experiment(data=DataSpec(target="label")), table, status="running")
    """
    workspace.add_table(csv_bytes(), "data.csv")
    done = child(code, workspace.folder)
    assert done.wait(timeout=120) == 0
    [orphan] = workspace.runs()
    assert orphan.status == "running" and orphan.owner["pid"] == done.pid
    live = new_run(workspace, status="running")
    # A record naming this pid with another start time: the pid was reused by a new process.
    reused = new_run(workspace, status="queued")
    record = workspace.run_files(reused.id).folder / "run.json"
    owner = {**this_process(), "start": (this_process()["start"] or 0) + 1}
    record.write_text(json.dumps({**reused.to_dict(), "owner": owner}))

    marked = workspace.recover()
    assert {r.id for r in marked} == {orphan.id, reused.id}
    statuses = {r.id: r.status for r in workspace.runs()}
    assert statuses == {orphan.id: "interrupted", live.id: "running", reused.id: "interrupted"}
    assert "while this run was running" in workspace.run(orphan.id).message
    assert workspace.recover() == []


def test_opening_a_workspace_recovers_it(store, workspace):
    """The studio opens a workspace after its server restarted; its runs then say so."""
    record = new_run(workspace, status="running")
    path = workspace.run_files(record.id).folder / "run.json"
    gone = {**this_process(), "boot": "another boot"}
    path.write_text(json.dumps({**record.to_dict(), "owner": gone}))
    assert store.open(workspace.token).run(record.id).status == "interrupted"


def test_recover_deletes_old_leftovers_of_killed_writers_only(workspace):
    old, young = workspace.folder / ".index.json.abc.tmp", workspace.folder / ".index.json.d.tmp"
    old.write_text("half")
    young.write_text("half")
    os.utime(old, (0, 0))
    workspace.recover()
    assert not old.exists() and young.exists()


# ---------------------------------------------------------------------------------- store


def test_a_token_opens_its_workspace_and_nothing_else_does(store, workspace, tmp_path):
    assert len(workspace.token) >= 22
    assert store.open(workspace.token).folder == workspace.folder
    outside = tmp_path / "outside"
    Workspace.create(outside)
    for bad in (
        "../../outside",
        "../" + workspace.token,
        workspace.token + "/../" + workspace.token,
        workspace.token[:-1],
        "",
        None,
        "A" * 22,
    ):
        assert store.open(bad) is None, bad
    assert store.create().token != workspace.token


def test_folders_and_files_are_readable_by_the_owner_only(store, workspace):
    workspace.add_table(csv_bytes(), "data.csv")
    workspace.save_experiment(EXPERIMENT)
    workspace.save_settings({"a": 1})
    record = new_run(workspace)
    (workspace.run_files(record.id).folder / "model.keras").write_bytes(b"as keras writes")
    workspace.update_run(record.id, status="finished")
    workspace.runs()
    checked = 0
    for path in [store.home, *store.home.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
        checked += 1
    assert checked > 12


def test_no_token_in_the_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store = WorkspaceStore(tmp_path / "home", StorePolicy(expiry_days=1, total=10**9))
    old = store.create()
    set_opened(old, days_ago=3)
    workspace = store.create()  # its sweep removes the old one
    assert store.open(old.token) is None
    workspace = store.open(workspace.token)
    workspace.add_table(csv_bytes(), "data.csv")
    workspace.recover()
    record = new_run(workspace)
    workspace.update_run(record.id, status="failed", message="it broke")
    workspace.delete_run(record.id)
    assert "removed 1 workspaces" in caplog.text  # the store logged, without naming them
    for token in (old.token, workspace.token):
        assert token not in caplog.text
        assert token not in repr(workspace)


def test_a_table_past_the_workspace_quota_is_refused_in_one_line(tmp_path):
    data = csv_bytes(200)
    store = WorkspaceStore(tmp_path / "home", StorePolicy(quota=len(data) * 3 // 2))
    workspace = store.create()
    workspace.add_table(data, "first.csv")
    with pytest.raises(NNCoreError) as refused:
        workspace.add_table(csv_bytes(200, seed=5), "second.csv")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("This table (")
    assert "past its limit of" in message and "Delete runs" in message
    assert [t.name for t in workspace.tables()] == ["first.csv"]


def test_a_full_workspace_refuses_a_new_run(tmp_path):
    data = csv_bytes(200)
    store = WorkspaceStore(tmp_path / "home", StorePolicy(quota=len(data) + 1000))
    workspace = store.create()
    table = workspace.add_table(data, "data.csv").info
    workspace.save_settings({"padding": "x" * 2000})  # settings are small, not counted ahead
    with pytest.raises(NNCoreError, match="Another run would take this workspace past"):
        workspace.create_run(EXPERIMENT, table)
    assert workspace.runs() == []


def test_the_sweep_removes_workspaces_not_opened_for_the_expiry(tmp_path):
    store = WorkspaceStore(tmp_path / "home", StorePolicy(expiry_days=7))
    stale, busy, fresh = store.create(), store.create(), store.create()
    new_run(busy, status="running")
    for workspace in (stale, busy):
        set_opened(workspace, days_ago=8)
    set_opened(fresh, days_ago=6)
    assert store.sweep() == 1
    assert store.open(stale.token) is None
    assert not stale.folder.exists()
    assert store.open(busy.token) is not None  # a run in flight keeps it
    assert store.open(fresh.token) is not None


def test_the_total_cap_removes_the_least_recently_opened_first(tmp_path):
    store = WorkspaceStore(tmp_path / "home", StorePolicy())
    made = []
    for days_ago in (3, 1, 2):
        workspace = store.create()
        workspace.add_table(csv_bytes(300, seed=days_ago), "data.csv")
        set_opened(workspace, days_ago)
        made.append(workspace)
    oldest, newest, middle = made
    size = sum(w.used_bytes() for w in made)
    capped = WorkspaceStore(store.home, StorePolicy(total=size - 1))
    assert capped.sweep() == 1
    assert [w.folder.exists() for w in made] == [False, True, True]
    tighter = WorkspaceStore(store.home, StorePolicy(total=newest.used_bytes()))
    assert tighter.sweep(keep=middle.token) == 1  # `keep` stays, so the next oldest goes
    assert [w.folder.exists() for w in made] == [False, False, True]


def test_where_workspaces_live(tmp_path, monkeypatch):
    for name in ("NNSTUDIO_HOME", "NNSTUDIO_HOSTED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_home() == tmp_path / "user" / ".nnstudio"
    assert StorePolicy.from_env() == StorePolicy()  # a local install bounds nothing

    monkeypatch.setenv("NNSTUDIO_HOSTED", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))  # as TMPDIR would set it
    assert default_home() == tmp_path / "temp" / "nnstudio"
    monkeypatch.setenv("NNSTUDIO_WORKSPACE_DAYS", "2")
    policy = StorePolicy.from_env()
    assert policy.expiry_days == 2 and policy.quota == 500 * 2**20 and policy.total == 10 * 2**30

    monkeypatch.setenv("NNSTUDIO_HOME", str(tmp_path / "chosen"))
    assert default_home() == tmp_path / "chosen"


def test_the_readme_lists_every_store_setting():
    readme = (ROOT / "README.md").read_text()
    settings = readme.split("## Server settings", 1)[1].split("\n## ", 1)[0]
    for setting in STORE:
        assert f"| `{setting.setting}` |" in settings, setting.setting


def test_the_workspace_modules_load_no_pandas_numpy_or_tensorflow():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, nncore.run.workspace; "
            "print(sorted({'numpy', 'pandas', 'tensorflow', 'keras'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.stdout.strip() == "[]", done.stderr
