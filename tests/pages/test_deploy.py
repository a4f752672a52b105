"""Deploy-ready: served and used from data to predictions, the studio writes only in temporary
folders and connects to nothing beyond this machine (Streamlit Community Cloud gives an app a
read-only view of nothing it can count on, and no reason to phone home)."""

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ("127.0.0.1", "::1", "localhost")

# Loaded by every Python process started with this folder on PYTHONPATH (the server, AppTest and
# the spawned job workers): a connection or name lookup beyond loopback is logged and refused.
NETWORK_GUARD = f"""
import os, socket

def _record(what):
    with open(os.environ["NETWORK_LOG"], "a") as log:
        log.write(what + "\\n")

_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo

def connect(self, address):
    if isinstance(address, tuple) and address[0] not in {LOOPBACK!r}:
        _record(f"connect {{address!r}}")
        raise OSError("no network in this test")
    return _connect(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host is not None and host not in {LOOPBACK!r}:
        _record(f"lookup {{host!r}}")
        raise socket.gaierror("no network in this test")
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo
"""

FLOW = """
import time
from pathlib import Path
from streamlit.testing.v1 import AppTest
from ui import Keys

def settle(at, done, seconds=300):
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    assert done(), "not done in time"
    at.run()

at = AppTest.from_file(str(Path("app.py").resolve()), default_timeout=120).run()
at.button(key="sample_iris").click().run()
at.switch_page("pages/model.py").run()
at.button(key="preset_small").click().run()
at.switch_page("pages/train.py").run()
at.number_input(key="epochs").set_value(3).run()
at.button(key="start").click().run()
run = at.session_state[Keys.WORKBENCH].runs[-1]
settle(at, lambda: not run.in_flight)
assert run.status == "finished", run.error()
at.switch_page("pages/evaluate.py").run()
at.switch_page("pages/predict.py").run()
assert not at.exception, at.exception
assert at.download_button(key="download_code")
assert at.download_button(key="download_code_data")  # a sample has no file of its own
script = at.code[0].value
compile(script, "train_species.py", "exec")
assert 'TARGET = "species"' in script and "nncore" not in script
rows = b"sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\\n5.1,3.5,1.4,0.2\\n"
at.file_uploader(key="predict_upload").set_value(("new.csv", rows, "text/csv")).run()
settle(at, lambda: bool(at.dataframe))
assert not at.exception and not at.error
print("flow done")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def repository_files() -> set[str]:
    """Files in the checkout, bytecode and test caches aside."""
    return {
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*")
        if p.is_file()
        and not {".git", "__pycache__", ".pytest_cache", ".ruff_cache", "artifacts"}
        & set(p.relative_to(ROOT).parts)
    }


def sandbox(tmp_path: Path) -> tuple[dict[str, str], Path, Path, Path]:
    """An environment with its own empty HOME and TMPDIR and the network guard."""
    home, temp, guard = tmp_path / "home", tmp_path / "tmp", tmp_path / "guard"
    for folder in (home, temp, guard):
        folder.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    log = tmp_path / "network.log"
    log.touch()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "KERAS_", "STREAMLIT_", "MPLCONFIG"))
        and key != "NNSTUDIO_HOME"
    }
    env |= {
        "HOME": str(home),
        "TMPDIR": str(temp),
        "PYTHONPATH": os.pathsep.join([str(guard), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NETWORK_LOG": str(log),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "NNSTUDIO_HOSTED": "1",  # as the README's Deploy steps set it: workspaces in TMPDIR
    }
    return env, home, temp, log


def test_serving_and_the_whole_flow_write_only_temporary_files_and_stay_offline(tmp_path):
    env, home, temp, log = sandbox(tmp_path)
    before = repository_files()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1"]
        + ["--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                assert server.poll() is None, "the server exited"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)

    flow = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FLOW)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert flow.returncode == 0, flow.stderr[-3000:]
    assert "flow done" in flow.stdout

    assert log.read_text() == "", "the studio tried to reach the network"
    assert files_under(home) == [], "the studio wrote into HOME"
    assert repository_files() == before, "the studio wrote into its own folder"
    assert any("workspaces" in f for f in files_under(temp)), "workspaces belong in TMPDIR"
