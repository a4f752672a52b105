"""Sessions bound to workspaces, and runs trained in them, for the page tests: a test makes its
runs in a workspace as the pages do, then opens the workspace's address in a new session."""

import time
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from nncore.config import Experiment
from nncore.run.session import Run, Workbench
from ui import TOKEN_PARAM, Keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")
WAIT_SECONDS = 300


def session(token: str | None = None, page: str | None = None) -> AppTest:
    """A new browser session (a reload, a bookmark, a second tab), at `?w=token` if given."""
    at = AppTest.from_file(APP, default_timeout=60)
    if token is not None:
        at.query_params[TOKEN_PARAM] = token
    at.run()
    assert not at.exception
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception
    return at


def token_of(at: AppTest) -> str:
    """The workspace's key in the session's address, as the script last set it."""
    return at.query_params[TOKEN_PARAM]


def bench_of(at: AppTest) -> Workbench:
    return at.session_state[Keys.WORKBENCH]


def new_bench() -> Workbench:
    """The Workbench of a new, empty workspace, as the app's server holds it."""
    return bench_of(session())


def start(bench: Workbench, frame: pd.DataFrame, experiment: Experiment, name: str) -> Run:
    """Keep `frame` in the workspace as the CSV `name` and train `experiment` on it."""
    table = bench.workspace.add_table(frame.to_csv(index=False).encode(), name)
    return bench.start_run(experiment, table_id=table.info.id)


def wait(*runs: Run, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while any(run.in_flight for run in runs):
        assert time.monotonic() < deadline, "the runs did not end in time"
        time.sleep(0.2)


def open_run(bench: Workbench, run: Run, page: str) -> AppTest:
    """A new session of `bench`'s workspace showing `run` on `page`."""
    at = session(bench.workspace.token)
    bench.choose(run.id)
    at.switch_page(page).run()
    assert not at.exception
    return at
