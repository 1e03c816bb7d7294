"""Corpus encoding and exact search in shards, for the Dask engine (`compute.engine: dask`).

A shard is a contiguous range of corpus rows. Passages are cut per document, so the shards' passages, in shard order,
are exactly the passages of the whole corpus; each shard's vectors go to a file of their own in the store, and the
merge writes the file the local engine would have written (`embeddings.vectors_path`), which every later step reads as
a cache hit. Workers exchange file refs, never arrays. Each worker loads a model once and encodes with a bounded number
of threads, so several workers on one machine do not oversubscribe its cores.

A search shard is a contiguous range of query rows: the query and document vectors are written to the store once per
search, each worker reads both files, searches its rows with the same exact FAISS search as the local engine
(embeddings.flat_search; a query's top-k does not depend on the other queries) and writes its (scores, indices) to a
file; the merge stacks the shards in row order.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from tasks.config import PassageConfig
from tasks.embeddings import flat_search, load_model, load_vectors, save_vectors, vectors_path
from tasks.storage import DatasetRef, ModelRef, atomic_write_bytes, file_sha256, read_frame

logger = logging.getLogger(__name__)


class ShardRef(BaseModel):
    """One encoded shard in the store: corpus rows [start, stop) and the file holding their passages' vectors."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str
    start: int
    stop: int
    passages: int


def shard_bounds(rows: int, size: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) row ranges of at most `size` rows covering `rows` rows in order."""
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


def in_row_order(shards: list, rows: int, what: str) -> list:
    """Shards (with .start, .stop) sorted by their first row; refuses shards that do not tile rows [0, rows)."""
    ordered = sorted(shards, key=lambda s: s.start)
    edges = [(s.start, s.stop) for s in ordered]
    if [a for a, _ in edges] != [0] + [b for _, b in edges[:-1]] or (edges and edges[-1][1] != rows):
        raise ValueError(f"{what}: {edges} do not cover the {rows} rows in order")
    return ordered


@functools.lru_cache(maxsize=2)
def _model(path: str, sha256: str, name: str, device: str):
    return load_model(ModelRef(path=path, sha256=sha256, name=name), device)


def encode_shard(
    model_ref: ModelRef,
    corpus_ref: DatasetRef,
    cfg: PassageConfig,
    batch_size: int,
    start: int,
    stop: int,
    store: str,
    threads: int | None = None,
    device: str = "auto",
) -> ShardRef:
    """Encode corpus rows [start, stop) as the local engine would (same passages, titles and settings) into a file."""
    import torch

    from tasks.passages import corpus_titles, encode_passages

    if threads:
        torch.set_num_threads(threads)
    model = _model(model_ref.path, model_ref.sha256, model_ref.name, device)
    whole = vectors_path(model, model_ref, corpus_ref, store, cfg)
    path = whole.parent / "shards" / f"{whole.stem}-{start}-{stop}{whole.suffix}"
    if not path.is_file():
        corpus = read_frame(corpus_ref).slice(start, stop - start)
        texts, titles = corpus["text"].to_list(), corpus_titles(corpus)
        vectors, doc = encode_passages(model, texts, cfg, batch_size, f"documents {start}-{stop}", titles)
        save_vectors(path, vectors, doc + start)
    vectors, _ = load_vectors(path)
    return ShardRef(path=str(path), sha256=file_sha256(path), start=start, stop=stop, passages=len(vectors))


def merge_shards(
    model_ref: ModelRef, corpus_ref: DatasetRef, cfg: PassageConfig, store: str, shards: list[ShardRef]
) -> str:
    """Concatenate the shards in row order into the corpus's vectors file; refuse shards that do not tile the corpus."""
    rows = read_frame(corpus_ref).height
    ordered = in_row_order(shards, rows, f"encoded shards of the corpus rows of {corpus_ref.path}")
    for shard in ordered:
        if file_sha256(shard.path) != shard.sha256:
            raise ValueError(f"shard file {shard.path} changed after it was encoded; remove it and rerun")
    parts = [load_vectors(Path(s.path)) for s in ordered]
    vectors = np.concatenate([v for v, _ in parts]) if parts else np.zeros((0, 0), dtype=np.float32)
    doc = np.concatenate([d for _, d in parts]) if parts else np.zeros(0, dtype=np.int64)
    model = _model(model_ref.path, model_ref.sha256, model_ref.name, "cpu")
    target = vectors_path(model, model_ref, corpus_ref, store, cfg)
    save_vectors(target, np.ascontiguousarray(vectors, dtype=np.float32), doc.astype(np.int64))
    logger.info("merged %d shards: %d vectors for %d documents into %s", len(ordered), len(vectors), rows, target)
    return str(target)


def vectors_ready(model_ref: ModelRef, corpus_ref: DatasetRef, cfg: PassageConfig, store: str) -> bool:
    """Whether the corpus's vectors for this model are already in the store (nothing to shard)."""
    model = _model(model_ref.path, model_ref.sha256, model_ref.name, "cpu")
    return vectors_path(model, model_ref, corpus_ref, store, cfg).is_file()


class SearchShardRef(BaseModel):
    """One searched query shard in the store: query rows [start, stop) and the file holding their (scores, indices)."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str
    start: int
    stop: int


def write_array(path: Path, array: np.ndarray) -> str:
    """An array to an .npy file (temp file, then rename); returns the path, for workers to read."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32))
    atomic_write_bytes(path, buffer.getvalue())
    return str(path)


def search_shard(
    query_path: str, doc_path: str, start: int, stop: int, k: int, threads: int | None = None
) -> SearchShardRef:
    """Search query rows [start, stop) against every document vector; the result goes next to the query file."""
    import faiss

    if threads:
        faiss.omp_set_num_threads(threads)
    queries = np.load(query_path, mmap_mode="r")[start:stop]
    scores, indices = flat_search(np.ascontiguousarray(queries), np.load(doc_path), k)
    path = Path(query_path).with_name(f"found-{start}-{stop}.npz")
    buffer = io.BytesIO()
    np.savez(buffer, scores=scores, indices=indices.astype(np.int64))
    atomic_write_bytes(path, buffer.getvalue())
    return SearchShardRef(path=str(path), sha256=file_sha256(path), start=start, stop=stop)


def merge_search(shards: list[SearchShardRef], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The shards' (scores, indices) stacked in query-row order; refuse shards that do not tile the queries."""
    ordered = in_row_order(shards, rows, "searched shards of the query rows")
    parts = []
    for shard in ordered:
        if file_sha256(shard.path) != shard.sha256:
            raise ValueError(f"search shard file {shard.path} changed after it was written")
        with np.load(shard.path) as found:
            parts.append((found["scores"], found["indices"]))
    return np.concatenate([s for s, _ in parts]), np.concatenate([i for _, i in parts])
