"""A run's files as one zip archive, for a single download."""

from __future__ import annotations

import io
import zipfile

from nncore.artifacts.report import REPORT, report_html
from nncore.artifacts.runfiles import RunFiles


def bundle(files: RunFiles) -> bytes:
    """Every file the run wrote, and its model report, as one zip archive made in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files.by_name().items():
            if path.exists():
                archive.write(path, arcname=name)
        if files.metrics.exists():
            archive.writestr(REPORT, report_html(files), compresslevel=1)
    return buffer.getvalue()
