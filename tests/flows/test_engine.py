"""The Dask engine: the corpus encoded and the queries searched in shards on a 2-worker LocalCluster give what the
local engine gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flows.retrain import retrain
from tasks.config import load_config


@pytest.fixture(scope="module")
def runs(tiny_beir, tmp_path_factory):
    """The same run twice, each on a cold store of its own: the local engine, then Dask on 2 worker processes."""
    out = {}
    for engine in ("local", "dask"):
        work = tmp_path_factory.mktemp(engine)
        cfg = load_config(
            None,
            [
                f"data.path={tiny_beir}",
                f"registry.root={work / 'models'}",
                f"registry.store={work / 'store'}",
                "train.batch_size=4",
                "mining.num_negatives=2",
                "mining.top_k=8",
                "gate.min_delta=0.0",
                f"compute.engine={engine}",
                "compute.workers=2",
                "compute.shard_documents=5",
                "compute.shard_queries=3",
            ],
        )
        out[engine] = (cfg, retrain(cfg))
    return out


def test_the_dask_engine_mines_trains_and_scores_what_the_local_engine_does(runs):
    local, dask = runs["local"][1], runs["dask"][1]
    stores = {engine: Path(cfg.registry.store) for engine, (cfg, _) in runs.items()}
    assert dask["compute"]["engine"] == "dask" and dask["compute"]["workers"] == 2
    assert dask["steps"]["encode-base"]["shards"] == 4 and dask["steps"]["encode-candidate"]["shards"] == 4
    assert "encode-base" not in local["steps"]
    # mining's dense search and every search of the evaluation ran in query shards on the cluster
    assert dask["steps"]["mine"]["searches"] >= 1 and dask["steps"]["evaluate"]["searches"] >= 2
    assert dask["steps"]["evaluate"]["search_shards"] >= 2 * dask["steps"]["evaluate"]["searches"]
    assert local["steps"]["mine"].get("searches") is None
    # embeddings, base and candidate: the same vectors within 1e-5. The base model's file has the same name in both
    # stores; the candidate's is named by its trained folder, whose model card records the run's training time to a
    # tenth of a second, so its names differ unless both trainings took the same time
    files = {engine: {p.name: p for p in (store / "embeddings").glob("*.np*")} for engine, store in stores.items()}
    shared = set(files["local"]) & set(files["dask"])
    assert len(files["local"]) == len(files["dask"]) == 2 and shared
    pairs = [(files["local"][name], files["dask"][name]) for name in shared]
    pairs += zip(*([p for n, p in files[e].items() if n not in shared] for e in ("local", "dask")))
    assert len(pairs) == 2
    for local_path, dask_path in pairs:
        a, b = np.load(local_path)["vectors"], np.load(dask_path)["vectors"]
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-5, local_path.name
    # the same mined negatives: content-addressed files, so the same names mean the same bytes
    mined = {
        engine: sorted(p.name for p in (store / "negatives").glob("*.parquet")) for engine, store in stores.items()
    }
    assert mined["local"] and mined["local"] == mined["dask"]
    # the same metrics and the same decision
    for role in ("base", "candidate"):
        for key, value in local["metrics"][role].items():
            assert dask["metrics"][role][key] == pytest.approx(value, abs=1e-6), (role, key)
    assert local["bm25"] == dask["bm25"] and local["promoted"] == dask["promoted"]
    assert local["version"] == dask["version"]  # the same trained weights
