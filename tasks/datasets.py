"""The dataset store: named datasets, each an append-only list of content-addressed versions.

Layout:
    <root>/<name>/<sha256[:16]>/...   one version: the user's file, or the files of the user's BEIR folder
    <root>/<name>/latest              symlink to the newest version (replaced atomically)
A version is assembled under a temp name and renamed into place, so it appears whole or not at all. The user's input
is copied, never moved or changed. Adding identical content again is a no-op.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tasks.ingest import DataError, read_beir
from tasks.ingest.beir import splits_of
from tasks.ingest.tables import TableReport, validate_table
from tasks.storage import dir_sha256, file_sha256

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EVENT = "embedforge.dataset.updated"


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    sha256: str
    path: str  # the version folder (a BEIR folder) or the file inside it
    new: bool  # False when the same content was already stored


def check_name(name: str) -> str:
    if not NAME.match(name) or ".." in name:
        raise ValueError(
            f"dataset name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit, without '..' or path separators"
        )
    return name


def validate_input(path: Path, kind: str | None = None, columns: dict[str, str] | None = None) -> TableReport | None:
    """Validate a BEIR folder (strict) or a training table; raise DataError if anything is wrong."""
    if path.is_dir() and (path / "corpus.jsonl").exists():
        read_beir(path, splits_of(path))  # raises DataError listing every bad row
        return None
    report = validate_table(path, kind, columns)
    if report.findings:
        raise DataError(f"{path} has {report.quarantined.height} invalid row(s) of {report.rows_in}", report.findings)
    return report


def add(path: str | Path, name: str, root: str | Path) -> DatasetVersion:
    """Copy a validated file or BEIR folder into the store as a new version of `name` (a no-op if already there)."""
    source = Path(path)
    check_name(name)
    if not source.exists():
        raise DataError(f"{source} does not exist", [])
    sha = dir_sha256(source) if source.is_dir() else file_sha256(source)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    version = folder / sha[:16]
    target = version if source.is_dir() else version / source.name
    if version.exists():
        return DatasetVersion(name, sha, str(target.resolve()), new=False)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".incoming-"))
    try:
        if source.is_dir():
            shutil.copytree(source, staging, dirs_exist_ok=True)
        else:
            shutil.copy2(source, staging / source.name)
        os.replace(staging, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_latest(folder, version.name)
    return DatasetVersion(name, sha, str(target.resolve()), new=True)


def _point_latest(folder: Path, version: str) -> None:
    link = folder / f".latest-{version}"
    link.unlink(missing_ok=True)
    link.symlink_to(version)
    os.replace(link, folder / "latest")


def versions(root: str | Path, name: str) -> list[str]:
    folder = Path(root) / check_name(name)
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and not p.is_symlink()) if folder.is_dir() else []


def emit_updated(version: DatasetVersion) -> None:
    """Tell Prefect a dataset has a new version; the on-new-data deployment's trigger listens for this event."""
    from prefect.events import emit_event

    emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"embedforge.dataset.{version.name}", "prefect.resource.name": version.name},
        payload={"path": version.path, "sha256": version.sha256, "name": version.name},
    )
