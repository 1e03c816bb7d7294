"""The Prefect API of one `embedforge run`: a temporary server that cannot outlive us, and the start-up sweep.

Without PREFECT_API_URL, Prefect starts its own temporary server (prefect.server.api.server.SubprocessASGIServer) as a
plain child process. When the parent is SIGKILLed (OOM killer, kill -9) that child is reparented to init and listens
forever. Prefect offers no hook into that Popen, so we start the same app (its ephemeral flavour: no UI, the same
in-process services) ourselves, in a child that asks the kernel to SIGKILL it when we die (prctl PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks import liveness

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_SECONDS = 10  # a clean exit lets the server finish its writes; then it is killed


def _die_with(parent: int) -> None:
    """In the server child: SIGKILL on the parent's death, and quit now if it is already dead."""
    if not sys.platform.startswith(
        "linux"
    ):  # no PR_SET_PDEATHSIG (macOS): as with Prefect's server, kill -9 orphans it
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died between fork and prctl: no signal would ever come
        os._exit(1)


def _serve(parent: int, fd: int) -> None:
    """Child entry: serve Prefect's API app on the listening socket `fd` inherited from `parent`."""
    _die_with(parent)
    import uvicorn

    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, log_level="error", lifespan="on")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the temporary Prefect server exited with code {process.returncode} before it was "
                    "ready; its errors are above. Or set PREFECT_API_URL to a running server"
                )
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(
        f"the temporary Prefect server at {url} was not healthy within {timeout:.0f} s; raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or set PREFECT_API_URL to a running server"
    )


def _stop(process: subprocess.Popen) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    # ship what the run logged last before the server goes (as prefect_test_harness does), or it is lost with an
    # "Error logging to API" at exit
    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)
    if process.poll() is None:
        process.terminate()  # uvicorn shuts down cleanly on SIGTERM
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def temporary_server() -> Iterator[tuple[str, int]]:
    """Serve this PREFECT_HOME's database on a free local port while the block runs; yield (API URL, server pid).

    Call from the main thread: the kernel's parent-death signal fires when the thread that started the child ends.
    """
    from prefect.settings import get_current_settings

    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "start the temporary Prefect server from the main thread (its death signal follows that thread)"
        )
    settings = get_current_settings()
    # we bind and hand the listening socket over: no window in which another process can take the port
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    env = {
        **os.environ,
        **settings.to_environment_variables(exclude_unset=True),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    code = f"from flows.server import _serve; _serve({os.getpid()}, {listener.fileno()})"
    # its own session: a Ctrl-C in the terminal interrupts the run, which still reports its end to a living server
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, pass_fds=(listener.fileno(),), start_new_session=True
    )
    listener.close()  # the child's copy is now the only one: the port closes when the child dies
    try:
        _wait_healthy(url, process, settings.server.ephemeral.startup_timeout_seconds)
        yield url, process.pid
    finally:
        _stop(process)


@contextmanager
def use_api(url: str) -> Iterator[None]:
    """Point every Prefect client of this process (and its children) at `url`, including background threads."""
    from prefect.context import refresh_global_settings_context

    saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", liveness.TEMPORARY_API_ENV)}
    os.environ["PREFECT_API_URL"] = os.environ[liveness.TEMPORARY_API_ENV] = url
    refresh_global_settings_context()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        refresh_global_settings_context()


def _say(line: str) -> None:
    print(f"embedforge: {line}", file=sys.stderr, flush=True)


def sweep(partial_roots: dict[Path, tuple[str, ...]]) -> None:
    """Mark Crashed the runs of dead `embedforge` processes and remove their partial folders; one line for each."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            for run_id in liveness.sweep_runs(
                client, liveness.runs_folder(), liveness.server_key(), liveness.is_local_sqlite()
            ):
                _say(f"flow run {run_id} was left running by a process that is gone; marked it Crashed")
    except Exception as exc:  # housekeeping must not stop the run; the records stay for the next start-up
        _say(f"could not check for crashed runs ({type(exc).__name__}: {exc}); will try again next start")
    for root, patterns in partial_roots.items():
        for path in liveness.sweep_partial(root, patterns):
            _say(f"removed {path}, left half-built by a run that is gone")


@contextmanager
def run_session(partial_roots: dict[Path, tuple[str, ...]]) -> Iterator[None]:
    """Around one `embedforge run`: its locked run record, a Prefect API (the user's, or a temporary server that dies
    with us), and first the sweep of what killed runs left behind. A clean exit removes the record and stops the server."""
    from prefect.settings import get_current_settings

    user_api = get_current_settings().api.url
    # the record comes first and is locked: a concurrent start-up's sweep never takes this run for a dead one
    record = liveness.open_record(
        liveness.runs_folder(), server=liveness.server_key(), api_url=user_api, server_pid=None
    )
    try:
        if user_api:  # the user's server: start nothing
            sweep(partial_roots)
            yield
            return
        with temporary_server() as (url, server_pid), use_api(url):
            record.write(api_url=url, server_pid=server_pid)
            sweep(partial_roots)
            yield
    finally:
        record.close()
