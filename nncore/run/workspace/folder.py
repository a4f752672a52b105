"""One workspace: a folder holding what one user made, as plain files.

    workspace.json             when it was made and last opened; the table in use
    experiment.json            the experiment being edited
    settings.json              the pages' small settings, a JSON object
    tables/<id>/table.csv      a table, the bytes as uploaded (its id: the start of their sha256)
    tables/<id>/table.json     its name, size, rows, fingerprint and when it was added
    runs/<run id>/             a run: the files `nncore.artifacts.runfiles` names, and run.json
    index.json                 the runs' records, a cache of the run.json files

The folders appear whole: a table or a run is assembled under a hidden name and renamed into
place, so a folder under its own name always has its table.json or run.json. A folder that has
none all the same (damaged by hand) is not listed and is left alone: this code never deletes
what it cannot read. Hidden leftovers of killed writers are deleted by `recover`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

from nncore.artifacts import runfiles
from nncore.artifacts.runfiles import RunFiles
from nncore.config import Experiment, monitor_mode
from nncore.errors import DataError, NNCoreError
from nncore.rules import WORKSPACE_BYTES, hosted
from nncore.run.workspace.files import (
    folder_bytes,
    make_folder,
    process_alive,
    read_json,
    remove_folder,
    remove_leftovers,
    restrict,
    this_process,
    write_atomic,
    write_json,
)
from nncore.safejson import Bounds

if TYPE_CHECKING:
    import pandas as pd

WORKSPACE_FILE = "workspace.json"
INDEX_FILE = "index.json"
EXPERIMENT_FILE = "experiment.json"
SETTINGS_FILE = "settings.json"
RUN_FILE = "run.json"
TABLE_FILE = "table.json"
TABLE_BYTES = "table.csv"
TABLES, RUNS = "tables", "runs"

Status = Literal["queued", "running", "finished", "stopped", "failed", "interrupted"]
STATUSES: tuple[str, ...] = get_args(Status)
IN_FLIGHT = ("queued", "running")
SETTINGS_BYTES = 64 * 1024
MESSAGE_CHARS = 1_000  # what safejson's default bounds read back of one text
RUN_ID = re.compile(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{4}")  # sorts as they were made
TABLE_ID = re.compile(r"[0-9a-f]{16}")
_LOCK = threading.RLock()  # one writer at a time of the index and of a run's record


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class TableInfo:
    id: str
    name: str
    bytes: int
    sha256: str
    added: str
    rows: int | None = None  # None for a table kept before tables counted their rows


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What run.json says of a run: who it is, where it stands, what it learned from."""

    id: str
    name: str
    status: Status
    created: str
    label: str = ""
    parent: str | None = None  # the run it continues
    message: str = ""
    table_id: str = ""  # the start of the sha256 of the table's bytes: the data's fingerprint
    table_name: str = ""
    table_rows: int | None = None  # None for a run recorded before runs counted them
    target: str = ""
    monitor: str = ""
    score: float | None = None  # the best value of `monitor`, once the run has ended
    started: str | None = None
    ended: str | None = None
    owner: dict[str, Any] = field(default_factory=dict)  # the process that runs it

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> RunRecord | None:
        """The record in `raw`, or None when it is not one (a file edited by hand, another
        version's)."""
        if not isinstance(raw, dict) or set(raw) - {f.name for f in fields(cls)}:
            return None
        try:
            record = cls(**raw)
        except TypeError:  # a required field missing
            return None
        optional_text = (record.started, record.ended, record.parent)
        texts = (record.id, record.name, record.created, record.label, record.message)
        texts += (record.table_id, record.table_name, record.target, record.monitor)
        valid = (
            RUN_ID.fullmatch(str(record.id))
            and record.status in STATUSES
            and all(isinstance(t, str) for t in texts)
            and all(t is None or isinstance(t, str) for t in optional_text)
            and (record.score is None or isinstance(record.score, int | float))
            and (record.table_rows is None or type(record.table_rows) is int)
            and isinstance(record.owner, dict)
        )
        return record if valid else None

    def other_data(self, other: RunRecord) -> str:
        """Why `other` was not trained on this run's data and target, in words; "" when it was
        (the same table's bytes, the same target), so that their scores compare."""
        if not self.table_id or other.table_id != self.table_id:
            return f"trained on other data ({other.table_name or 'not recorded'})"
        if other.target != self.target:
            return f"predicts {other.target or 'another target'}, not {self.target}"
        return ""


class LoadedTable(NamedTuple):
    """A stored table, read: its record, the DataFrame, and how it was read in words."""

    info: TableInfo
    frame: pd.DataFrame
    how: str


