"""A SIGKILLed run leaves nothing running, and the next start-up marks its flow run Crashed and removes its half-built
folders. Real processes, a real SIGKILL, real Prefect servers on a real SQLite database; nothing mocked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tasks import liveness

# What `embedforge run` does around its flow (flows/cli.py cmd_run), with a stand-in `retrain` flow that builds a
# claimed `.train-` folder and then hangs, so the kill lands mid-run without minutes of real training first.
KILLED_RUN = """
import sys, tempfile, time
from pathlib import Path
from flows.cli import local_defaults
local_defaults()
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Running
from flows.server import run_session
from tasks import liveness

store, models = Path(sys.argv[1]), Path(sys.argv[2])

@flow(name="retrain")
def retrain():
    with get_client(sync_client=True) as client:  # a run killed before it was recorded (or by older code)
        unrecorded = client.create_flow_run(retrain, state=Running())
    print(f"unrecorded={unrecorded.id}", flush=True)
    store.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=store, prefix=".train-"))
    with liveness.claim(work):
        (work / "model").mkdir()
        time.sleep(600)

with run_session({store: liveness.STORE_PARTIALS, models: liveness.REGISTRY_PARTIALS}):
    retrain.with_options(on_running=[liveness.record_running])()
"""

# Read flow runs back through a Prefect client against a fresh temporary server on the same database.
READ_STATES = """
import json, sys
from flows.cli import local_defaults
local_defaults()
from prefect.client.orchestration import get_client
from flows.server import temporary_server, use_api

with temporary_server() as (url, _), use_api(url), get_client(sync_client=True) as client:
    runs = [client.read_flow_run(run_id) for run_id in sys.argv[1:]]
    print(json.dumps({str(r.id): [r.state.type.value, r.state.message] for r in runs}))
"""


@pytest.fixture(scope="module", autouse=True)
def prefect_harness():
    """Override the session's in-process test server: these tests start their own servers, as users' runs do."""
    yield


def _env(home: Path, marker: str) -> dict[str, str]:
    """A user's environment: no Prefect settings of the test session, its own EMBEDFORGE_HOME, and a marker every
    descendant inherits, so survivors can be found whatever session or parent they end up in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "EMBEDFORGE_HOME": str(home), "EMBEDFORGE_TEST_MARKER": marker}


def _marked_processes(marker: str) -> list[int]:
    needle = f"EMBEDFORGE_TEST_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
    return found


def _accepts(url: str) -> bool:
    address = urlparse(url)
    try:
        socket.create_connection((address.hostname, address.port), timeout=1).close()
        return True
    except OSError:
        return False


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_sigkilled_run_leaves_nothing_running_and_the_next_start_up_cleans_up(tmp_path):
    home, store, models = tmp_path / "home", tmp_path / "store", tmp_path / "models"
    marker = uuid.uuid4().hex
    env = _env(home, marker)
    runs = home / ".prefect" / liveness.RUNS_FOLDER
    # left by older code: an unclaimed staging folder untouched for two days goes, a fresh unclaimed one stays
    old, fresh = store / ".train-old", store / ".train-fresh"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))

    killed = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(store), str(models)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "killed.log", "w"),
        text=True,
    )
    try:
        record = _wait_for(
            lambda: next(
                (json.loads(p.read_text()) for p in runs.glob("*.json") if json.loads(p.read_text())["flow_runs"]), None
            ),
            120,
            "the run record",
        )
        partial = _wait_for(
            lambda: next((p for p in store.glob(".train-*") if (p / "model").is_dir()), None),
            60,
            "the claimed .train- folder",
        )
        assert record["pid"] == killed.pid and _accepts(record["api_url"])
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    unrecorded = next(line for line in killed.stdout.read().splitlines() if line.startswith("unrecorded=")).split("=")[
        1
    ]

    # nothing of it is left: its server died with it, the port is closed, no descendant lives on anywhere
    _wait_for(lambda: not _accepts(record["api_url"]), 5, f"{record['api_url']} to stop accepting connections")
    _wait_for(lambda: not _marked_processes(marker), 5, "every process of the killed run to be gone")
    assert partial.is_dir() and (runs / f"{killed.pid}.json").is_file()  # the kill left them; the start-up must act

    # the next `embedforge run` (one that fails fast on a missing dataset, after its start-up)
    start_up = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "run",
            "--set",
            f"data.path={tmp_path / 'missing'}",
            "--set",
            f"registry.store={store}",
            "--set",
            f"registry.root={models}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert start_up.returncode == 1 and "does not exist" in start_up.stderr, start_up.stderr[-3000:]
    flow_run = record["flow_runs"][0]
    assert f"flow run {flow_run} was left running" in start_up.stderr
    assert f"flow run {unrecorded} was left running" in start_up.stderr
    assert not partial.exists() and not old.exists() and fresh.is_dir()
    assert f"removed {partial}" in start_up.stderr
    assert not list(runs.glob("*.json"))  # the dead record was settled; the clean exit removed its own
    assert not _marked_processes(marker)  # a clean exit stops its server too

    read = subprocess.run(
        [sys.executable, "-c", READ_STATES, flow_run, unrecorded], env=env, capture_output=True, text=True, timeout=300
    )
    assert read.returncode == 0, read.stderr[-3000:]
    states = json.loads(read.stdout.strip().splitlines()[-1])
    assert states[flow_run][0] == "CRASHED" and f"pid {killed.pid}" in states[flow_run][1]
    assert states[unrecorded][0] == "CRASHED"


