"""The trainer's losses, multi-dataset training, dev-set checkpoint selection and the loss-curve diagnostic."""

from __future__ import annotations

import polars as pl
import pytest

from tasks.config import ConfigError, TrainConfig, load_config
from tasks.loss_curve import diagnose
from tasks.losses import LOSSES, loss_for
from tasks.train import (
    TrainingSet,
    as_triplets,
    auto_epochs,
    split_dev,
    table_rows,
    train_model,
    training_frame,
)
from tests.unit.test_train import CORPUS, PAIRS, negatives_for


def test_loss_follows_the_dataset_type():
    assert loss_for("sts", "auto", "mnrl") == "cosent"
    assert loss_for("pairs", "auto", "cached_mnrl") == "cached_mnrl"
    assert loss_for("nli", "auto", "triplet") == "mnrl"  # auto never turns an in-batch dataset into triplets
    assert loss_for("triplets", "triplet", "mnrl") == "triplet"
    with pytest.raises(ValueError, match="CoSENT"):
        loss_for("pairs", "cosent", "mnrl")
    with pytest.raises(ValueError, match="sts data trains with cosent"):
        loss_for("sts", "mnrl", "mnrl")
    with pytest.raises(ValueError, match="negative per row"):
        loss_for("pairs", "triplet", "mnrl")


def test_config_rules_for_losses():
    with pytest.raises(ConfigError, match="train.loss=triplet needs a negative"):
        load_config(None, ["train.loss=triplet", "mining.num_negatives=0"])
    with pytest.raises(ConfigError, match="checkpoint_steps"):
        load_config(None, ["train.dev_fraction=0.1", "train.checkpoint_steps=0"])


def test_triplet_rows_one_per_negative_and_auto_epochs():
    frame = training_frame(PAIRS, negatives_for(PAIRS, 2), CORPUS)
    triplets = as_triplets(frame)
    assert list(triplets) == ["anchor", "positive", "negative"] and len(triplets["anchor"]) == 2 * PAIRS.height
    assert triplets["negative"][: PAIRS.height] == frame["negative_1"].to_list()
    assert auto_epochs(919) == 3.0 and auto_epochs(50_000) == 2.0 and auto_epochs(400_000) == 0.25


def test_sts_rows_are_scaled_and_nli_becomes_triplets():
    sts = pl.DataFrame({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "score": [5.0, 1.0]})
    assert table_rows("sts", sts)["score"].to_list() == [1.0, 0.2]
    nli = pl.DataFrame({"premise": ["p", "p"], "hypothesis": ["yes", "no"], "label": ["entailment", "contradiction"]})
    assert table_rows("nli", nli).rows() == [("p", "yes", "no")]


def curve(values):
    return list(enumerate(values, start=1))


