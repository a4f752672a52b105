"""The whole flow in one session, as a newcomer clicks it: upload, target, model, train,
evaluate, predict, download. Every page's own file covers its details and guards."""

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from ui import Keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def shop_csv(n: int = 160) -> bytes:
    rng = np.random.default_rng(1)
    spend = rng.gamma(2, 30, n).round(2)
    region = rng.choice(["north", "south", "east"], n)
    frame = pd.DataFrame(
        {
            "customer": [f"C{i:04d}" for i in range(n)],  # an identifier: left out
            "spend": spend,
            "visits": rng.integers(1, 20, n),
            "region": region,
            "returned": np.where(spend + 15 * (region == "north") > 60, "yes", "no"),
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def settle(at: AppTest, done, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception
    assert done(), "the job did not finish in time"
    at.run()  # the end may have come after the last script run's drawing
    assert not at.exception


def test_upload_to_download_in_one_session():
    data = shop_csv()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()

    at.file_uploader(key="upload").set_value(("shop.csv", data, "text/csv")).run()
    at.selectbox(key="target").set_value("returned").run()
    assert not at.exception
    plan = at.session_state[Keys.PLAN]
    assert plan.task == "binary"
    assert "customer" in dict(plan.excluded)

    at.switch_page("pages/model.py").run()
    at.button(key="preset_small").click().run()
    assert [layer.units for layer in at.session_state[Keys.EXPERIMENT].layers] == [16]

    at.switch_page("pages/train.py").run()
    at.number_input(key="epochs").set_value(8).run()
    at.button(key="start").click().run()
    assert not at.exception
    run = at.session_state[Keys.WORKBENCH].runs[-1]
    settle(at, lambda: not run.in_flight)
    assert run.status == "finished", run.error()
    assert at.get("plotly_chart")

    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    assert at.dataframe  # the network beside its baselines
    assert len(at.get("plotly_chart")) >= 3

    at.switch_page("pages/predict.py").run()
    assert at.download_button(key="download_keras")
    assert at.download_button(key="download_h5")
    new_rows = pd.read_csv(io.BytesIO(data)).drop(columns="returned").head(12)
    at.file_uploader(key="predict_upload").set_value(
        ("new.csv", new_rows.to_csv(index=False).encode(), "text/csv")
    ).run()
    settle(at, lambda: bool(at.dataframe), seconds=120)
    table = at.dataframe[0].value
    assert len(table) == 12 and "predicted returned" in table.columns
    assert at.download_button(key="download_predictions")
    assert not at.exception and not at.error