def test_sweep_partial_removes_only_what_a_dead_owner_claimed(tmp_path):
    store = tmp_path / "store"
    dead, live = store / ".train-dead", store / ".train-live"
    for folder in (dead, live):
        folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from tasks.liveness import claim
        with claim(Path({str(dead)!r})):
            print("claimed", flush=True)
            time.sleep(600)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with liveness.claim(live):
            assert liveness.sweep_partial(store) == []  # both owners alive
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            assert liveness.sweep_partial(store) == [dead]
            assert live.is_dir()
            with pytest.raises(RuntimeError, match="already claimed"):
                with liveness.claim(live):
                    pass
    finally:
        holder.kill()
        holder.wait()
    assert not (live / liveness.OWNER_LOCK).exists()  # released


def test_a_killed_data_add_and_a_killed_frame_write_leave_nothing_behind_the_next_one(tmp_path):
    """`data add` copies into a claimed `.incoming-` folder and `write_frame` writes a locked temp file. Killed
    mid-copy, they leave both behind; while their owner lives nothing touches them, once it is gone the next `data add`
    (or run start-up sweep) removes them, and a dataset is stored whole."""
    from tasks import datasets

    root = tmp_path / "store"
    folder, frames = root / "pairs", tmp_path / "runs" / "pairs"
    folder.mkdir(parents=True)
    frames.mkdir(parents=True)
    half_written = frames / ".write.dead.parquet"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import fcntl, os, time
        from pathlib import Path
        from tasks import liveness
        with liveness.staging(Path({str(folder)!r}), ".incoming-") as staging:
            (staging / "payload").mkdir()
            (staging / "payload" / "pairs.csv").write_text("anchor,positive\\nhalf")
            fd = os.open({str(half_written)!r}, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, b"PAR1 half a parquet")
            print(staging.name, flush=True)
            time.sleep(600)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        incoming = folder / holder.stdout.readline().strip()
        assert incoming.name.startswith(".incoming-") and incoming.is_dir()

        def stored(name: str) -> datasets.DatasetVersion:
            source = tmp_path / name
            source.write_text(f"anchor,positive\n{name} question,{name} answer\n")
            return datasets.add(source, "pairs", root)

        first = stored("first.csv")
        assert incoming.is_dir() and half_written.is_file()  # a live owner's work is left alone
        assert liveness.sweep_partial(frames.parent) == []
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        second = stored("second.csv")
        assert not incoming.exists()
        assert liveness.sweep_partial(frames.parent) == [half_written]
    finally:
        holder.kill()
        holder.wait()
    for version in (first, second):
        assert Path(version.path).read_text().startswith("anchor,positive\n")
        assert not any(p.name.startswith(".") for p in Path(version.path).parent.iterdir())  # no lock file stored
    assert [p.name for p in folder.iterdir() if p.name.startswith(".incoming-")] == []