def test_diagnosis_of_loss_curves():
    steady = curve([2.0 - 0.08 * i for i in range(20)])
    assert diagnose(steady)["verdict"] == "healthy"
    flat = curve([1.0, 0.95, 0.93] + [0.92, 0.921, 0.919, 0.92] * 4)
    verdict = diagnose(flat)
    assert verdict["verdict"] == "plateaued_early" and verdict["advice"] == "plateaued early: raise lr"
    assert verdict["evidence"]["share_of_training_to_reach_final_level"] <= 0.3
    jumpy = curve([1.0, 0.8, 0.7, 0.6] + [0.3, 0.7, 0.25, 0.75, 0.3, 0.8, 0.2, 0.7] * 2)
    assert diagnose(jumpy)["advice"] == "oscillating: lower lr / longer warmup"
    assert diagnose(curve([0.5, 0.6, 0.7, 0.9, 1.1, 1.3, 1.6]))["verdict"] == "diverging"
    # in-batch MNRL on SciFact, lr 2e-5, batch 32 (bench/sweep.py): flat from the first step, the last batches harder
    # than the first two by chance, well inside the batch noise; lr 5e-5 scored higher (0.6754 against 0.6639)
    in_batch = [
        0.386,
        0.167,
        0.322,
        0.575,
        0.178,
        0.227,
        0.281,
        0.465,
        0.108,
        0.367,
        0.335,
        0.157,
        0.363,
        0.395,
        0.097,
        0.247,
        0.236,
        0.304,
        0.141,
        0.179,
        0.300,
        0.287,
        0.426,
        0.433,
        0.379,
        0.415,
        0.188,
        0.467,
        0.415,
    ]
    assert diagnose(curve(in_batch))["advice"] == "plateaued early: raise lr"
    # the demo run's per-step losses: noisy from batch to batch, but still falling in the second half
    demo = [
        1.53,
        1.366,
        1.649,
        1.763,
        1.006,
        1.361,
        1.339,
        0.594,
        0.797,
        1.058,
        0.948,
        0.541,
        0.554,
        0.362,
        0.514,
        0.46,
        0.493,
        0.517,
        0.693,
        0.448,
        0.19,
        0.289,
    ]
    assert diagnose(curve(demo))["verdict"] == "healthy"
    # mined negatives, lr 5e-5, batch 32, 1 epoch (bench/sweep.py): single-batch losses swinging 0.57-1.25 with no fall
    # beyond the noise and no step-to-step structure; once read "oscillating: lower lr", yet lr 2e-5 scored 0.024 less
    swinging = [
        1.255,
        0.952,
        1.152,
        1.216,
        1.12,
        0.697,
        0.862,
        0.941,
        0.596,
        0.893,
        1.071,
        0.706,
        0.92,
        1.137,
        0.627,
        0.838,
        0.573,
        1.154,
        0.689,
        0.599,
        1.037,
        0.697,
        0.798,
        1.082,
        1.12,
        0.956,
        0.59,
        1.167,
        0.565,
    ]
    read = diagnose(curve(swinging))
    assert (
        read["verdict"] == "inconclusive"
        and abs(read["evidence"]["lag1_autocorrelation"]) < read["evidence"]["chance_band"]
    )
    assert (
        diagnose(jumpy)["evidence"]["lag1_autocorrelation"] < -diagnose(jumpy)["evidence"]["chance_band"]
    )  # a see-saw
    assert diagnose(curve([1.0, 0.9]))["verdict"] == "too_short"


def _encode(path, texts):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)


def test_every_dataset_type_gets_a_loss_and_a_misfit_names_the_losses_that_fit():
    from tasks.config import TABLE_TYPES

    for kind in (*TABLE_TYPES, "ir"):
        assert kind in LOSSES[loss_for(kind, "auto", "mnrl")].fits
    with pytest.raises(ValueError, match="pairs data trains with mnrl, cached_mnrl"):
        loss_for("pairs", "triplet", "mnrl")
    with pytest.raises(ConfigError, match="train.loss"):
        load_config(None, ["train.loss=cosent"])  # the main (retrieval) data has no scores


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
@pytest.mark.parametrize("dims", [None, [384, 64]])
def test_cached_mnrl_gives_the_loss_and_gradients_of_mnrl(base_model_ref, dims):
    """CachedMNRL embeds each column longest text first in mini-batches and back-propagates through cached
    embeddings: the same loss and gradients as MNRL (also inside MatryoshkaLoss), with less padding and memory."""
    import torch
    from sentence_transformers import SentenceTransformer

    from tasks.losses import build_loss

    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS).head(8)
    lengths = [len(text) for text in frame["positive"]]
    assert lengths != sorted(lengths, reverse=True)  # rows out of length order: the sort has work to undo
    results = []
    for name, cfg in (("mnrl", TrainConfig()), ("cached_mnrl", TrainConfig(mini_batch_size=3))):
        model = SentenceTransformer(base_model_ref.path, device="cpu")
        model.eval()  # no dropout, so both see the same embeddings
        loss = build_loss(model, name, cfg.model_copy(update={"matryoshka_dims": dims}))
        features = [model.tokenize(frame[c].to_list()) for c in frame.columns]
        value = loss(features, None)
        value.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((float(value), grads))
    (plain, plain_grads), (cached, cached_grads) = results
    assert cached == pytest.approx(plain, rel=1e-4)
    assert len(cached_grads) == len(plain_grads) > 50  # every layer got its gradient
    for cached_grad, plain_grad in zip(cached_grads, plain_grads):
        assert torch.allclose(cached_grad, plain_grad, atol=1e-5, rtol=1e-3)


