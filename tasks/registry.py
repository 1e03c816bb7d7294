"""Model registry: model lines, each one folder per version and an atomic champion pointer with its history.

Layout of one line (`line_root`: the registry root itself for the default line, `<root>/lines/<line>` for the others):
    <line>/<version>/            SentenceTransformer files + manifest.json + pipeline_config.yaml + report.md
    <line>/CHAMPION.json         {"version", "path", "sha256", "name", "baseline", "promoted_at", "history": [...]}
    <line>/.lock                 held (flock) by every operation that moves the pointer, places a version or prunes
A line (`registry.line`; a run triggered by `embedforge data add --dataset NAME` trains on line NAME) has its own
champion, history, rollback and pruning: a candidate is only ever judged against its own line's champion. Every
function below takes a line's folder as `root`.
A version id is the first 12 hex digits of `model_identity`, the hash of the files that define the model (weights,
tokenizer, configs, modules) and of nothing that records a run (model card, timings), so registering the same model
twice is a no-op. The manifest records each of those files' sha256; they are checked before a version is promoted,
rolled back to or handed out as the champion.

CHAMPION.json is absent before the first promotion and has `"version": null` after a rollback to the base model: in
both cases the base model is champion. Its `history` lists every promotion (with the champion it was judged against,
`baseline`) and rollback, so "each promotion's baseline is the champion just before it" can be checked by replaying it.
Every write is a temp file renamed into place: a reader sees the old pointer or the new one, never a torn file.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.config import RegistryConfig, check_name
from tasks.storage import ModelRef, file_sha256

POINTER = "CHAMPION.json"
MANIFEST = "manifest.json"
LOCK = ".lock"
ROLLED_BACK = "ROLLED_BACK"  # marker in a version folder: taken out of service by hand, never re-promoted automatically
BASE = "base"  # the champion (or a baseline) when it is the configured base model rather than a registered version
FILE_MODE, DIR_MODE = 0o644, 0o755  # a serving account other than the training one must be able to read the champion
LOCK_TIMEOUT_S = (
    600.0  # registry operations hold the lock for seconds (hashing weights); ten minutes means one is stuck
)

# The top-level files of a SentenceTransformer (or transformers) folder that decide what it computes. An allow-list,
# not a deny-list: files the registry adds (manifest.json, report.md, ROLLED_BACK) and whatever a trainer leaves behind
# (README.md model card with training time, embedforge_training.json, checkpoint-*/) must never change the version.
MODEL_FILES = (
    "modules.json",
    "sentence_bert_config.json",
    "config*.json",  # config.json (architecture), config_sentence_transformers.json (prompts, similarity function)
    "*.safetensors",
    "*.safetensors.index.json",
    "*.bin",
    "*.bin.index.json",
    "tokenizer*",  # tokenizer.json, tokenizer_config.json, tokenizer.model
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.*",
    "merges.txt",
    "*.model",  # sentencepiece vocabularies (spiece.model, sentencepiece.bpe.model)
    "preprocessor_config.json",
)
RUN_METADATA = ("training_args.bin",)  # the HF Trainer's pickled arguments: a .bin, but run metadata, not weights
WEIGHTS = ("*.safetensors", "*.bin")
DEFAULT_LINE = RegistryConfig().line  # lives at the registry root, where a registry kept everything before lines
LINES = "lines"  # <root>/lines/<line>: every other line


def line_root(root: str | Path, line: str = DEFAULT_LINE) -> Path:
    """The folder of one model line under the registry root."""
    return Path(root) if line == DEFAULT_LINE else Path(root) / LINES / check_name(line, "model line")


def lines(root: str | Path) -> list[str]:
    """The model lines under a registry root that hold a version or a pointer, the default line first."""
    others = Path(root) / LINES
    named = (
        sorted(p.name for p in others.iterdir() if p.is_dir() and (_registered(p) or (p / POINTER).is_file()))
        if others.is_dir()
        else []
    )
    held = _registered(root) or (Path(root) / POINTER).is_file()
    return ([DEFAULT_LINE] if held else []) + [n for n in named if n != DEFAULT_LINE]


class RegistryError(ValueError):
    """A registry operation that cannot be done as asked (unknown version, files changed, nothing to roll back to)."""


class RegistryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: str
    path: str
    promoted: bool  # the candidate is champion after this registration
    champion: str  # the version that is champion after this registration, or "base" for the base model
    note: str = ""  # why a gate-approved promotion did not happen
    replaced: str = ""  # the champion this registration replaced ("base": the base model); "" if the pointer stayed


# ---- identity ---------------------------------------------------------------------------------------------------


def _is_model_file(name: str) -> bool:
    return name not in RUN_METADATA and any(fnmatch.fnmatchcase(name, pattern) for pattern in MODEL_FILES)


def model_files(path: str | Path) -> list[str]:
    """The files that define the model in a folder, as sorted relative paths: the allow-listed top-level files, and
    every file in each module folder named by modules.json (1_Pooling/config.json, 2_Dense/model.safetensors, ...)."""
    folder = Path(path)
    if not folder.is_dir():
        raise RegistryError(f"model folder {folder} does not exist or is not a folder")
    names = {p.name for p in folder.iterdir() if p.is_file() and _is_model_file(p.name)}
    modules = folder / "modules.json"
    try:
        listed = json.loads(modules.read_text(encoding="utf-8")) if modules.is_file() else []
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{modules} is not valid JSON ({exc}): not a loadable SentenceTransformer folder") from exc
    for module in listed:
        sub = module.get("path") or ""
        if not sub:
            continue  # a module saved at the top level (the Transformer): its files are the allow-listed ones above
        module_dir = (folder / sub).resolve()
        if not module_dir.is_relative_to(folder.resolve()):
            raise RegistryError(f"{modules} names module folder {sub!r}, which lies outside {folder}")
        # a module writes only what it needs to load (Pooling, Dense, Normalize): all of it defines the model
        names.update(
            p.relative_to(folder).as_posix()
            for p in (folder / sub).rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
    if not any(fnmatch.fnmatchcase(Path(name).name, w) for name in names for w in WEIGHTS):
        raise RegistryError(f"{folder} holds no weights (*.safetensors or *.bin): not a model folder")
    return sorted(names)


def _digest(checksums: dict[str, str]) -> str:
    # the construction of storage.dir_sha256 (path, NUL, file sha256, in sorted order), restricted to the model files
    digest = hashlib.sha256()
    for name in sorted(checksums):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(checksums[name].encode())
    return digest.hexdigest()


def _checksums(path: str | Path) -> dict[str, str]:
    folder = Path(path)
    return {name: file_sha256(folder / name) for name in model_files(folder)}


def model_identity(path: str | Path) -> str:
    """The sha256 of what defines the model in a folder: weights, tokenizer, configs, modules.json and module folders.

    Left out: the model card (README.md), timings and run metadata (embedforge_training.json, checkpoints), and what
    the registry adds (manifest, report), so two runs that produce the same weights get the same identity. The
    resolved pipeline config is left out too: it holds data paths, evaluation, gate and registry settings that do not
    change the model, and the training settings that do are already reflected in the weights. It is lineage and is
    kept in the manifest and pipeline_config.yaml of the version's first registration.
    """
    return _digest(_checksums(path))


def version_of(ref: ModelRef) -> str:
    """The registry version id of a model folder: the first 12 hex digits of its identity (not of ref.sha256, which
    also covers the model card and so differs between two runs that trained identical weights)."""
    return model_identity(ref.path)[:12]


# ---- files, lock, pointer ---------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, payload: dict) -> None:
    """Atomic write, readable by other accounts from the moment it appears (mkstemp alone would make it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload, indent=2, default=str))
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ensure_root(root: Path) -> None:
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(DIR_MODE)  # mkdir honours the umask; the serving account has to list the root


