"""Every rule of the studio, written once: the tables the specs, pages, plots, code generator and
allow-lists read.

Adding an activation, a metric or a limit is one row here (plus its test); nothing else keeps a
copy of a name, a range, a default or a help text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# ------------------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class Limit:
    """A bound that protects a shared server, with the setting that raises it on one's own
    machine."""

    name: str
    default: int
    setting: str  # the environment variable (or server option) that changes it
    help: str

    def value(self) -> int:
        """The bound in force: the setting's value when set to a positive whole number."""
        raw = os.environ.get(self.setting, "")
        try:
            value = int(raw)
        except ValueError:
            return self.default
        return value if value > 0 else self.default

    def advice(self) -> str:
        """How to lift the bound where one runs the studio oneself, for the end of a refusal."""
        return f"on your own machine, set {self.setting} to raise this limit"


@dataclass(frozen=True, slots=True)
class TableLimits:
    """What one table that comes in (an upload, a file on the command line) may hold."""

    max_bytes: int | None
    max_cells: int | None
    max_columns: int | None

    @classmethod
    def from_env(cls) -> TableLimits:
        return cls(
            max_bytes=UPLOAD_BYTES.value(),
            max_cells=TABLE_CELLS.value(),
            max_columns=TABLE_COLUMNS.value(),
        )


UPLOAD_BYTES = Limit(
    "bytes",
    25 * 2**20,
    "NNSTUDIO_MAX_BYTES",
    "bytes one table may have (the upload widget's own limit is .streamlit/config.toml's "
    "maxUploadSize)",
)
TABLE_CELLS = Limit(
    "cells",
    10_000_000,
    "NNSTUDIO_MAX_CELLS",
    "rows × columns one table may hold: reading a table peaks at several times its final size, "
    "and every session keeps its own table",
)
TABLE_COLUMNS = Limit(
    "columns",
    5_000,
    "NNSTUDIO_MAX_COLUMNS",
    "columns one table may have: profiling and one input per column grow with it",
)
LIMITS = (UPLOAD_BYTES, TABLE_CELLS, TABLE_COLUMNS)
