"""The dataset store: named datasets, each an append-only list of content-addressed versions.

Layout:
    <root>/<name>/<sha256[:16]>/...         one version: the user's file, or the files of the user's BEIR folder
    <root>/<name>/latest                    symlink to the newest version (replaced atomically)
    <root>/<name>/.announced-<sha256[:16]>  written once the version's event reached a Prefect server
A version is assembled under a temp name and renamed into place, so it appears whole or not at all. The user's input
is copied, never moved or changed; a symbolic link inside it, or one at the store's dataset path, is refused rather
than followed. Adding identical content again is a no-op (apart from announcing a version that never was).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tasks import liveness
from tasks.config import PipelineConfig, build_config, check_name, load_config
from tasks.ingest import DataError, read_beir
from tasks.ingest.beir import splits_of
from tasks.ingest.pairs import build_pairs
from tasks.ingest.report import Finding
from tasks.ingest.sources import read_source
from tasks.ingest.tables import TableReport, validate_table
from tasks.losses import IN_BATCH
from tasks.storage import atomic_write_text, dir_sha256, file_sha256

logger = logging.getLogger(__name__)

EVENT = "embedforge.dataset.updated"
TRIGGERED = "retrain/on-new-data"  # the deployment whose trigger listens for EVENT (flows/serve.py, deployments/)


@dataclass(frozen=True)
class DatasetVersion:
    name: str
    sha256: str
    path: str  # the version folder (a BEIR folder) or the file inside it
    new: bool  # False when the same content was already stored


def validate_input(path: Path, kind: str | None = None, columns: dict[str, str] | None = None) -> TableReport | None:
    """Validate a BEIR folder (strict) or a training table; raise DataError if anything is wrong."""
    if path.is_dir() and (path / "corpus.jsonl").exists():
        read_beir(path, splits_of(path))  # raises DataError listing every bad row
        return None
    report = validate_table(path, kind, columns)
    if report.findings:
        raise DataError(f"{path} has {report.quarantined.height} invalid row(s) of {report.rows_in}", report.findings)
    return report


def trigger_config(config: str | None, overrides: list[str], api_url: str | None) -> tuple[PipelineConfig, str]:
    """The configuration a run started by EVENT would use, and where it came from: the given --config/--set; else the
    parameters of the on-new-data deployment on the server at api_url (what `embedforge serve` registered); else the
    defaults (what deployments/prefect.yaml registers)."""
    if config or overrides:
        return load_config(config, overrides), "--config/--set"
    if not api_url:
        return PipelineConfig(), "the defaults"
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(TRIGGERED)
    except ObjectNotFound:
        return PipelineConfig(), f"the defaults (the server at {api_url} has no {TRIGGERED} deployment yet)"
    except Exception as exc:  # httpx raises several types for a server that is down or not Prefect
        raise DataError(
            f"cannot reach the Prefect server at PREFECT_API_URL={api_url} ({type(exc).__name__}: {exc}); "
            "start it, or unset PREFECT_API_URL to store the dataset without announcing it",
            [],
        ) from None
    where = f"deployment {TRIGGERED} on {api_url}"
    return build_config(dict(deployment.parameters or {}).get("cfg") or {}, where), where


def check_trainable(path: Path, cfg: PipelineConfig, where: str) -> int:
    """Read `path` as the triggered run would (cfg with data.path = path) and refuse data it cannot train on: fewer
    training pairs than train.batch_size with an in-batch loss fails in the worker, long after `data add` said yes.
    Returns the number of training pairs."""
    if cfg.data.qrels is not None:
        raise DataError(
            f"the configuration of the triggered run ({where}) reads data.corpus, data.queries and "
            f"data.qrels, not data.path, so it would not train on {path}",
            [],
        )
    data_cfg = cfg.data.model_copy(update={"path": str(path)})
    try:
        found = read_source(str(path), data_cfg)
        pairs = build_pairs(
            found.data.qrels[data_cfg.train_split], found.data.corpus, found.data.queries, data_cfg.min_relevance
        )
    except DataError as exc:
        raise DataError(
            f"the run this dataset would trigger (config: {where}) cannot use it: {exc.summary}", exc.findings
        ) from None
    rows = pairs.height
    if cfg.train.dev_fraction > 0 and rows:
        from tasks.train import split_dev  # the same seeded hold-out the train step makes

        rows = split_dev(pairs, found.data.corpus, cfg.train.dev_fraction, cfg.train.dev_corpus_size, cfg.train.seed)[
            0
        ].height
    batch = cfg.train.batch_size
    if cfg.train.loss in IN_BATCH and rows < batch:
        raise DataError(
            f"{path} gives {rows} training pair(s) (split {data_cfg.train_split!r}"
            + (
                f", after the train.dev_fraction={cfg.train.dev_fraction} hold-out"
                if cfg.train.dev_fraction > 0
                else ""
            )
            + f"), fewer than train.batch_size={batch} of the run it would trigger (config: {where}); "
            f"{cfg.train.loss} needs a full batch, so that run would fail in the worker. Add data (at least {batch} "
            f"training pairs), or lower train.batch_size to at most {rows} for `embedforge serve` and pass the same "
            f"setting to data add (--set train.batch_size={max(rows, 2)})",
            [Finding(str(path), 0, "-", "trainable", f"{rows} training pairs < train.batch_size {batch}")],
        )
    return rows


def refuse_links(source: Path) -> None:
    """Refuse a folder holding a symbolic link (it would copy a file from outside the folder) or anything that is not
    a regular file or folder."""
    if not source.is_dir():
        return
    for folder, dirs, files in os.walk(source, followlinks=False):
        for entry in dirs + files:
            item = Path(folder) / entry
            if item.is_symlink():
                raise DataError(
                    f"{item} is a symbolic link (to {os.readlink(item)}); data add copies only the regular "
                    "files inside the folder: replace the link with the file itself",
                    [],
                )
            if not (item.is_dir() or item.is_file()):
                raise DataError(f"{item} is not a regular file or folder; data add copies only those", [])


def add(path: str | Path, name: str, root: str | Path) -> DatasetVersion:
    """Copy a validated file or BEIR folder into the store as a new version of `name` (a no-op if already there)."""
    source = Path(path)
    check_name(name)
    if not source.exists():
        raise DataError(f"{source} does not exist", [])
    refuse_links(source)
    folder = Path(root) / name
    if folder.is_symlink():  # the writes below would land wherever it points, outside the store
        raise DataError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}); the store writes only into its own "
            "folders: remove the link, or use another --root",
            [],
        )
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} exists and is not a folder; remove it or use another --root", [])
    sha = dir_sha256(source) if source.is_dir() else file_sha256(source)
    folder.mkdir(parents=True, exist_ok=True)
    version = folder / sha[:16]
    target = version if source.is_dir() else version / source.name
    if version.is_symlink():
        raise DataError(
            f"{version} is a symbolic link (to {os.readlink(version)}), not a stored version; remove it", []
        )
    if version.exists():
        return DatasetVersion(name, sha, str(target.resolve()), new=False)
    for leftover in liveness.sweep_partial(folder, liveness.INCOMING_PARTIALS):
        logger.warning("removed %s, left half-copied by a data add that was killed", leftover)
    with liveness.staging(folder, ".incoming-") as staging:  # claimed: a later sweep leaves it alone while we copy
        payload = staging / "payload"
        if source.is_dir():
            shutil.copytree(source, payload)
        else:
            payload.mkdir()
            shutil.copy2(source, payload / source.name)
        os.replace(payload, version)
    _point_latest(folder, version.name)
    return DatasetVersion(name, sha, str(target.resolve()), new=True)


def _point_latest(folder: Path, version: str) -> None:
    link = folder / f".latest-{version}"
    link.unlink(missing_ok=True)
    link.symlink_to(version)
    os.replace(link, folder / "latest")


def versions(root: str | Path, name: str) -> list[str]:
    folder = Path(root) / check_name(name)
    return (
        sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and not p.is_symlink())
        if folder.is_dir()
        else []
    )


def announced(root: str | Path, version: DatasetVersion) -> bool:
    return (Path(root) / version.name / f".announced-{version.sha256[:16]}").is_file()


def emit_updated(version: DatasetVersion, root: str | Path) -> bool:
    """Tell the Prefect server at PREFECT_API_URL that a dataset has a new version (the on-new-data deployment's
    trigger listens for this event) and record that it did; False when the event could not be handed over."""
    from prefect.events import emit_event

    event = emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"embedforge.dataset.{version.name}", "prefect.resource.name": version.name},
        payload={"path": version.path, "sha256": version.sha256, "name": version.name},
    )
    if event is None:
        return False
    atomic_write_text(Path(root) / version.name / f".announced-{version.sha256[:16]}", f"{event.id}\n")
    return True
