"""Against a real Prefect server: serve both deployments, land a dataset, and watch the triggered run complete."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_beir

DEADLINE = 600  # seconds for the triggered run to finish on two CPU cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"prefect server at {url} not healthy after {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": url,
    }
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def client_for(url: str):
    """A client bound to this test's server (not whatever PREFECT_API_URL this process was started with)."""
    from prefect.client.orchestration import PrefectClient

    return PrefectClient(url)


async def runs_of(url: str, deployment: str) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with client_for(url) as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
        )


async def deployment_schedules(url: str, name: str) -> list:
    async with client_for(url) as client:
        deployment = await client.read_deployment_by_name(f"retrain/{name}")
        return [s.schedule for s in deployment.schedules]


TRIGGERED: dict[str, object] = {}  # the id of the run test_data_add_triggers_a_run_that_completes watched complete


async def latest_report(url: str, run_id):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    async with client_for(url) as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["retrain-report"]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            )
        )
    assert found, "the run published no retrain-report artifact"
    return found[0]


def test_data_add_triggers_a_run_that_completes(server, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": server}
    overrides = [
        f"registry.root={tmp_path / 'models'}",
        f"registry.store={tmp_path / 'store'}",
        "train.batch_size=4",
        "mining.num_negatives=1",
        "mining.top_k=4",
        "gate.alpha=1",
    ]
    serve_cmd = [sys.executable, "-m", "flows.cli", "serve", "--timezone", "Europe/Paris"]
    for item in overrides:
        serve_cmd += ["--set", item]
    log = open(tmp_path / "serve.log", "w")
    serving = subprocess.Popen(serve_cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.time() + 120
        while time.time() < end:
            try:
                if len(asyncio.run(deployment_schedules(server, "nightly"))) == 1:
                    break
            except Exception:
                time.sleep(2)
        schedules = asyncio.run(deployment_schedules(server, "nightly"))
        assert schedules[0].cron == "0 2 * * *" and schedules[0].timezone == "Europe/Paris"

        data = write_beir(tmp_path / "incoming")
        started = time.time()
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "data",
                "add",
                str(data),
                "--dataset",
                "tiny",
                "--root",
                str(tmp_path / "datasets"),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert added.returncode == 0, added.stderr
        run = None
        while time.time() - started < DEADLINE:
            runs = asyncio.run(runs_of(server, "on-new-data"))
            if runs and runs[0].state and runs[0].state.is_final():
                run = runs[0]
                break
            time.sleep(3)
        assert run is not None, (tmp_path / "serve.log").read_text()[-3000:]
        assert run.state.is_completed(), (run.state, (tmp_path / "serve.log").read_text()[-3000:])
        assert run.parameters["cfg"]["data"]["path"].startswith(str(tmp_path / "datasets" / "tiny"))
        # the run trained model line "tiny": its version is there, the default line holds nothing
        from tasks import registry

        assert run.parameters["cfg"]["registry"]["line"] == "tiny"
        assert len(registry.list_versions(registry.line_root(tmp_path / "models", "tiny"))) == 1
        assert registry.list_versions(tmp_path / "models") == [] and registry.lines(tmp_path / "models") == ["tiny"]
        import datetime

        added_at = datetime.datetime.fromtimestamp(started, datetime.UTC)
        print(
            f"data add → triggered run started after {(run.start_time - added_at).total_seconds():.1f} s, "
            f"completed after {(run.end_time - added_at).total_seconds():.1f} s"
        )
        TRIGGERED["run"] = run.id

        # two new versions back to back: two runs, one after the other, none lost
        for i in (1, 2):
            extra = write_beir(tmp_path / f"incoming{i}")
            with open(extra / "corpus.jsonl", "a") as f:
                f.write(
                    f'{{"_id": "extra{i}", "title": "Notices", "text": "Notices must be given in writing, version {i}."}}\n'
                )
            added = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "flows.cli",
                    "data",
                    "add",
                    str(extra),
                    "--dataset",
                    "tiny",
                    "--root",
                    str(tmp_path / "datasets"),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            assert added.returncode == 0, added.stderr
        end = time.time() + DEADLINE
        runs = []
        while time.time() < end:
            runs = asyncio.run(runs_of(server, "on-new-data"))
            if len(runs) >= 3 and all(r.state and r.state.is_final() for r in runs):
                break
            time.sleep(3)
        assert len(runs) == 3 and all(r.state.is_completed() for r in runs), [(r.name, r.state) for r in runs]
        spans = sorted((r.start_time, r.end_time) for r in runs)
        assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), spans
    finally:
        os.killpg(serving.pid, signal.SIGTERM)
        serving.wait(timeout=60)


def test_the_ui_shows_the_triggered_run_and_its_report(server, tmp_path):
    """The run's page and its report artifact in the Prefect UI, rendered in headless Chromium."""
    from tests.integration.screenshot import chromium, screenshot

    if "run" not in TRIGGERED:
        pytest.skip("the triggered run of test_data_add_triggers_a_run_that_completes did not complete")
    if chromium() is None:
        pytest.skip("no Chromium on this machine (.ci/run installs it): UI screenshots not taken")
    run_id = TRIGGERED["run"]
    ui = server.removesuffix("/api")
    report = asyncio.run(latest_report(server, run_id))
    pages = {"run": f"{ui}/runs/flow-run/{run_id}", "report": f"{ui}/artifacts/artifact/{report.id}"}
    keep = os.environ.get("EMBEDFORGE_SCREENSHOT_DIR")
    for name, url in pages.items():
        out = screenshot(url, tmp_path / f"ui-{name}.png")
        assert out.stat().st_size > 20_000  # a rendered page, not an empty canvas
        if keep:
            (Path(keep) / out.name).write_bytes(out.read_bytes())


def checkout(tmp_path: Path) -> Path:
    """A copy of the code and the demo data: deployments run in the folder $EMBEDFORGE_ROOT names, so the runs'
    models/ and .embedforge/ land in this test's folder."""
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "checkout"
    for part in ("flows", "tasks", "schemas", "deployments", "configs", "data/demo"):
        shutil.copytree(repo / part, root / part, ignore=shutil.ignore_patterns("__pycache__", "generate.py"))
    return root


def deploy(root: Path, env: dict, prefect_file: str, pools: tuple[str, ...] = ("embedforge-local",)) -> None:
    """What deployments/README.md tells a team to run: process pools (one run at a time), then `prefect deploy`."""
    prefect = [sys.executable, "-m", "prefect"]
    commands = [
        c
        for pool in pools
        for c in (
            ["work-pool", "create", pool, "--type", "process", "--overwrite"],
            ["work-pool", "set-concurrency-limit", pool, "1"],
        )
    ]
    for command in commands + [["--no-prompt", "deploy", "--all", "--prefect-file", prefect_file]]:
        proc = subprocess.run(prefect + command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def run_once(env: dict, cwd: Path, pool: str = "embedforge-local") -> str:
    """One worker pass of the pool: picks the scheduled run up, executes it in a subprocess, returns the worker's log."""
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--run-once"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=2 * DEADLINE,
    )
    return (worker.stdout + worker.stderr)[-4000:]


async def final_state(url: str, run_id):
    async with client_for(url) as client:
        end = time.time() + DEADLINE
        while True:
            state = (await client.read_flow_run(run_id)).state
            if (state and state.is_final()) or time.time() > end:
                return state
            await asyncio.sleep(3)


def test_a_process_worker_runs_the_nightly_deployment_of_prefect_yaml_on_the_demo_data(server, tmp_path):
    """The worker path as a team sets it up: a process pool, `prefect deploy` of the shipped prefect.yaml, a worker;
    the parameters are the shipped file's, untouched (the demo's small-data recipe)."""
    from tasks import registry

    root = checkout(tmp_path)
    env = {**os.environ, "PREFECT_API_URL": server, "EMBEDFORGE_ROOT": str(root)}
    deploy(root, env, "deployments/prefect.yaml")

    async def read():
        async with client_for(server) as client:
            nightly = await client.read_deployment_by_name("retrain/nightly")
            triggered = await client.read_deployment_by_name("retrain/on-new-data")
            automations = await client.read_automations()
            pool = await client.read_work_pool("embedforge-local")
            run = await client.create_flow_run_from_deployment(nightly.id)  # what "Quick run" in the UI does
        return nightly, triggered, automations, pool, run

    nightly, triggered, automations, pool, run = asyncio.run(read())
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert triggered.work_pool_name == nightly.work_pool_name == "embedforge-local"
    assert pool.concurrency_limit == 1  # the two deployments take turns
    trigger = next(a for a in automations if a.name == "dataset-updated" and str(triggered.id) in str(a.actions))
    assert "embedforge.dataset.updated" in trigger.trigger.expect

    log = run_once(env, tmp_path)
    state = asyncio.run(final_state(server, run.id))
    assert state.is_completed(), (state, log)
    versions = registry.list_versions(root / "models")
    assert len(versions) == 1 and (Path(versions[0]["path"]) / "report.md").is_file(), log
    assert versions[0]["dataset"] == "data/demo"


def test_with_a_gpu_pool_the_train_step_runs_in_that_pools_worker(server, tmp_path):
    """compute.gpu_pool: the retraining run executes in the main pool's worker, its train step as the deployment
    train/gpu in the second pool's worker (a process pool standing in for GPU nodes)."""
    from tasks import registry

    root = checkout(tmp_path)
    data = write_beir(tmp_path / "tiny")
    env = {**os.environ, "PREFECT_API_URL": server, "EMBEDFORGE_ROOT": str(root)}
    overrides = [
        f"data.path={data}",
        "train.batch_size=4",
        "mining.num_negatives=1",
        "mining.top_k=4",
        "gate.alpha=1",
        "compute.gpu_pool=embedforge-gpu",
    ]
    written = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "deployments",
            "--output",
            str(root / "routed.yaml"),
            *[a for o in overrides for a in ("--set", o)],
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr
    deploy(root, env, "routed.yaml", pools=("embedforge-local", "embedforge-gpu"))
    gpu_log = open(tmp_path / "gpu-worker.log", "w")
    gpu_worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "embedforge-gpu", "--name", "gpu-worker"],
        cwd=tmp_path,
        env=env,
        stdout=gpu_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        async def start():
            async with client_for(server) as client:
                nightly = await client.read_deployment_by_name("retrain/nightly")
                return await client.create_flow_run_from_deployment(nightly.id)

        run = asyncio.run(start())
        log = run_once(env, tmp_path)
        state = asyncio.run(final_state(server, run.id))
        assert state.is_completed(), (state, log, (tmp_path / "gpu-worker.log").read_text()[-3000:])
    finally:
        os.killpg(gpu_worker.pid, signal.SIGTERM)
        gpu_worker.wait(timeout=60)

    async def children():
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        async with client_for(server) as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["gpu"]))
            )
            parents = [await client.read_task_run(r.parent_task_run_id) for r in runs if r.parent_task_run_id]
        return runs, parents

    trains, parents = asyncio.run(children())
    assert len(trains) == 1 and trains[0].state.is_completed()
    assert trains[0].work_pool_name == "embedforge-gpu"
    assert [p.flow_run_id for p in parents] == [run.id]  # a subflow of the retraining run, as the UI shows it
    assert (
        "gpu-worker" in (tmp_path / "gpu-worker.log").read_text()
        and str(trains[0].id) in (tmp_path / "gpu-worker.log").read_text()
    )
    versions = registry.list_versions(root / "models")
    assert len(versions) == 1
    manifest = registry.read_manifest(root / "models", versions[0]["version"])
    assert manifest["timings"]["train"]["pool"] == "embedforge-gpu" and manifest["training"]["steps"] > 0
