"""The command line shares the studio's store: `train --workspace` writes a run the studio lists,
`runs --workspace` lists and deletes runs, mistakes exit 2 with one line."""

import hashlib
import shutil

import pytest
from clirun import cli
from frames import mixed_frame

from nncore.artifacts.runfiles import RUN_FILES
from nncore.run.workspace import Workspace


def refused(done) -> str:
    """The one line of a refusal; fails unless the command exited 2 with exactly one line."""
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("workspace_cli")
    data = root / "houses.csv"
    mixed_frame(task="binary").to_csv(data, index=False)
    options = ("--data", data, "--target", "label", "--epochs", "3", "--seed", "1", "--quiet")
    done = cli("train", *options, "--workspace", root / "ws")
    assert done.returncode == 0, done.stderr
    return root, data, done


def test_train_writes_a_run_the_workspace_lists(trained):
    root, data, done = trained
    workspace = Workspace.at(root / "ws")
    [record] = workspace.runs()
    assert (record.status, record.target, record.table_name) == ("finished", "label", "houses.csv")
    assert record.score is not None and record.ended is not None
    assert record.id in done.stdout
    folder = workspace.run_files(record.id).folder
    assert set(RUN_FILES) | {"run.json"} <= {p.name for p in folder.iterdir()}
    [table] = workspace.tables()
    assert table.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert workspace.table() == table


def test_runs_lists_the_run(trained):
    root, _, _ = trained
    record = Workspace.at(root / "ws").runs()[0]
    done = cli("runs", "--workspace", root / "ws")
    assert done.returncode == 0, done.stderr
    header, line = done.stdout.strip().splitlines()
    assert header.split() == ["id", "name", "status", "target", "table", "best", "created", "(UTC)"]
    assert line.split()[:6] == [record.id, "run", "1", "finished", "label", "houses.csv"]
    assert f"val_loss {record.score:.4g}" in line


def test_runs_delete_removes_the_run(trained, tmp_path):
    root, _, _ = trained
    shutil.copytree(root / "ws", tmp_path / "ws")
    record = Workspace.at(tmp_path / "ws").runs()[0]
    done = cli("runs", "--workspace", tmp_path / "ws", "--delete", record.id)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "ws" / "runs" / record.id).exists()
    listed = cli("runs", "--workspace", tmp_path / "ws")
    assert listed.returncode == 0 and "no runs" in listed.stdout


def test_a_bad_run_id_exits_2_with_one_line(trained):
    root, _, _ = trained
    for bad in ("../ws", "20990101-000000-000000-abcd"):
        line = refused(cli("runs", "--workspace", root / "ws", "--delete", bad))
        assert line.startswith("error: No run") and "List the runs" in line
    assert len(Workspace.at(root / "ws").runs()) == 1


def test_a_bad_workspace_folder_exits_2_with_one_line(trained, tmp_path):
    root, data, _ = trained
    assert "does not exist" in refused(cli("runs", "--workspace", tmp_path / "missing"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert "is not a workspace" in refused(cli("runs", "--workspace", tmp_path / "other"))
    options = ("--data", data, "--target", "label", "--epochs", "1", "--quiet")
    line = refused(cli("train", *options, "--workspace", tmp_path / "other"))
    assert "is not a workspace" in line
    assert "not both" in refused(cli("train", *options, "--workspace", root / "ws", "--out", root))
    assert "--out FOLDER" in refused(cli("train", *options))
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]


def test_a_target_the_table_lacks_exits_2_before_any_run_is_recorded(trained, tmp_path):
    _, data, _ = trained
    line = refused(cli("train", "--data", data, "--target", "nope", "--workspace", tmp_path / "w"))
    assert "nope" in line
    assert Workspace.at(tmp_path / "w").runs() == []
