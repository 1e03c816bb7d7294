"""The train step as a flow of its own, for a work pool with accelerators.

With `compute.gpu_pool` set, the retraining flow runs the train step as the deployment `train/gpu` (`run_deployment`,
shown as a subflow in the UI) on that pool's workers; ingest, mining, evaluation, gate and register stay where the
retraining flow runs. Both sides exchange refs only (paths + hashes in the shared store), never arrays, so the pools
need one shared store (`registry.store`) and one result storage (`PREFECT_LOCAL_STORAGE_PATH`) that every worker mounts.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

from tasks import memory
from tasks.steps import PoolTrained, TrainInputs, train
from tasks.storage import atomic_write_text

FLOW = "train"
DEPLOYMENT = "gpu"  # run as f"{FLOW}/{DEPLOYMENT}" on compute.gpu_pool
ENTRYPOINT = "flows/train.py:train_on_pool"


def handed_back(store: str, run_id: str) -> Path:
    """Where a pool's train run leaves its result for the flow that started it: a file in the shared store (a flow's
    own persisted result is a bare value the trusted result storage refuses to read, by design)."""
    return Path(store) / "pool-runs" / f"{run_id}.json"


@flow(name=FLOW, persist_result=False)
def train_on_pool(inputs: TrainInputs) -> str:
    """Run the (cached) train task on this worker with the retraining flow's inputs; write its result, with where and
    how it ran, to the shared store."""
    started = time.perf_counter()
    memory.reset_peak()
    state = train(**dict(inputs), return_state=True)
    done = PoolTrained(
        trained=state.result(),
        cached=state.name == "Cached",
        seconds=round(time.perf_counter() - started, 3),
        peak_gb=memory.peak_gb(),
        host=socket.gethostname(),
    )
    path = handed_back(inputs.store, str(flow_run.id))
    atomic_write_text(path, done.model_dump_json(indent=2))
    return str(path)


def run_on_pool(pool: str, name: str, **parameters) -> PoolTrained:
    """Start `train/gpu` for these parameters, wait for it and read its result; a failed run fails the step."""
    from prefect.deployments import run_deployment

    inputs = TrainInputs(**parameters)
    run = run_deployment(f"{FLOW}/{DEPLOYMENT}", parameters={"inputs": inputs}, timeout=None, flow_run_name=name)
    if not run.state or not run.state.is_completed():
        state = run.state.name if run.state else "unknown"
        raise RuntimeError(
            f"the train step on work pool {pool!r} (flow run {run.name}, {run.id}) ended {state}: "
            f"{run.state.message if run.state else ''}; see that run in the Prefect UI"
        )
    return PoolTrained.model_validate_json(handed_back(inputs.store, str(run.id)).read_text(encoding="utf-8"))
