"""A mining strategy is one module and one registration: the config, the schema, the table and the cache key follow.

Registered below, first_words is such a module in miniature: documents that start like the query."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from pydantic import Field

from flows.cli import main
from tasks import mining, steps
from tasks.codehash import code_dependencies
from tasks.config import ConfigError, load_config
from tasks.mining import Candidates, MiningInput, Strategy, StrategyParams, mine_negatives
from tasks.mining.strategy import register


class FirstWordsParams(StrategyParams):
    words: int = Field(2, ge=1)  # leading words a document must share with the query


def first_words_candidates(inp: MiningInput, k: int, params: FirstWordsParams) -> Candidates:
    def lead(text: str) -> tuple[str, ...]:
        return tuple(text.lower().split()[: params.words])

    indices = np.full((len(inp.query_texts), k), -1, dtype=np.int64)
    for query, text in enumerate(inp.query_texts):
        same = [d for d, doc in enumerate(inp.doc_texts) if lead(doc) == lead(text)][:k]
        indices[query, : len(same)] = same
    scores = np.where(indices >= 0, 1.0, np.nan).astype(np.float32)
    return Candidates("first_words", indices, scores, np.full(len(inp.pair_query), np.nan, dtype=np.float32))


STRATEGY = Strategy("first_words", FirstWordsParams, first_words_candidates)


@pytest.fixture
def first_words():
    register(mining.STRATEGIES, STRATEGY)  # what the index line does for a module of the package
    yield STRATEGY
    del mining.STRATEGIES["first_words"]


def test_a_registered_strategy_is_configured_mined_validated_and_listed(first_words, capsys):
    cfg = load_config(None, ["mining.strategies=[{name: first_words, params: {words: 1}}]", "mining.num_negatives=1"])
    spec = cfg.mining.strategies[0]
    assert isinstance(spec.params, FirstWordsParams) and spec.params.words == 1  # typed, not a dict
    assert not cfg.mining.needs_vectors  # from its registration: no embeddings, so none are computed
    with pytest.raises(ConfigError, match="params of strategy 'first_words': words"):
        load_config(None, ["mining.strategies=[{name: first_words, params: {words: 0}}]"])

    corpus = pl.DataFrame({"doc_id": ["a", "b", "c"], "text": ["aspirin cuts risk", "aspirin harms", "statins help"]})
    pairs = pl.DataFrame({"query_id": ["q"], "doc_id": ["a"], "anchor": ["aspirin and risk"], "positive": ["x"]})
    negatives, report = mine_negatives(pairs, corpus, cfg.mining)
    assert negatives["negative_id"].to_list() == ["b"] and negatives["strategy"].to_list() == ["first_words"]
    assert report["rows"] == {"first_words": 1}

    assert main(["strategies", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["first_words"]["params"] == "words=2"
    assert listed["first_words"]["finds"].startswith("A mining strategy is one module")


def test_an_unknown_strategy_names_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown mining strategy 'lexical'; registered: bm25, contradiction, dense"):
        load_config(None, ["mining.strategies=[{name: lexical}]"])


def test_the_negatives_schema_allows_exactly_the_registered_strategies_and_the_random_fill():
    row = {
        "stage": [0],
        "query_id": ["q"],
        "positive_id": ["a"],
        "slot": [0],
        "negative_id": ["b"],
        "strategy": ["dense"],
        "origin": ["top_k"],
        "rank": [0],
        "score": [0.5],
        "positive_score": [0.9],
        "difficulty": [0.55],
    }
    mining.negative_schema().validate(pl.DataFrame(row))
    mining.negative_schema().validate(pl.DataFrame({**row, "strategy": ["random"]}))
    with pytest.raises(Exception, match="isin"):
        mining.negative_schema().validate(pl.DataFrame({**row, "strategy": ["first_words"]}))  # not registered


def test_every_registered_strategy_module_is_in_the_mining_cache_key():
    reached = set(code_dependencies(steps.mine.fn))
    for declared in mining.STRATEGIES.values():
        assert (declared.find.__module__, "*") in reached or (
            declared.find.__module__,
            declared.find.__name__,
        ) in reached
