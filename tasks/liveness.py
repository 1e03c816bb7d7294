"""Who is still alive: run records and claimed folders, so a start-up can clean up after a killed run.

A live owner holds an exclusive `flock` on a small file. The kernel drops the lock when the process dies, however it
dies (SIGKILL, the OOM killer), so a lock that can be taken means its owner is gone: no pid checks, no pid-reuse
guesswork. A run record (`<PREFECT_HOME>/embedforge-runs/<pid>.json`) names the flow runs one process runs; a claimed
folder holds `.owner.lock` while it is being built.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

OWNER_LOCK = ".owner.lock"
RUNS_FOLDER = "embedforge-runs"  # under PREFECT_HOME, next to the database whose runs the records name
STALE_AFTER = timedelta(hours=24)  # an unclaimed partial folder untouched this long is a leftover (pre-claim code)
STORE_PARTIALS = (".train-*", "*/.write.*.parquet")  # train staging folders; write_frame temp files
INCOMING_PARTIALS = (".incoming-*",)  # data add staging, under `<data store>/<dataset>`
REGISTRY_PARTIALS = (".????????????.*",)  # registry.register staging: `.<version (12 hex)>.<random>`
FLOW_NAME = "retrain"
TEMPORARY_API_ENV = "EMBEDFORGE_TEMPORARY_API_URL"  # set by flows.server while it serves this process


# ---------------------------------------------------------------- locks


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on `path`, or None when a live process holds it (or the file is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def claim(folder: Path) -> Iterator[Path]:
    """Hold `<folder>/.owner.lock` (our pid inside) while the folder is being built; sweep_partial leaves it alone."""
    lock = Path(folder) / OWNER_LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"{folder} is already claimed by a live process (see {lock}); pick a fresh folder") from None
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield Path(folder)
    finally:
        lock.unlink(missing_ok=True)  # the folder may be gone already (published or removed by the body)
        os.close(fd)


@contextmanager
def staging(parent: str | Path, prefix: str) -> Iterator[Path]:
    """A fresh claimed folder `<parent>/<prefix><random>` for the block, removed afterwards (a published part is moved
    out of it first). Same filesystem as `parent`, so publishing from it is a rename."""
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    try:
        with claim(folder):
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- partial folders


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for parent, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(parent, name)).st_mtime)
                except FileNotFoundError:
                    pass
    return newest


def _stale(path: Path, stale_after: timedelta) -> bool:
    try:
        return time.time() - _newest_mtime(path) >= stale_after.total_seconds()
    except FileNotFoundError:  # its owner just finished with it
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_partial(
    root: Path, patterns: tuple[str, ...] = STORE_PARTIALS, stale_after: timedelta = STALE_AFTER
) -> list[Path]:
    """Remove what killed runs left half-built under `root`; return what was removed.

    A match goes when its `.owner.lock` (for a file: the file itself) can be taken and is not empty (its owner is
    dead), or, with no lock file at all, when nothing in
    it changed for `stale_after` (leftovers from code that did not claim its folders yet). A claimed folder of a live
    run, and a fresh unclaimed one (a folder between mkdtemp and claim), stay.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            # a folder is claimed through its `.owner.lock`; a temp file is locked itself while it is written
            lock = path / OWNER_LOCK if path.is_dir() else path
            fd = _try_lock(lock) if not path.is_symlink() else None
            try:
                if fd is None and lock.exists():
                    continue  # a live owner holds it
                # empty: its owner may be between creating it and locking it, so only age counts
                owner_gone = fd is not None and os.read(fd, 64).strip() != b""
                if not owner_gone and not _stale(path, stale_after):
                    continue
                _remove(path)  # with the lock held, if any: nobody can claim it meanwhile
                removed.append(path)
            finally:
                if fd is not None:
                    os.close(fd)
    return removed


# ---------------------------------------------------------------- run records


def runs_folder() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home) / RUNS_FOLDER


def server_key() -> str:
    """Which database a flow run id belongs to: the user's API by URL, a temporary server's by its database URL."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    url = settings.api.url
    if url and url != os.environ.get(TEMPORARY_API_ENV):
        return f"api:{url.rstrip('/')}"
    database = settings.server.database.connection_url
    database = database.get_secret_value() if database is not None else ""
    # a hash, not the URL: a postgres URL may carry a password
    return f"db:{hashlib.sha256(database.encode()).hexdigest()[:16]}"


def is_local_sqlite() -> bool:
    """True when runs go to a temporary server on a SQLite file of this machine: no other machine's runs are in it."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url and settings.api.url != os.environ.get(TEMPORARY_API_ENV):
        return False
    database = settings.server.database.connection_url
    return database is not None and database.get_secret_value().startswith("sqlite")


