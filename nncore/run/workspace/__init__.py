"""Workspaces: what one user made (tables, the experiment, every run with its status) kept in a
folder of plain files that outlives a browser tab, a reload and a server restart, after MLflow's
file store: each run a folder, every file written whole, an index rebuilt from the folders.

    store = WorkspaceStore()                 # NNSTUDIO_HOME, or ~/.nnstudio, or hosted: <temp>
    workspace = store.create()               # workspace.token: the key, for the address
    workspace = store.open(token)            # None for a token that opens nothing
    table = workspace.add_table(data, "houses.csv")
    record = workspace.create_run(experiment, table.info)
    workspace.update_run(record.id, status="running")   # ... "finished"
    workspace.runs()

The command line opens a workspace by its folder: `Workspace.at(path, create=True)`.
"""

from nncore.run.workspace.files import write_atomic
from nncore.run.workspace.folder import (
    STATUSES,
    LoadedTable,
    RunRecord,
    TableInfo,
    Workspace,
)
from nncore.run.workspace.store import StorePolicy, WorkspaceStore

__all__ = [
    "STATUSES",
    "LoadedTable",
    "RunRecord",
    "StorePolicy",
    "TableInfo",
    "Workspace",
    "WorkspaceStore",
    "write_atomic",
]
