"""Tables over each limit of `nncore.rules`, with settings that make the limits small, so the
files stay tiny: every door a table comes in by is fed the same ones (test_ingest.py for the
engine and the command line, the Data and Predict page tests for the pages)."""

# Small limits, each table below over exactly one of them.
SETTINGS = {"NNSTUDIO_MAX_BYTES": "2000", "NNSTUDIO_MAX_CELLS": "300", "NNSTUDIO_MAX_COLUMNS": "8"}

OVER = {
    # 3 columns × 60 rows = 180 cells in 2,226 bytes
    "bytes": b"a,b,c\n" + b"1,2,a value long enough to take room\n" * 60,
    # 4 columns × 100 rows = 400 cells in 808 bytes
    "cells": b"a,b,c,d\n" + b"1,2,3,4\n" * 100,
    # 12 columns, 1 row
    "columns": (",".join(f"c{i}" for i in range(12)) + "\n" + "1," * 11 + "1\n").encode(),
}

# The start of each refusal, for a file named "big.csv"; the whole line is checked to be the
# same at every door.
STARTS = {
    "bytes": "big.csv is 2.2 kB, more than the limit of 2.0 kB.",
    "cells": "big.csv has about 100 rows × 4 columns = 400 cells, more than the 300 this studio "
    "takes.",
    "columns": "big.csv has 12 columns, more than the 8 this studio takes.",
}
SETTING_OF = {
    "bytes": "NNSTUDIO_MAX_BYTES",
    "cells": "NNSTUDIO_MAX_CELLS",
    "columns": "NNSTUDIO_MAX_COLUMNS",
}