@pytest.mark.slow  # the real model, forward passes at four sizes: seconds of CPU
def test_matryoshka_weights_scale_each_sizes_share_of_the_loss(base_model_ref):
    import torch
    from sentence_transformers import SentenceTransformer

    from tasks.losses import build_loss

    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS).head(8)
    model = SentenceTransformer(base_model_ref.path, device="cpu")
    model.eval()
    features = [model.tokenize(frame[c].to_list()) for c in frame.columns]
    values = {}
    with torch.no_grad():
        for label, cfg in (
            ("plain", TrainConfig()),
            ("even", TrainConfig(matryoshka_dims=[384, 64])),
            ("small x3", TrainConfig(matryoshka_dims=[384, 64], matryoshka_weights=[1, 3])),
        ):
            values[label] = float(build_loss(model, "mnrl", cfg)(features, None))
    small = values["even"] - values["plain"]  # the 64-dim term alone
    assert small > 0 and values["small x3"] - values["plain"] == pytest.approx(3 * small, rel=1e-4)


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_cached_mnrl_training_run(tmp_path, base_model_ref):
    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS)
    stats = train_model(
        base_model_ref.path,
        frame,
        TrainConfig(epochs=1, batch_size=4, loss="cached_mnrl", mini_batch_size=2),
        tmp_path,
        "cpu",
    )
    assert stats.loss == "cached_mnrl" and stats.steps == 3 and (tmp_path / "model" / "model.safetensors").is_file()


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_multi_dataset_run_with_cosent_and_triplet_loss(tmp_path, base_model_ref):
    from scipy.stats import spearmanr

    sts = pl.DataFrame(
        {
            "sentence1": [
                "the cat sleeps",
                "a man plays guitar",
                "stocks fell sharply",
                "it is raining",
                "the child laughs",
                "a dog barks",
                "prices rose",
                "the car is red",
            ]
            * 2,
            "sentence2": [
                "a cat is sleeping",
                "someone plays music",
                "the sun is hot",
                "rain is falling",
                "quantum physics",
                "a dog is barking",
                "a bird sings",
                "the sky is blue",
            ]
            * 2,
            "score": [4.8, 4.0, 0.2, 4.6, 0.1, 4.9, 0.3, 0.5] * 2,
        }
    )
    sets = {
        "main": TrainingSet(training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS), "triplet"),
        "sts": TrainingSet(table_rows("sts", sts), "cosent"),
    }
    stats = train_model(
        base_model_ref.path,
        sets,
        TrainConfig(
            epochs=2,
            batch_size=4,
            learning_rate=5e-5,
            triplet_distance="cosine",
            triplet_margin=0.3,
            matryoshka_dims=[384, 64],
        ),
        tmp_path,
        "cpu",
    )
    assert stats.model_dump()["datasets"] == {
        "main": {"rows": 12, "loss": "triplet"},
        "sts": {"rows": 16, "loss": "cosent"},
    }
    assert stats.matryoshka_dims == [384, 64] and stats.examples == 28
    a = _encode(tmp_path / "model", sts["sentence1"].to_list()[:8])
    b = _encode(tmp_path / "model", sts["sentence2"].to_list()[:8])
    assert spearmanr((a * b).sum(1), sts["score"].to_list()[:8]).statistic > 0.8


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_dev_set_picks_the_best_checkpoint(tmp_path, base_model_ref):
    pairs, dev = split_dev(PAIRS, CORPUS, 0.25, 10, seed=0)
    assert len(dev.queries) == 3 and pairs.height == PAIRS.height - 3
    assert set(dev.queries).isdisjoint(pairs["query_id"].to_list()) and len(dev.corpus) == 10
    assert all(doc in dev.corpus for docs in dev.relevant.values() for doc in docs)
    frame = training_frame(pairs, negatives_for(pairs, 1), CORPUS)
    stats = train_model(
        base_model_ref.path,
        frame,
        TrainConfig(epochs=3, batch_size=3, checkpoint_steps=3, dev_fraction=0.25),
        tmp_path,
        "cpu",
        dev=dev,
    )
    history = dict(stats.dev.ndcg_by_step)
    assert sorted(history) == [3, 6, 9]
    assert stats.dev.best_ndcg == pytest.approx(max(history.values()))
    assert history[stats.dev.best_checkpoint_step] == pytest.approx(max(history.values()))
