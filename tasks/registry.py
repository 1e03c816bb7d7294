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
ROLLED_BACK = "ROLLED_BACK"  # marker in a version folder: taken out of service by hand, never re-promoted automatically


class RegistryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: str
    path: str
    promoted: bool
    champion: str  # the version (or base model name) that is champion after this registration
    note: str = ""  # why a gate-approved promotion did not happen


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
    if not (folder / MANIFEST).is_file() or (promote and (folder / ROLLED_BACK).exists()):
        return False
    pointer = read_champion(root)
    return not promote or (pointer is not None and pointer["sha256"] == candidate.sha256)


def register(
    candidate: ModelRef,
    promote: bool,
    baseline: ModelRef,
    root: str | Path,
    files: dict[str, str | bytes],
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
            for name, content in files.items():
                if isinstance(content, bytes):
                    (staging / name).write_bytes(content)
                else:
                    (staging / name).write_text(content, encoding="utf-8")
            (staging / MANIFEST).write_text(json.dumps({"version": version, **manifest}, indent=2, default=str))
            if folder.exists():  # a leftover without manifest from an older crash
                shutil.rmtree(folder)
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    registered = ModelRef(path=str(folder.resolve()), sha256=candidate.sha256, name=f"{candidate.name}@{version}")
    note = ""
    if promote and (folder / ROLLED_BACK).exists():
        promote = False
        note = f"version {version} was rolled back by hand; promote it explicitly with `embedforge models promote {version}`"
    if promote:
        set_champion(root, registered, version, baseline)
    pointer = read_champion(root)
    return RegistryEntry(
        version=version,
        path=str(folder.resolve()),
        promoted=promote,
        champion=pointer["version"] if pointer else baseline.name,
        note=note,
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


class RegistryError(ValueError):
    """A registry operation that cannot be done as asked (unknown version, nothing to roll back to)."""


def read_manifest(root: str | Path, version: str) -> dict:
    path = Path(root) / version / MANIFEST
    if not path.is_file():
        known = ", ".join(v["version"] for v in list_versions(root)) or "none"
        raise RegistryError(f"no model version {version!r} in {root} (registered: {known})")
    return json.loads(path.read_text(encoding="utf-8"))


def list_versions(root: str | Path) -> list[dict]:
    """Every registered version, newest first, with what a person picks a model by."""
    root = Path(root)
    if not root.is_dir():
        return []
    pointer = read_champion(root) or {}
    rows = []
    for manifest_path in root.glob(f"*/{MANIFEST}"):
        if manifest_path.parent.name.startswith("."):
            continue
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        decision = manifest.get("decision") or {}
        rows.append(
            {
                "version": manifest["version"],
                "created_at": manifest.get("created_at", ""),
                "champion": manifest["version"] == pointer.get("version"),
                "promoted_by_gate": bool(decision.get("promote")),
                "metric": decision.get("metric"),
                "score": decision.get("candidate"),
                "base_model": manifest.get("base_model"),
                "dataset": manifest.get("source"),
                "path": str(manifest_path.parent.resolve()),
            }
        )
    return sorted(rows, key=lambda r: r["created_at"], reverse=True)


def _registered_ref(root: str | Path, version: str) -> ModelRef:
    manifest = read_manifest(root, version)
    model = manifest["model"]
    return ModelRef(path=str((Path(root) / version).resolve()), sha256=model["sha256"], name=f"{model['name']}@{version}")


def promote(root: str | Path, version: str) -> dict:
    """Make a registered version the champion by hand; the current champion becomes its rollback target."""
    ref = _registered_ref(root, version)
    (Path(root) / version / ROLLED_BACK).unlink(missing_ok=True)
    current = champion_ref(root)
    if current is not None and current.sha256 == ref.sha256:
        return read_champion(root)
    previous = current if current is not None else ModelRef(**read_manifest(root, version)["judged_against"])
    set_champion(root, ref, version, previous)
    return read_champion(root)


def rollback(root: str | Path) -> dict | None:
    """Point the champion back at the model it replaced; back to the base model (no pointer) at the start of the chain."""
    pointer = read_champion(root)
    if pointer is None:
        raise RegistryError(f"nothing to roll back in {root}: the base model is already the champion")
    previous = pointer.get("previous")
    if previous is None:
        raise RegistryError(f"{pointer['version']} has no recorded predecessor to roll back to")
    atomic_write_text(Path(root) / pointer["version"] / ROLLED_BACK, datetime.now(timezone.utc).isoformat() + "\n")
    version = _version_at(root, previous["sha256"])
    if version is None:  # the predecessor was never registered: the base model
        (Path(root) / POINTER).unlink()
        return None
    before = read_manifest(root, version).get("judged_against")
    before_ref = ModelRef(**before) if before and before["sha256"] != previous["sha256"] else None
    set_champion(root, _registered_ref(root, version), version, before_ref)
    return read_champion(root)


def _version_at(root: str | Path, sha256: str) -> str | None:
    version = sha256[:12]
    return version if (Path(root) / version / MANIFEST).is_file() else None


def prune(root: str | Path, keep: int) -> list[str]:
    """Delete the oldest versions beyond `keep`, never the champion or its rollback target; returns what went."""
    pointer = read_champion(root) or {}
    protected = {pointer.get("version")}
    if pointer.get("previous"):
        protected.add(pointer["previous"]["sha256"][:12])
    removed = []
    for row in list_versions(root)[keep:]:
        if row["version"] in protected:
            continue
        # rename first: a crash mid-delete leaves a hidden folder, never a version without its weights
        trash = Path(root) / f".trash-{row['version']}"
        os.replace(Path(root) / row["version"], trash)
        shutil.rmtree(trash, ignore_errors=True)
        removed.append(row["version"])
    return removed