class Workspace:
    """The folder of one user's work. Safe to use from several threads; several processes may
    use it too (the studio and the command line), each writing only the runs it runs.

    `quota` bounds the bytes the folder may hold (None: unbounded, on a local install).
    """

    def __init__(self, folder: Path, quota: int | None = None, token: str | None = None):
        self.folder = Path(folder)
        self.quota = quota
        self.token = token  # the key it was opened with in a store; None from the command line

    def __repr__(self) -> str:  # without the folder: its name is the token, never to be logged
        return "<Workspace>"

    @classmethod
    def create(cls, folder: Path, quota: int | None = None, token: str | None = None):
        """Make `folder` (which must not hold anything else) a workspace."""
        make_folder(folder)
        for part in (TABLES, RUNS):
            make_folder(folder / part)
        stamp = now()
        write_json(folder / WORKSPACE_FILE, {"created": stamp, "opened": stamp, "table": None})
        return cls(folder, quota, token)

    @classmethod
    def at(cls, folder: Path, *, create: bool = False) -> Workspace:
        """The workspace in `folder`, for the command line; with `create`, a missing or empty
        folder becomes one. Raises NNCoreError, in one line, for any other folder."""
        quota = WORKSPACE_BYTES.value() if hosted() else None
        if (folder / WORKSPACE_FILE).is_file():
            return cls(folder, quota)
        if create and (not folder.exists() or folder.is_dir() and not any(folder.iterdir())):
            if not folder.parent.is_dir():
                raise NNCoreError(
                    f"No folder {folder.parent} to make the workspace {folder.name} in. "
                    "Check the path, or create that folder first."
                )
            return cls.create(folder, quota)
        if not folder.exists():
            raise NNCoreError(
                f"No workspace at {folder}: the folder does not exist. Check the path."
            )
        raise NNCoreError(
            f"{folder} is not a workspace (it has no {WORKSPACE_FILE}). Pass a workspace's folder "
            "(the studio's, or one `train --workspace` made), or a new or empty folder."
        )

    # ---------------------------------------------------------------------------- the folder

    def info(self) -> dict[str, Any]:
        """workspace.json: created, opened, table (the id of the table in use, or None)."""
        raw = read_json(self.folder / WORKSPACE_FILE)
        return raw if isinstance(raw, dict) else {}

    def _update_info(self, **changes: Any) -> None:
        with _LOCK:
            write_json(self.folder / WORKSPACE_FILE, {**self.info(), **changes})

    def touch(self) -> None:
        """Record that the workspace was opened now (expiry counts from it)."""
        self._update_info(opened=now())

    def used_bytes(self) -> int:
        return folder_bytes(self.folder)

    def _make_room(self, more: int, what: str) -> None:
        if self.quota is None:
            return
        used = self.used_bytes()
        if used + more > self.quota:
            raise NNCoreError(
                f"{what} would take this workspace past its limit of {_size(self.quota)} (it "
                f"holds {_size(used)}). Delete runs you no longer need, or start a new workspace."
            )

    # -------------------------------------------------------------------------------- tables

    def add_table(self, data: bytes, name: str) -> LoadedTable:
        """Keep the uploaded `data` (the file `name`) and make it the table in use. Refused, in
        one line, when it is over the upload limits (as `read_table` refuses it) or over the
        workspace's quota. The same bytes twice are kept once."""
        from nncore.data.ingest import read_table, sheet_of

        frame, how = read_table(data, name)
        sha = hashlib.sha256(data).hexdigest()
        # Two sheets of one workbook are two tables.
        table_id = hashlib.sha256(data + sheet_of(name).encode()).hexdigest()[:16]
        final = self.folder / TABLES / table_id
        info = self._table_info(table_id)
        if info is None:
            self._make_room(len(data), f"This table ({_size(len(data))})")
            info = TableInfo(table_id, name, len(data), sha, now(), len(frame))
            building = self.folder / TABLES / f".{table_id}-{secrets.token_hex(4)}.tmp"
            make_folder(building)
            write_atomic(building / TABLE_BYTES, data)
            write_json(building / TABLE_FILE, asdict(info))
            try:
                building.rename(final)
            except OSError:  # another writer put the same bytes there first
                remove_folder(building)
                info = self._table_info(table_id) or info
        self._update_info(table=table_id)
        return LoadedTable(info, frame, how)

    def tables(self) -> list[TableInfo]:
        """The stored tables, oldest first."""
        found = (self._table_info(p.name) for p in _entries(self.folder / TABLES, TABLE_ID))
        return sorted((t for t in found if t is not None), key=lambda t: t.added)

    def table(self) -> TableInfo | None:
        """The table in use (the one added or chosen last), or None."""
        chosen = self.info().get("table")
        return self._table_info(chosen) if isinstance(chosen, str) else None

    def choose_table(self, table_id: str) -> None:
        self.table_info(table_id)
        self._update_info(table=table_id)

    def table_path(self, table_id: str) -> Path:
        """The file of the stored table's bytes (for a job that reads it itself)."""
        self.table_info(table_id)
        return self.folder / TABLES / table_id / TABLE_BYTES

    def table_bytes(self, table_id: str) -> bytes:
        """The bytes as uploaded; DataError if they are no longer what was stored."""
        info = self.table_info(table_id)
        data = (self.folder / TABLES / table_id / TABLE_BYTES).read_bytes()
        if hashlib.sha256(data).hexdigest() != info.sha256:
            raise DataError(f"The stored table {info.name} is damaged. Upload it again.")
        return data

    def load_table(self, table_id: str | None = None) -> LoadedTable | None:
        """The table `table_id` (default: the one in use) read as an upload is; None when the
        workspace has no table in use."""
        from nncore.data.ingest import read_table

        info = self.table_info(table_id) if table_id else self.table()
        if info is None:
            return None
        return LoadedTable(info, *read_table(self.table_bytes(info.id), info.name))

    def _table_info(self, table_id: str) -> TableInfo | None:
        if not TABLE_ID.fullmatch(table_id):
            return None
        raw = read_json(self.folder / TABLES / table_id / TABLE_FILE)
        try:
            return TableInfo(**raw) if isinstance(raw, dict) else None
        except TypeError:
            return None

    def table_info(self, table_id: str) -> TableInfo:
        """The stored table `table_id`; DataError, in one line, when there is none."""
        info = self._table_info(table_id)
        if info is None:
            raise DataError(f"This workspace has no table {table_id!r}. Upload the table again.")
        return info

    # ------------------------------------------------------------- the experiment and settings

    def save_experiment(self, experiment: Experiment) -> None:
        write_atomic(self.folder / EXPERIMENT_FILE, experiment.to_json())

    def experiment(self) -> Experiment | None:
        """The experiment being edited, or None before one was saved. ConfigError, in one line,
        when the file no longer reads as an experiment (edited by hand, another version's)."""
        path = self.folder / EXPERIMENT_FILE
        return Experiment.from_json(path.read_bytes()) if path.is_file() else None

    def save_settings(self, settings: dict[str, Any]) -> None:
        """Keep the pages' settings: a JSON object of at most 64 kB."""
        text = json.dumps(settings, indent=1, allow_nan=False)
        if len(text) > SETTINGS_BYTES:
            raise NNCoreError(
                f"The page settings take {_size(len(text))}, more than the "
                f"{_size(SETTINGS_BYTES)} a workspace keeps. Keep large values in the workspace's "
                "tables or runs."
            )
        write_atomic(self.folder / SETTINGS_FILE, text)

    def settings(self) -> dict[str, Any]:
        raw = read_json(self.folder / SETTINGS_FILE, Bounds(text=SETTINGS_BYTES))
        return raw if isinstance(raw, dict) else {}

    # ---------------------------------------------------------------------------------- runs

    def create_run(
        self,
        experiment: Experiment,
        table: TableInfo,
        *,
        name: str = "",
        label: str = "",
        parent: str | None = None,
        status: Status = "queued",
    ) -> RunRecord:
        """A new run of `experiment` on `table`, recorded before its job starts (named "run N"
        unless `name` is given), its folder holding run.json and experiment.json. The runs'
        files will go to `run_files(record.id)`."""
        self._make_room(0, "Another run")
        if parent is not None:
            self.run(parent)  # refuses an unknown parent
        runs = self.runs()
        record = RunRecord(
            id=f"{datetime.now(UTC):%Y%m%d-%H%M%S-%f}-{secrets.token_hex(2)}",
            name=name or f"run {len(runs) + 1}" + (f" · {label}" if label else ""),
            label=label,
            parent=parent,
            status=status,
            created=now(),
            table_id=table.id,
            table_name=table.name,
            table_rows=table.rows,
            target=experiment.data.target,
            monitor=experiment.training.monitor,
            started=now() if status == "running" else None,
            owner=this_process(),
        )
        building = self.folder / RUNS / f".{record.id}.tmp"
        make_folder(building)
        write_atomic(building / runfiles.EXPERIMENT, experiment.to_json())
        write_json(building / RUN_FILE, record.to_dict())
        building.rename(self.folder / RUNS / record.id)
        return record

    def update_run(
        self,
        run_id: str,
        *,
        status: Status | None = None,
        message: str | None = None,
        name: str | None = None,
        label: str | None = None,
    ) -> RunRecord:
        """Change a run's record. Going to "queued" or "running" makes this process its owner,
        and "running" stamps its start; going to an end (finished, stopped, failed,
        interrupted) stamps its end and its best score."""
        with _LOCK:
            record = self.run(run_id)
            changes: dict[str, Any] = {
                k: v for k, v in (("name", name), ("label", label)) if v is not None
            }
            if message is not None:
                changes["message"] = message[:MESSAGE_CHARS]
            if status is not None:
                if status not in STATUSES:
                    raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
                changes["status"] = status
                if status in IN_FLIGHT:  # this process runs it now (an interrupted run finished)
                    changes["owner"] = this_process()
                if status == "running" and record.started is None:
                    changes["started"] = now()
                if status not in IN_FLIGHT:
                    changes["ended"] = now()
                    changes["score"] = _best_score(self.run_files(run_id).history, record.monitor)
                    restrict(self.folder / RUNS / run_id)
            record = replace(record, **changes)
            write_json(self.folder / RUNS / run_id / RUN_FILE, record.to_dict())
            return record

    def run(self, run_id: str) -> RunRecord:
        """The record of `run_id`; NNCoreError, in one line, for a run that is not here."""
        record = None
        if isinstance(run_id, str) and RUN_ID.fullmatch(run_id):
            record = RunRecord.from_dict(read_json(self.folder / RUNS / run_id / RUN_FILE))
        if record is None or record.id != run_id:
            raise NNCoreError(
                f"No run {run_id!r} in this workspace. List the runs to see their ids."
            )
        return record

    def run_files(self, run_id: str) -> RunFiles:
        return RunFiles(self.folder / RUNS / run_id)

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first: from the index, after checking it against the run folders
        (a run written, added or removed since, by any process, is read again from its folder;
        a damaged index is rebuilt)."""
        with _LOCK:
            cached = read_json(self.folder / INDEX_FILE, Bounds(depth=8))
            cached = cached.get("runs") if isinstance(cached, dict) else None
            cached = cached if isinstance(cached, dict) else {}
            index: dict[str, Any] = {}
            for folder in _entries(self.folder / RUNS, RUN_ID):
                stamp = _stamp(folder / RUN_FILE)
                if stamp is None:
                    continue
                entry = cached.get(folder.name)
                if isinstance(entry, dict) and entry.get("stamp") == stamp:
                    record = RunRecord.from_dict(entry.get("record"))
                    if record is not None and record.id == folder.name:
                        index[folder.name] = entry
                        continue
                record = RunRecord.from_dict(read_json(folder / RUN_FILE))
                if record is not None and record.id == folder.name:
                    index[folder.name] = {"stamp": stamp, "record": record.to_dict()}
            if index != cached:
                write_json(self.folder / INDEX_FILE, {"runs": index})
        records = (RunRecord.from_dict(entry["record"]) for entry in index.values())
        return sorted((r for r in records if r is not None), key=lambda r: r.id)

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its files. Refused for a run in flight: stop it first."""
        record = self.run(run_id)
        if record.in_flight and process_alive(record.owner):
            raise NNCoreError(f"{record.name} is {record.status}. Stop it first, then delete it.")
        remove_folder(self.folder / RUNS / run_id)

    def recover(self) -> list[RunRecord]:
        """After a restart: mark "interrupted" every run that says it is queued or running but
        whose process is gone, and delete what killed writers left behind. Returns the runs
        marked."""
        for part in (self.folder, self.folder / TABLES, self.folder / RUNS):
            remove_leftovers(part)
        marked = []
        for record in self.runs():
            if record.in_flight and not process_alive(record.owner):
                message = f"The server stopped while this run was {record.status}."
                marked.append(self.update_run(record.id, status="interrupted", message=message))
        return marked

    def has_live_runs(self) -> bool:
        return any(r.in_flight and process_alive(r.owner) for r in self.runs())


def _entries(folder: Path, pattern: re.Pattern) -> list[Path]:
    """The folders in `folder` named by `pattern` (hidden ones, being built or removed, never)."""
    try:
        return [p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_dir()]
    except FileNotFoundError:
        return []


def _stamp(path: Path) -> list[int] | None:
    """What changes whenever `path` is rewritten: each atomic write makes a new file (inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def _best_score(history: Path, monitor: str) -> float | None:
    """The best value of `monitor` in history.csv, or None without one."""
    try:
        with history.open(newline="") as rows:
            values = [row.get(monitor, "") for row in csv.DictReader(rows)]
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    numbers = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            numbers.append(number)
    if not numbers or not monitor:
        return None
    return max(numbers) if monitor_mode(monitor) == "max" else min(numbers)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def uploaded_name(path: Path) -> str:
    """The name a table was uploaded as, given the file `Workspace.table_path` gave (the name
    says how to read the bytes: a workbook's sheet, Parquet or CSV); the file's own name for a
    file outside a workspace."""
    info = read_json(path.parent / TABLE_FILE) if path.name == TABLE_BYTES else None
    name = info.get("name") if isinstance(info, dict) else None
    return name if isinstance(name, str) else path.name
