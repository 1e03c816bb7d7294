from __future__ import annotations

import pytest
from pydantic import ValidationError

from tasks.config import ConfigError, PipelineConfig, dump_config, load_config, parse_override


def test_defaults_need_no_file():
    cfg = load_config()
    assert cfg.data.path == "data/demo"
    assert cfg.train.base_model == "all-MiniLM-L6-v2"
    assert cfg.mining.max_score_ratio == 0.95


def test_yaml_then_overrides_parsed_as_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  batch_size: 8\n")
    cfg = load_config(path, ["train.epochs=2", "train.matryoshka_dims=[384,64]", "gate.min_delta=0.01"])
    assert cfg.train.epochs == 2
    assert cfg.train.batch_size == 8
    assert cfg.train.matryoshka_dims == [384, 64]
    assert cfg.gate.min_delta == 0.01


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["mining.num_negatives=5", "data.path=/x"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


def test_config_is_frozen():
    with pytest.raises(ValidationError):
        PipelineConfig().train.epochs = 5


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"train\.epochz"):
        load_config(None, ["train.epochz=2"])


def test_bad_value_is_named_with_what_was_given():
    with pytest.raises(ConfigError, match=r"train\.batch_size.*got 1"):
        load_config(None, ["train.batch_size=1"])


def test_override_needs_key_and_value():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("train.epochs")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_gate_metric_must_be_evaluated():
    with pytest.raises(ConfigError, match="eval.k_values"):
        load_config(None, ["gate.metric=ndcg@7"])


def test_bm25_floor_and_hybrid_gate_need_the_bm25_baseline():
    with pytest.raises(ConfigError, match="gate.bm25_floor=True.*eval.bm25 is false"):
        load_config(None, ["eval.bm25=false"])
    with pytest.raises(ConfigError, match="gate.target='hybrid'.*eval.bm25 is false"):
        load_config(None, ["eval.bm25=false", "gate.bm25_floor=false", "gate.target=hybrid"])
    assert not load_config(None, ["eval.bm25=false", "gate.bm25_floor=false"]).eval.bm25


def test_gate_metric_must_be_known():
    with pytest.raises(ConfigError, match="gate.metric"):
        load_config(None, ["gate.metric=accuracy@10"])


def test_rank_window_must_leave_candidates():
    with pytest.raises(ConfigError, match="rank_min"):
        load_config(None, ["mining.top_k=5", "mining.rank_min=5"])
    with pytest.raises(ConfigError, match="rank_min"):
        load_config(None, ["mining.rank_min=10", "mining.rank_max=10"])


def test_strategy_counts_fit_num_negatives():
    with pytest.raises(ConfigError, match="by count"):
        load_config(
            None, ["mining.num_negatives=2", "mining.strategies=[{name: dense, count: 2}, {name: bm25, count: 1}]"]
        )


def test_strategy_params_are_checked_by_name():
    with pytest.raises(ConfigError, match="params of strategy 'bm25'.*engine"):
        load_config(None, ["mining.strategies=[{name: bm25, params: {engine: lucene}}]"])
    with pytest.raises(ConfigError, match="clusterz"):
        load_config(None, ["mining.strategies=[{name: domain_confusion, params: {clusterz: 8}}]"])
    cfg = load_config(None, ["mining.strategies=[{name: partial_match, params: {mode: disagreement}}]"])
    assert cfg.mining.needs_vectors and cfg.mining.strategies[0].params.dense_rank_min == 50


def test_curriculum_bounds_ascend_and_need_negatives():
    with pytest.raises(ConfigError, match="ascending"):
        load_config(None, ["mining.curriculum=[0.9, 0.7]"])
    with pytest.raises(ConfigError, match="num_negatives > 0"):
        load_config(None, ["mining.curriculum=[0.7, 0.95]", "mining.num_negatives=0"])
    assert load_config(None, ["mining.curriculum=[0.7, 0.85, 0.95]"]).mining.stages == 3


def test_matryoshka_dims_largest_first():
    with pytest.raises(ConfigError, match="largest first"):
        load_config(None, ["train.matryoshka_dims=[64,384]"])


def test_matryoshka_weights_one_per_size():
    assert load_config(
        None, ["train.matryoshka_dims=[384,64]", "train.matryoshka_weights=[1,4]"]
    ).train.matryoshka_weights == [1, 4]
    with pytest.raises(ConfigError, match="one positive weight per"):
        load_config(None, ["train.matryoshka_dims=[384,128,64]", "train.matryoshka_weights=[1,4]"])
    with pytest.raises(ConfigError, match="one positive weight per"):
        load_config(None, ["train.matryoshka_weights=[1]"])


def test_headline_cutoffs_always_evaluated():
    assert load_config(None, ["eval.k_values=[5]"]).eval.k_values == [5, 10, 100]


def test_strategies_do_not_repeat():
    with pytest.raises(ConfigError, match="repeat"):
        load_config(None, ["mining.strategies=[{name: bm25}, {name: bm25}]"])
