"""A learning-rate sweep in a real browser: three trials, their curves overlaid, the best
marked and adopted."""

import re

import pytest
from test_studio import go_to, load_sample, wait_idle

pytestmark = pytest.mark.browser

SWEEP_CHART = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const sweep = plots.find(p => p.data && p.data.some(t => (t.name || '').startsWith('best: ')));
  if (!sweep) return null;
  return sweep.data.map(t => ({name: t.name, points: t.x ? t.x.length : 0}));
}"""


def test_a_sweep_overlays_three_trials_marks_the_best_and_adopts_it(page):
    load_sample(page, "Iris flowers")
    go_to(page, "Tune")
    count = page.get_by_role("spinbutton", name="How many rates")
    count.fill("3")
    count.press("Enter")
    wait_idle(page)
    epochs = page.get_by_role("spinbutton", name="Epochs per trial")
    epochs.fill("6")
    epochs.press("Enter")
    wait_idle(page)
    page.get_by_text("0.0001, 0.0032, 0.1").wait_for()
    page.get_by_role("button", name=re.compile("Start sweep")).click()

    adopt = page.get_by_role("button", name=re.compile(r"^Use adam at "))
    adopt.wait_for(timeout=300_000)
    traces = page.wait_for_function(SWEEP_CHART, timeout=30_000).json_value()
    curves = [t for t in traces if not t["name"].startswith("best: ")]
    assert len(curves) == 3, traces
    assert all(t["points"] >= 1 for t in curves)
    best = [t["name"] for t in curves if t["name"].endswith("(best)")]
    assert len(best) == 1 and any(t["name"].startswith("best: ") for t in traces)
    rate = re.search(r"adam ([0-9.e-]+) \(best\)", best[0]).group(1)

    adopt.click()
    wait_idle(page)
    page.get_by_text(re.compile(rf"adam at {re.escape(rate)}\)")).first.wait_for()
    go_to(page, "Runs")
    # The Runs page overlays the three trials.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.data"
        " && p.data.length === 3 && p.data.some(t => (t.name || '').startsWith('run 3 · adam')))"
    )
    assert not page.get_by_text("Traceback").count()