@contextmanager
def _locked(root: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold `<root>/.lock` exclusively (flock: released by the kernel if the holder dies, so no stale lock remains).

    Not for registries on NFS, where flock may not be shared between machines.
    """
    _ensure_root(root)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    raise RegistryError(
                        f"{root / LOCK} has been held by another registry operation (pid {holder}) for over "
                        f"{timeout_s:.0f} s; if that process is stuck, stop it and retry"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # only for the error above
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _read_state(root: str | Path) -> dict:
    path = Path(root) / POINTER
    if not path.is_file():
        return {"version": None, "history": []}
    return json.loads(path.read_text(encoding="utf-8"))


def read_champion(root: str | Path) -> dict | None:
    """The champion pointer, or None while the base model is champion (before any promotion or rolled back to it)."""
    state = _read_state(root)
    return state if state.get("version") else None


def history(root: str | Path) -> list[dict]:
    """Every promotion ({action, version, baseline, by, at}) and rollback ({action, version, replaced, at}), oldest first."""
    return list(_read_state(root).get("history", []))


def _champion_version(state: dict) -> str:
    return state.get("version") or BASE


def _last_promotions(events: list[dict]) -> dict[str, dict]:
    return {e["version"]: e for e in events if e["action"] == "promote"}


# ---- reading registered versions --------------------------------------------------------------------------------


def _registered(root: str | Path) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def _check_registered(root: str | Path, version: str) -> None:
    known = _registered(root)
    if version not in known:
        hint = (
            " (a path is not accepted: a model enters the registry through a run)"
            if "/" in version or "\\" in version
            else ""
        )
        raise RegistryError(
            f"{version!r} is not a registered version id in {root}{hint}; registered: {', '.join(known) or 'none'}"
        )


def read_manifest(root: str | Path, version: str) -> dict:
    _check_registered(root, version)
    return json.loads((Path(root) / version / MANIFEST).read_text(encoding="utf-8"))


def verify(root: str | Path, version: str) -> ModelRef:
    """Check a registered version's model files against the sha256 its manifest recorded; return its ref if they match.

    The ref's sha256 is the version's identity, so the same model has the same ref (and evaluation cache key) in
    every run.
    """
    manifest = read_manifest(root, version)
    folder = Path(root) / version
    recorded = manifest.get("model_files")
    if not recorded:
        raise RegistryError(
            f"version {version} in {root} was registered without file checksums (by an older embedforge), so its weights "
            f"cannot be verified; register the model again from its source folder"
        )
    added = sorted(set(model_files(folder)) - set(recorded))
    if added:
        raise RegistryError(
            f"{folder} holds model files its manifest does not list: {', '.join(added)}; "
            f"they were added after registration: remove them or register the model again"
        )
    for name, expected in sorted(recorded.items()):
        file = folder / name
        if not file.is_file():
            raise RegistryError(
                f"{file} is missing: version {version} was registered with it (sha256 {expected[:16]}...)"
            )
        found = file_sha256(file)
        if found != expected:
            raise RegistryError(
                f"{file} does not match the manifest of version {version}: sha256 {found[:16]}... found, "
                f"{expected[:16]}... registered; the file changed after registration. Roll back or promote another "
                f"version, or register the model again from its source folder"
            )
    return ModelRef(path=str(folder.resolve()), sha256=manifest["identity"], name=f"{manifest['model_name']}@{version}")


def champion_ref(root: str | Path) -> ModelRef | None:
    """The champion's ref after checking its files against its manifest (RegistryError if they changed); None while
    the base model is champion. Use this, not CHAMPION.json's path, to load the champion."""
    pointer = read_champion(root)
    return verify(root, pointer["version"]) if pointer else None


def baseline_for(root: str | Path, candidate: ModelRef, base: ModelRef) -> ModelRef:
    """The model a candidate is judged against: the (verified) champion, or the base model while it is champion.

    When the champion *is* this candidate (the same run repeated), the candidate is judged against the model it
    replaced, so a repeated run reaches the same decision and its steps stay cache hits.
    """
    pointer = read_champion(root)
    if pointer is None:
        return base
    if pointer["version"] == version_of(candidate):
        return base if pointer["baseline"] == BASE else verify(root, pointer["baseline"])
    return verify(root, pointer["version"])


def _baseline_version(root: Path, ref: ModelRef) -> str:
    """Which champion a gate judged against: the registered version a ref points at, else the base model.

    A registered ref carries the version's identity as sha256 (see `verify`); a base model that happens to sit in the
    registry folder was resolved with a sha256 over all its files and so still counts as the base model.
    """
    folder = Path(ref.path).resolve()
    if folder.parent == root.resolve() and (folder / MANIFEST).is_file():
        if json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("identity") == ref.sha256:
            return folder.name
    return BASE


def reflects(root: str | Path, candidate: ModelRef, promote: bool) -> bool:
    """True when the registry already holds this candidate and, if it was to be promoted, it is the champion."""
    version = version_of(candidate)
    folder = Path(root) / version
    if not (folder / MANIFEST).is_file() or (promote and (folder / ROLLED_BACK).exists()):
        return False
    pointer = read_champion(root)
    return not promote or (pointer is not None and pointer["version"] == version)


# ---- changing the registry ----------------------------------------------------------------------------------------


def _make_readable(folder: Path) -> None:
    # mkdtemp makes 0700 folders and safetensors/mkstemp 0600 files; copytree keeps those modes
    folder.chmod(DIR_MODE)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)