class RunRecord:
    """This process's `<pid>.json`, locked for the process's lifetime; `close` removes it after a clean exit."""

    def __init__(self, folder: Path, **info: Any) -> None:
        self.path = Path(folder) / f"{os.getpid()}.json"
        self.data = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "flow_runs": [],
            **info,
        }
        self.fd: int | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()

    def write(self, **changes: Any) -> None:
        """Replace the record with a new, already locked file: a sweeper sees the old record or the new, never a torn one."""
        self.data.update(changes)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(self.data, indent=2) + "\n").encode())
        os.replace(tmp, self.path)
        if self.fd is not None:
            os.close(self.fd)
        self.fd = fd

    def add_flow_run(self, flow_run_id: str) -> None:
        if flow_run_id not in self.data["flow_runs"]:
            self.write(flow_runs=[*self.data["flow_runs"], flow_run_id])

    def close(self) -> None:
        global _RECORD
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None
        if _RECORD is self:
            _RECORD = None


_RECORD: RunRecord | None = None


def open_record(folder: Path, **info: Any) -> RunRecord:
    """Start this process's run record (the CLI does, before anything can crash); record_run adds flow runs to it."""
    global _RECORD
    if _RECORD is not None:
        raise RuntimeError(f"this process already keeps the run record {_RECORD.path}")
    _RECORD = RunRecord(folder, **info)
    return _RECORD


def record_run(flow_run_id: Any) -> None:
    """Note that this process runs `flow_run_id`, so a start-up after our death can mark it Crashed. Idempotent."""
    if _RECORD is None:  # a flow run outside `embedforge run` (a served deployment, a notebook): keep a record too
        atexit.register(open_record(runs_folder(), server=server_key()).close)
    _RECORD.add_flow_run(str(flow_run_id))


def record_running(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on_running hook form of record_run."""
    record_run(flow_run.id)


def _read_locked(fd: int, path: Path) -> dict | None:
    """The record behind `fd`, or None when it is unreadable or no longer the file at `path`."""
    try:
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            return None  # its live owner replaced it between our open and our lock
        data = json.loads(os.read(fd, 1 << 20) or b"null")
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _live_records(folder: Path) -> list[Path]:
    live = []
    for path in folder.glob("*.json"):
        fd = _try_lock(path)
        if fd is None:
            live.append(path)
        else:
            os.close(fd)
    return live


def _crash(client: Any, flow_run_id: str, why: str) -> bool:
    """Mark one unfinished flow run (and its unfinished task runs) Crashed; False when it is gone or already final."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    try:
        run = client.read_flow_run(uuid.UUID(flow_run_id))
    except (ObjectNotFound, ValueError):
        return False
    if run.state is None or run.state.is_final():
        return False
    unfinished = TaskRunFilter(
        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
    )
    for task_run in client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), task_run_filter=unfinished
    ):
        client.set_task_run_state(task_run.id, Crashed(message=why), force=True)
    client.set_flow_run_state(run.id, Crashed(message=why), force=True)
    return True


def sweep_runs(client: Any, folder: Path, key: str, unrecorded: bool = False) -> list[str]:
    """Mark Crashed the flow runs whose process is gone; return their ids.

    A run is orphaned when its record's lock can be taken and the record names the database `client` talks to (`key`,
    from server_key). With `unrecorded` (only for this machine's own SQLite, see is_local_sqlite) also the `retrain` runs
    left RUNNING or PENDING with no record at all (killed before recording, or by code older than the records), not
    started by a deployment, and only while no other embedforge process is alive on this database.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    crashed, recorded = [], set()
    for path in sorted(folder.glob("*.json")):
        fd = _try_lock(path)
        if fd is None:
            continue  # alive
        try:
            data = _read_locked(fd, path)
            if data is None or data.get("server") != key:
                continue  # replaced meanwhile, or another database's runs: leave it to a sweep that can reach them
            for flow_run_id in data.get("flow_runs", []):
                recorded.add(flow_run_id)
                why = (
                    f"its process (pid {data.get('pid')}) died without finishing it; marked Crashed by a later start-up"
                )
                if _crash(client, flow_run_id, why):
                    crashed.append(flow_run_id)
            path.unlink()  # only once every run it names is settled; an API error leaves it for the next sweep
        finally:
            os.close(fd)
    for tmp in folder.glob(".*.tmp"):  # a record write cut short; a fresh one may be about to be renamed into place
        if time.time() - tmp.stat().st_mtime > 60 and (fd := _try_lock(tmp)) is not None:
            tmp.unlink(missing_ok=True)
            os.close(fd)
    if unrecorded and not [p for p in _live_records(folder) if p.stem != str(os.getpid())]:
        crashed += _sweep_unrecorded(client, recorded)
    return crashed


def _sweep_unrecorded(client: Any, skip: set[str]) -> list[str]:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])),
            deployment_id=FlowRunFilterDeploymentId(is_null_=True),
        ),
    )
    why = "no live embedforge process runs it (it was killed before recording the run); marked by a later start-up"
    return [str(run.id) for run in runs if str(run.id) not in skip and _crash(client, str(run.id), why)]
