"""The workspaces of a server, each in a folder named by its token: the key a browser holds (in
its address) and the only way in. A token is unguessable, checked against a strict pattern before
it names a folder, and never logged.

Where they live (`nncore.rules` STORE): `NNSTUDIO_HOME` when set; else, on a local install,
`~/.nnstudio`, kept until deleted; on a hosted server (`NNSTUDIO_HOSTED=1`) the temporary
folder, where a quota bounds each workspace, workspaces not opened for some days expire, and a
total cap removes the least recently opened first.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nncore.rules import STORE_BYTES, STORE_HOME, WORKSPACE_BYTES, WORKSPACE_DAYS, hosted
from nncore.run.workspace.files import (
    folder_bytes,
    make_folder,
    remove_folder,
    remove_leftovers,
)
from nncore.run.workspace.folder import WORKSPACE_FILE, Workspace

log = logging.getLogger(__name__)
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 16 random bytes
WORKSPACES = "workspaces"


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """The bounds of a store; None for none (a local install has none)."""

    quota: int | None = None  # bytes per workspace
    expiry_days: float | None = None  # since last opened
    total: int | None = None  # bytes of all workspaces together

    @classmethod
    def from_env(cls) -> StorePolicy:
        if not hosted():
            return cls()
        return cls(WORKSPACE_BYTES.value(), WORKSPACE_DAYS.value(), STORE_BYTES.value())


def default_home() -> Path:
    """`NNSTUDIO_HOME`, else the temporary folder's nnstudio on a hosted server, else
    ~/.nnstudio."""
    if STORE_HOME.value():
        return Path(STORE_HOME.value()).expanduser()
    if hosted():
        return Path(tempfile.gettempdir()) / "nnstudio"
    return Path.home() / ".nnstudio"


class WorkspaceStore:
    """Creates, opens and sweeps the workspaces under `home`."""

    def __init__(self, home: Path | None = None, policy: StorePolicy | None = None):
        self.home = Path(home) if home is not None else default_home()
        self.policy = policy if policy is not None else StorePolicy.from_env()
        self.root = self.home / WORKSPACES
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_folder(self.root)

    def create(self) -> Workspace:
        """A new, empty workspace; its key is `.token`. Sweeps the store first, so that a new
        visitor finds room."""
        self.sweep()
        token = secrets.token_urlsafe(16)
        return Workspace.create(self.root / token, self.policy.quota, token)

    def open(self, token: str) -> Workspace | None:
        """The workspace of `token`, marked as opened now, its runs whose process is gone (a
        server restarted) marked interrupted; None for anything that is not the token of an
        existing workspace."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            return None
        folder = self.root / token
        if not (folder / WORKSPACE_FILE).is_file():
            return None
        workspace = Workspace(folder, self.policy.quota, token)
        workspace.touch()
        workspace.recover()
        return workspace

    def sweep(self, keep: str | None = None) -> int:
        """Remove the workspaces past the policy: those not opened for `expiry_days`, then the
        least recently opened while all together hold more than `total` bytes. A workspace with
        a run in flight stays, and so does `keep`. Returns how many were removed."""
        remove_leftovers(self.root)
        policy = self.policy
        if policy.expiry_days is None and policy.total is None:
            return 0
        found = sorted(  # least recently opened first
            (self._opened(folder), folder)
            for folder in self.root.iterdir()
            if TOKEN.fullmatch(folder.name) and folder.is_dir() and folder.name != keep
        )
        days = policy.expiry_days
        cutoff = time.time() - days * 86400 if days is not None else -math.inf
        total = folder_bytes(self.root) if policy.total is not None else 0
        removed = 0
        for opened, folder in found:
            over = policy.total is not None and total > policy.total
            if opened >= cutoff and not over:
                break  # the rest were opened later still, and the store is within its cap
            if Workspace(folder).has_live_runs():
                continue
            total -= folder_bytes(folder)
            remove_folder(folder)
            removed += 1
        if removed:
            log.info("removed %d workspaces past the store's expiry or size cap", removed)
        return removed

    @staticmethod
    def _opened(folder: Path) -> float:
        """When the workspace was last opened, in seconds since the epoch; a folder without a
        readable record counts from its own last change."""
        opened = Workspace(folder).info().get("opened")
        try:
            return datetime.fromisoformat(opened).timestamp()
        except (TypeError, ValueError):
            return folder.stat().st_mtime
