"""The model report: one HTML file that draws with no network and states the run's numbers."""

import json
import zipfile
from html.parser import HTMLParser
from io import BytesIO

import pytest

from nncore.artifacts.bundle import bundle
from nncore.artifacts.report import REPORT, report_html
from nncore.artifacts.runfiles import RunFiles
from nncore.errors import NNCoreError
from tests.core.clirun import cli

SECTIONS = [
    "the-data",
    "warnings",
    "the-experiment",
    "training-curves",
    "scores-beside-the-baselines",
    "the-most-important-columns",
    "limits-of-this-model",
]


class Page(HTMLParser):
    """What a browser would fetch or run: every script, every src/href, the section ids."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.links: list[str] = []
        self.sections: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_the_report_is_self_contained_and_states_the_runs_numbers(trained_runs, task):
    _, result = trained_runs[task]
    files = result.files
    html = report_html(files)
    page = parsed(html)
    assert page.sections == SECTIONS
    assert page.scripts and not any("src" in script for script in page.scripts)
    assert page.links == []  # nothing to fetch: plotly.js is inlined
    assert "<script src" not in html.lower()
    text = " ".join(page.text)
    metrics = json.loads(files.metrics.read_text())
    for name, value in metrics["validation"]["network"].items():
        if isinstance(value, float):
            assert f"{value:.4g}" in text, name
    for scores in metrics["validation"]["baselines"].values():
        assert all(f"{v:.4g}" in text for v in scores.values() if isinstance(v, float))
    assert f"best epoch {metrics['training']['best_epoch']}" in text
    assert metrics["importance"]["columns"][0]["column"] in html


def test_the_bundle_and_the_command_line_carry_the_report(trained_runs, tmp_path):
    _, result = trained_runs["binary"]
    with zipfile.ZipFile(BytesIO(bundle(result.files))) as archive:
        assert archive.read(REPORT).decode() == report_html(result.files)
    out = tmp_path / "report.html"
    done = cli("report", "--run", result.files.folder, "--out", out)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == report_html(result.files)


def test_a_folder_with_no_finished_run_is_refused_in_one_line(tmp_path):
    with pytest.raises(NNCoreError, match="holds no finished run"):
        report_html(RunFiles(tmp_path))
    done = cli("report", "--run", tmp_path, "--out", tmp_path / "r.html")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "r.html").exists()
