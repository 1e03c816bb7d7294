"""Refs, content hashing, atomic writes and the content-based cache key every task uses.

Tasks never hand each other frames or models: they write one file (or one model folder) into a content-addressed store
and return a small frozen ref (path + sha256 + size). A ref hashes cheaply and means the same thing in every process,
so Prefect's cache keys built from refs survive restarts.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

CHUNK = 1 << 20
logger = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A ref points at a file that is missing or whose content changed since it was written."""


class DatasetRef(BaseModel):
    """One parquet file in the store."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str
    rows: int
    schema_name: str


class ModelRef(BaseModel):
    """One SentenceTransformer folder; sha256 covers every file in it."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str
    name: str


def _plain_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# temp files are created 0600; what is renamed into place gets the mode a plain open() gives, so other accounts
# (a serving account loading the champion) can read what the pipeline wrote
PLAIN_FILE_MODE = _plain_file_mode()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dir_sha256(path: str | Path) -> str:
    """Hash of a folder: every file's relative path and content, in sorted order (hidden files skipped)."""
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, PLAIN_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_frame(frame: pl.DataFrame, store: str | Path, schema_name: str) -> DatasetRef:
    """Write a frame as parquet at `<store>/<schema_name>/<sha256[:16]>.parquet`, atomically; return its ref."""
    folder = Path(store) / schema_name
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write.", suffix=".parquet")
    os.fchmod(fd, PLAIN_FILE_MODE)
    # locked while it is written: a start-up sweep removes it only once we are gone (liveness.sweep_partial)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        frame.write_parquet(tmp, statistics=False)
        sha = file_sha256(tmp)
        final = folder / f"{sha[:16]}.parquet"
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return DatasetRef(path=str(final.resolve()), sha256=sha, rows=frame.height, schema_name=schema_name)


def read_frame(ref: DatasetRef) -> pl.DataFrame:
    """Load a ref's parquet, refusing a file that is gone or no longer has the ref's content."""
    path = Path(ref.path)
    if not path.is_file():
        raise StoreError(f"{ref.schema_name} file {path} is missing from the store; rerun with a fresh cache")
    if file_sha256(path) != ref.sha256:
        raise StoreError(f"{ref.schema_name} file {path} changed since it was written (sha256 mismatch)")
    return pl.read_parquet(path)


def publish_dir(staging: str | Path, store: str | Path, kind: str, name: str) -> ModelRef:
    """Move a finished folder into `<store>/<kind>/<sha256[:16]>` (rename, so it appears whole) and return its ref."""
    staging = Path(staging)
    sha = dir_sha256(staging)
    final = Path(store) / kind / sha[:16]
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(staging)
    else:
        os.replace(staging, final)
    return ModelRef(path=str(final.resolve()), sha256=sha, name=name)


def _canonical(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    return value


def content_key(ignore: tuple[str, ...] = ()) -> Callable[[Any, dict[str, Any]], str]:
    """A Prefect cache_key_fn: sha256 of the code the task runs and its parameters (refs by content, configs by value).

    The code is derived from the task function through the import graph (tasks/codehash.py): every project module it
    reaches counts, nothing else does. Parameters named in `ignore` (devices, timings) do not change what the task
    produces and are left out.
    """
    from tasks.codehash import code_digest

    def key(context: Any, parameters: dict[str, Any]) -> str:
        fn = context.task.fn
        payload = {
            "task": f"{fn.__module__}.{fn.__qualname__}",
            "code": code_digest(fn),
            "parameters": {k: _canonical(v) for k, v in sorted(parameters.items()) if k not in ignore},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    return key


@contextmanager
def exclusive_lock(path: str | Path, waiting: str = "") -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the block; wait for another holder first.

    An flock, not a lock file's existence: the kernel releases it when its holder dies, so a crashed run never leaves
    others waiting forever (Prefect's file lock manager keeps a killed holder's lock file until it expires).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                logger.info("%s (%s)", waiting, path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