def _stage(candidate: ModelRef, version: str, root: Path, files: dict[str, str | bytes], manifest: dict) -> Path:
    """Assemble the version folder under a hidden temp name; the checksums are taken from the copy that will be served."""
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{version}."))
    try:
        shutil.copytree(candidate.path, staging, dirs_exist_ok=True)
        for name, content in files.items():
            if isinstance(content, bytes):
                (staging / name).write_bytes(content)
            else:
                (staging / name).write_text(content, encoding="utf-8")
        checksums = _checksums(staging)
        identity = _digest(checksums)
        if identity[:12] != version:
            raise RegistryError(
                f"{candidate.path} changed while it was copied into the registry "
                f"(version {version} before, {identity[:12]} after); register it again"
            )
        record = {
            "created_at": _now(),
            **manifest,
            # the registry's own keys win over the caller's: they are what verification trusts
            "version": version,
            "identity": identity,
            "model_name": candidate.name,
            "model_files": checksums,
        }
        (staging / MANIFEST).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        _make_readable(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _place(staging: Path, folder: Path) -> None:
    """Rename a staged version into place (under the lock, so two runs registering the same model cannot collide)."""
    if (folder / MANIFEST).is_file():
        shutil.rmtree(staging)  # the same model was registered meanwhile; the first registration's lineage stays
        return
    if folder.exists():  # a leftover without manifest, from a crash of an older embedforge or a hand edit
        shutil.rmtree(folder)
    os.replace(staging, folder)


def _write_promotion(root: Path, state: dict, version: str, ref: ModelRef, baseline: str, by: str) -> None:
    at = _now()
    event = {"action": "promote", "version": version, "baseline": baseline, "by": by, "at": at}
    _write_json(
        root / POINTER,
        {
            "version": version,
            "path": ref.path,
            "sha256": ref.sha256,
            "name": ref.name,
            "baseline": baseline,
            "promoted_at": at,
            "history": [*state.get("history", []), event],
        },
    )


def register(
    candidate: ModelRef,
    promote: bool,
    baseline: ModelRef,
    root: str | Path,
    files: dict[str, str | bytes],
    manifest: dict,
) -> RegistryEntry:
    """Copy the candidate into `<root>/<version>/` with its manifest and extra files; make it champion if `promote`
    and the champion is still `baseline`, the model the gate judged it against (compare-and-swap under the lock).

    If the champion moved since the gate (another run promoted, or someone promoted or rolled back by hand), the
    candidate is registered without promotion and the entry's note says so: it was never compared with the new
    champion, and the next run will be. The folder is assembled under a temp name and renamed into place, so a crash
    leaves no half-written version.
    """
    root = Path(root)
    clashes = sorted(name for name in files if name == MANIFEST or _is_model_file(name.split("/")[0]))
    if clashes:
        raise RegistryError(f"extra files {clashes} would overwrite the model's own files or the manifest; rename them")
    _ensure_root(root)
    version = version_of(candidate)
    folder = root / version
    staging = None if (folder / MANIFEST).is_file() else _stage(candidate, version, root, files, manifest)
    gated = _baseline_version(root, baseline)
    try:
        with _locked(root):
            if staging is not None:
                _place(staging, folder)
            state = _read_state(root)
            current = _champion_version(state)
            note, replaced = "", ""
            if not promote or current == version:
                promoted = promote  # not asked, or already champion (the same model registered again)
            elif (folder / ROLLED_BACK).exists():
                promoted = False
                note = (
                    f"version {version} was rolled back by hand; "
                    f"promote it explicitly with `embedforge models promote {version}`"
                )
            elif gated != current:
                promoted = False
                note = (
                    f"the champion moved from {gated} to {current} after the gate judged {version} against {gated}, "
                    f"so {version} was registered without promotion; the next run judges against {current}"
                )
            else:
                # the baseline recorded is the one the gate judged against (equal to the champion, checked above)
                _write_promotion(root, state, version, verify(root, version), baseline=gated, by="gate")
                promoted, replaced, current = True, current, version
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return RegistryEntry(
        version=version, path=str(folder.resolve()), promoted=promoted, champion=current, note=note, replaced=replaced
    )


def promote(root: str | Path, version: str) -> dict:
    """Make a registered version the champion by hand, after checking its files; the current champion is its baseline."""
    root = Path(root)
    with _locked(root):
        ref = verify(root, version)  # also rejects anything that is not a registered version id
        (root / version / ROLLED_BACK).unlink(missing_ok=True)
        state = _read_state(root)
        current = _champion_version(state)
        if current != version:
            _write_promotion(root, state, version, ref, baseline=current, by="hand")
        return read_champion(root)  # read under the lock: what this call left, not a later change


def rollback(root: str | Path) -> dict | None:
    """Point the champion back at its baseline, the model it replaced; None when that is the base model.

    The replaced version is marked ROLLED_BACK so a scheduled run does not promote it again.
    """
    root = Path(root)
    with _locked(root):
        state = _read_state(root)
        current = state.get("version")
        if not current:
            raise RegistryError(f"nothing to roll back in {root}: the base model is already the champion")
        if "baseline" not in state:
            raise RegistryError(
                f"{root / POINTER} was written by an older embedforge and records no baseline to roll "
                f"back to; promote a version by hand, or delete it to make the base model champion"
            )
        target = state["baseline"]
        if target != BASE:
            if target not in _registered(root):
                raise RegistryError(
                    f"cannot roll back {current}: {target}, the model it replaced, is no longer in {root} "
                    f"(pruned?); promote another version by hand with `embedforge models promote`"
                )
            ref = verify(root, target)
        _write_json(root / current / ROLLED_BACK, {"rolled_back_at": _now()})
        event = {"action": "rollback", "version": target, "replaced": current, "at": _now()}
        events = [*state.get("history", []), event]
        if target == BASE:
            pointer = {
                "version": None,
                "path": None,
                "sha256": None,
                "name": None,
                "baseline": None,
                "promoted_at": None,
            }
        else:
            # the target takes back its own baseline, so a second rollback continues down the chain
            last = _last_promotions(events).get(target, {})
            pointer = {
                "version": target,
                "path": ref.path,
                "sha256": ref.sha256,
                "name": ref.name,
                "baseline": last.get("baseline", BASE),
                "promoted_at": last.get("at"),
            }
        _write_json(root / POINTER, {**pointer, "history": events})
        return read_champion(root)


def list_versions(root: str | Path) -> list[dict]:
    """Every registered version, newest first, with what a person picks a model by and its last promotion."""
    root = Path(root)
    state = _read_state(root)
    promotions = _last_promotions(state.get("history", []))
    rows = []
    for version in _registered(root):
        manifest = json.loads((root / version / MANIFEST).read_text(encoding="utf-8"))
        decision = manifest.get("decision") or {}
        promotion = promotions.get(version, {})
        rows.append(
            {
                "version": manifest["version"],
                "created_at": manifest.get("created_at", ""),
                "champion": manifest["version"] == state.get("version"),
                "promoted_at": promotion.get("at"),  # its last promotion; None if never promoted
                "baseline": promotion.get("baseline"),  # the champion it replaced then ("base": the base model)
                "rolled_back": (root / version / ROLLED_BACK).exists(),
                "promoted_by_gate": bool(decision.get("promote")),
                "metric": decision.get("metric"),
                "score": decision.get("candidate"),
                "base_model": manifest.get("base_model"),
                "dataset": manifest.get("source"),
                "path": str((root / version).resolve()),
            }
        )
    return sorted(rows, key=lambda r: r["created_at"], reverse=True)


def prune(root: str | Path, keep: int) -> list[str]:
    """Delete the oldest versions beyond `keep`, never the champion or its rollback target; returns what went."""
    root = Path(root)
    removed = []
    with _locked(root):  # a version being promoted by hand must not be deleted under it
        state = _read_state(root)
        protected = {state.get("version"), state.get("baseline")}
        for row in list_versions(root)[keep:]:
            if row["version"] in protected:
                continue
            # rename first: a crash mid-delete leaves a hidden folder, never a version without its weights
            trash = root / f".trash-{row['version']}"
            os.replace(root / row["version"], trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(row["version"])
    return removed


def code_version() -> str:
    """The git commit of the code that produced a model (with '+dirty' for uncommitted changes), else the package version."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return "embedforge " + version("embedforge")
        except PackageNotFoundError:
            return "unknown"
