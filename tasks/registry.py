"""Model registry: one folder per version under the registry root, and an atomic champion pointer.

Layout:
    <root>/<version>/            SentenceTransformer files + manifest.json + pipeline_config.yaml + report.md
    <root>/CHAMPION.json         {"version", "path", "sha256", "name", "previous", "promoted_at"}
A version id is the first 12 hex digits of the model's content hash, so registering the same model twice is a no-op.
The pointer is replaced by rename: a reader sees the old champion or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.storage import ModelRef, atomic_write_text

POINTER = "CHAMPION.json"
MANIFEST = "manifest.json"


class RegistryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: str
    path: str
    promoted: bool
    champion: str  # the version (or base model name) that is champion after this registration


def version_of(ref: ModelRef) -> str:
    return ref.sha256[:12]


def read_champion(root: str | Path) -> dict | None:
    """The champion pointer, or None before the first promotion."""
    path = Path(root) / POINTER
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def champion_ref(root: str | Path) -> ModelRef | None:
    pointer = read_champion(root)
    if pointer is None:
        return None
    return ModelRef(path=pointer["path"], sha256=pointer["sha256"], name=pointer["name"])


def baseline_for(root: str | Path, candidate: ModelRef, base: ModelRef) -> ModelRef:
    """The model a candidate is judged against: the champion, or the base model before any promotion.

    When the champion *is* this candidate (the same run repeated), the candidate is judged against the model it
    replaced, so a repeated run reaches the same decision and its steps stay cache hits.
    """
    pointer = read_champion(root)
    if pointer is None:
        return base
    if pointer["sha256"] == candidate.sha256:
        previous = pointer.get("previous")
        return ModelRef(**previous) if previous else base
    return ModelRef(path=pointer["path"], sha256=pointer["sha256"], name=pointer["name"])


def set_champion(root: str | Path, ref: ModelRef, version: str, previous: ModelRef | None) -> None:
    """Point CHAMPION.json at a registered version, atomically."""
    pointer = {
        "version": version,
        "path": ref.path,
        "sha256": ref.sha256,
        "name": ref.name,
        "previous": previous.model_dump() if previous else None,
        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(Path(root) / POINTER, json.dumps(pointer, indent=2))


def reflects(root: str | Path, candidate: ModelRef, promote: bool) -> bool:
    """True when the registry already holds this candidate and, if it was to be promoted, it is the champion."""
    folder = Path(root) / version_of(candidate)
    if not (folder / MANIFEST).is_file():
        return False
    pointer = read_champion(root)
    return not promote or (pointer is not None and pointer["sha256"] == candidate.sha256)


def register(
    candidate: ModelRef,
    promote: bool,
    baseline: ModelRef,
    root: str | Path,
    files: dict[str, str],
    manifest: dict,
) -> RegistryEntry:
    """Copy the candidate into `<root>/<version>/` with its manifest and extra files; move the pointer if promoted.

    The folder is assembled under a temp name and renamed into place, so a crash leaves no half-written version.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    version = version_of(candidate)
    folder = root / version
    if not (folder / MANIFEST).is_file():
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{version}."))
        try:
            shutil.copytree(candidate.path, staging, dirs_exist_ok=True)
            for name, text in files.items():
                (staging / name).write_text(text, encoding="utf-8")
            (staging / MANIFEST).write_text(json.dumps({"version": version, **manifest}, indent=2, default=str))
            if folder.exists():  # a leftover without manifest from an older crash
                shutil.rmtree(folder)
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    registered = ModelRef(path=str(folder.resolve()), sha256=candidate.sha256, name=f"{candidate.name}@{version}")
    if promote:
        set_champion(root, registered, version, baseline)
    pointer = read_champion(root)
    return RegistryEntry(
        version=version,
        path=str(folder.resolve()),
        promoted=promote,
        champion=pointer["version"] if pointer else baseline.name,
    )


def code_version() -> str:
    """The git commit of the code that produced a model (with '+dirty' for uncommitted changes), else the package version."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return "embedforge " + version("embedforge")
        except PackageNotFoundError:
            return "unknown"
