from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from tasks.config import TrainConfig
from tasks.train import pick_precision, train_model, training_frame
from tests.conftest import DOCS, QUERIES, TRAIN

CORPUS = pl.DataFrame({"doc_id": list(DOCS), "text": [f"{t} {b}" for t, b in DOCS.values()]})
PAIRS = pl.DataFrame(
    {
        "query_id": TRAIN,
        "doc_id": [f"d{q[1:]}" for q in TRAIN],
        "anchor": [QUERIES[q] for q in TRAIN],
        "positive": [f"{DOCS['d' + q[1:]][0]} {DOCS['d' + q[1:]][1]}" for q in TRAIN],
    }
)


def negatives_for(pairs: pl.DataFrame, n: int) -> pl.DataFrame:
    """Each pair's negatives: the next n documents in corpus order."""
    ids = CORPUS["doc_id"].to_list()
    rows = []
    for query_id, doc_id in pairs.select("query_id", "doc_id").iter_rows():
        start = ids.index(doc_id)
        for slot in range(n):
            rows.append((query_id, doc_id, slot, ids[(start + 1 + slot) % len(ids)], "dense", slot, 0.5, 0.9))
    return pl.DataFrame(
        rows,
        orient="row",
        schema=["query_id", "positive_id", "slot", "negative_id", "strategy", "rank", "score", "positive_score"],
    )


def test_training_frame_puts_negatives_in_slot_order():
    frame = training_frame(PAIRS, negatives_for(PAIRS, 2), CORPUS)
    assert frame.columns == ["anchor", "positive", "negative_1", "negative_2"]
    assert frame.height == PAIRS.height
    first = frame.row(0, named=True)
    assert first["anchor"] == QUERIES["q01"]
    assert first["negative_1"] == CORPUS["text"][1] and first["negative_2"] == CORPUS["text"][2]


def test_training_frame_without_negatives_is_pairs_only():
    assert training_frame(PAIRS, negatives_for(PAIRS, 0), CORPUS).columns == ["anchor", "positive"]


def test_cpu_is_fp32_and_refuses_half_precision():
    assert pick_precision("cpu", "auto") == "fp32"
    with pytest.raises(ValueError, match="CUDA"):
        pick_precision("cpu", "bf16")


def test_too_few_pairs_for_the_batch_size(tmp_path, base_model_ref):
    with pytest.raises(ValueError, match="lower train.batch_size"):
        train_model(
            base_model_ref.path,
            training_frame(PAIRS, negatives_for(PAIRS, 0), CORPUS),
            TrainConfig(batch_size=64),
            tmp_path,
            "cpu",
        )


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_training_moves_queries_towards_their_clauses(tmp_path, base_model_ref):
    from sentence_transformers import SentenceTransformer

    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS)
    cfg = TrainConfig(epochs=3, batch_size=4, learning_rate=1e-4)
    stats = train_model(base_model_ref.path, frame, cfg, tmp_path, "cpu")
    assert stats.device == "cpu" and stats.precision == "fp32"
    assert stats.steps == 9
    saved = json.loads((tmp_path / "training_stats.json").read_text())
    assert saved["examples"] == PAIRS.height

    def margin(model) -> float:
        q = model.encode(PAIRS["anchor"].to_list(), normalize_embeddings=True)
        d = model.encode(PAIRS["positive"].to_list(), normalize_embeddings=True)
        sims = q @ d.T
        return float(np.mean(np.diag(sims) - (sims.sum(1) - np.diag(sims)) / (len(sims) - 1)))

    base = SentenceTransformer(base_model_ref.path, device="cpu")
    tuned = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert margin(tuned) > margin(base) + 0.02


RESUMABLE = """
import sys
import polars as pl
from tasks.config import TrainConfig
from tasks.train import train_model
frame = pl.read_parquet(sys.argv[2])
train_model(sys.argv[1], frame, TrainConfig(epochs=3, batch_size=4, checkpoint_steps=2), sys.argv[3], "cpu", sys.argv[4])
"""


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_interrupted_training_resumes_from_its_last_checkpoint(tmp_path, base_model_ref):
    import signal
    import subprocess
    import sys
    import time

    from tasks.train import latest_checkpoint

    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS)
    frame.write_parquet(tmp_path / "frame.parquet")
    checkpoints = tmp_path / "checkpoints"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RESUMABLE,
            base_model_ref.path,
            str(tmp_path / "frame.parquet"),
            str(tmp_path / "first"),
            str(checkpoints),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and latest_checkpoint(checkpoints) is None and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # killed part-way, as a lost worker would be
    proc.wait()
    reached = latest_checkpoint(checkpoints)
    assert reached is not None, "no checkpoint was written before the kill"
    stats = train_model(
        base_model_ref.path,
        frame,
        TrainConfig(epochs=3, batch_size=4, checkpoint_steps=2),
        tmp_path / "second",
        "cpu",
        checkpoints,
    )
    assert stats.resumed_from_step == int(reached.name.split("-")[1]) >= 2
    assert stats.steps == 9  # the same total as an uninterrupted run
    assert (tmp_path / "second" / "model" / "model.safetensors").is_file()


BARE = """
import json, sys
sys.modules["polars"] = None  # as on a GPU machine with torch and sentence-transformers only: no polars, no Prefect
sys.modules["prefect"] = None
from tasks.config import TrainConfig
from tasks.train import train_model
columns = json.loads(open(sys.argv[2]).read())
stats = train_model(sys.argv[1], columns, TrainConfig(epochs=1, batch_size=4), sys.argv[3], "cpu")
print(json.dumps({"steps": stats.steps, "precision": stats.precision, "loss": stats.train_loss}))
"""


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_trainer_runs_without_polars_or_prefect_from_an_fp16_copy(tmp_path, base_model_ref):
    import subprocess
    import sys

    from safetensors import safe_open
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(base_model_ref.path, device="cpu").half().save(
        str(tmp_path / "fp16")
    )  # as bench/export_model_fp16.py
    columns = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS).to_dict(as_series=False)
    (tmp_path / "rows.json").write_text(json.dumps(columns))
    done = subprocess.run(
        [sys.executable, "-c", BARE, str(tmp_path / "fp16"), str(tmp_path / "rows.json"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert stats["steps"] == 3 and stats["precision"] == "fp32" and np.isfinite(stats["loss"])
    with safe_open(str(tmp_path / "out" / "model" / "model.safetensors"), "pt") as saved:  # trained and saved in fp32
        assert {str(saved.get_tensor(k).dtype) for k in saved.keys()} == {"torch.float32"}


def test_memory_plan_switches_to_cached_mnrl_only_when_a_step_would_not_fit():
    from tasks.train import activation_gb, memory_plan

    minilm = (384, 12, 6)
    # 32 rows x 5 texts at the 256-token limit: the step that peaked at 16.3 GB in bench/memory.py
    long_step = memory_plan("mnrl", 32, 5, 256, minilm, "fp32", 3.0, 32, "cuda")
    assert long_step.loss == "cached_mnrl" and 1 <= long_step.mini_batch_size < 32
    assert activation_gb(long_step.mini_batch_size, 256, *minilm, "fp32") <= 3.0  # one mini-batch fits
    assert "train.memory_budget_gb=3.0" in long_step.reason
    short = memory_plan("mnrl", 32, 5, 32, minilm, "fp32", 3.0, 32, "cuda")  # short texts: MNRL as asked
    assert short.loss == "mnrl" and short.estimate_gb < 3.0
    assert memory_plan("mnrl", 32, 5, 256, minilm, "fp32", None, 32, "cuda").loss == "mnrl"  # budget off
    assert memory_plan("triplet", 32, 3, 256, minilm, "fp32", 3.0, 32, "cuda").loss == "triplet"  # only MNRL is swapped


def test_the_auto_memory_budget_is_a_laptops_on_the_cpu_and_half_the_gpu_on_cuda():
    from tasks.train import memory_budget, memory_plan

    assert memory_budget("auto", "cpu") == 3.0
    assert memory_budget("auto", "cuda", device_gb=139.8) == 69.9  # an H200
    assert memory_budget(5.0, "cuda", device_gb=139.8) == 5.0 and memory_budget(None, "cpu") is None
    # the batch-32 step of 3 texts of 256 tokens that an H200 trained in CachedMNRL mini-batches under a flat 3 GB
    # (bench/results/gpu_h200.json: ~5.1 GB in bf16): whole, as MNRL, under the GPU's budget
    minilm = (384, 12, 6)
    assert (
        memory_plan("mnrl", 32, 3, 256, minilm, "bf16", memory_budget("auto", "cuda", 139.8), 32, "cuda").loss == "mnrl"
    )
    assert (
        memory_plan("mnrl", 32, 3, 256, minilm, "bf16", memory_budget("auto", "cpu"), 32, "cpu").loss == "cached_mnrl"
    )
    with pytest.raises(ValidationError, match="above 0"):
        TrainConfig(memory_budget_gb=0.0)


def test_on_the_cpu_mnrl_runs_in_small_mini_batches_and_says_why():
    from tasks.train import memory_plan

    minilm = (384, 12, 6)
    short = memory_plan("mnrl", 32, 5, 32, minilm, "fp32", 3.0, 32, "cpu", 16)  # fits the budget, but on the CPU
    assert (short.loss, short.mini_batch_size) == ("cached_mnrl", 16)
    assert "on the CPU" in short.reason and "train.cpu_mini_batch_size" in short.reason and "budget" not in short.reason
    assert not short.memory_bound
    long_step = memory_plan("mnrl", 32, 5, 256, minilm, "fp32", 1.0, 32, "cpu", 16)  # the budget is the lower cap
    assert long_step.loss == "cached_mnrl" and long_step.mini_batch_size < 16 and "on the CPU" not in long_step.reason
    assert long_step.step_gb <= 1.0 and long_step.memory_bound
    assert memory_plan("mnrl", 32, 5, 32, minilm, "fp32", 3.0, 32, "cpu", 0).loss == "mnrl"  # switched off
    assert memory_plan("mnrl", 16, 5, 32, minilm, "fp32", 3.0, 32, "cpu", 16).loss == "mnrl"  # batch within the cap
    assert memory_plan("mnrl", 32, 5, 32, minilm, "fp32", 3.0, 32, "cuda", 16).loss == "mnrl"  # a GPU: whole batches
    configured = memory_plan("cached_mnrl", 32, 5, 32, minilm, "fp32", None, 32, "cpu", 16)
    assert configured.mini_batch_size == 16 and "on the CPU" in configured.reason


def test_after_running_out_of_memory_each_retry_halves_the_step_until_one_text_per_mini_batch():
    from tasks.train import budget_after_oom, memory_plan

    minilm = (384, 12, 6)
    plan = memory_plan(
        "mnrl", 32, 3, 256, minilm, "fp32", None, 32, "cuda"
    )  # budget off: MNRL as asked, texts measured
    assert plan.loss == "mnrl" and plan.per_text_gb > 0
    minis = []
    while (budget := budget_after_oom([plan])) is not None:
        assert budget < plan.step_gb
        plan = memory_plan("mnrl", 32, 3, 256, minilm, "fp32", budget, 32, "cuda")
        assert plan.loss == "cached_mnrl" and plan.step_gb <= budget + 1e-9
        minis.append(plan.mini_batch_size)
    assert minis == sorted(minis, reverse=True) and len(set(minis)) == len(minis) and minis[-1] == 1
    assert all(later >= earlier // 2 for earlier, later in zip(minis, minis[1:]))  # halved, not thrown away
    # a configured CachedMNRL shrinks from its own mini-batch; a loss without in-batch negatives has nothing to shrink
    cached = memory_plan("cached_mnrl", 32, 3, 256, minilm, "fp32", None, 8, "cuda")
    assert (
        memory_plan("cached_mnrl", 32, 3, 256, minilm, "fp32", budget_after_oom([cached]), 8, "cuda").mini_batch_size
        == 4
    )
    assert budget_after_oom([memory_plan("cosent", 32, 3, 256, minilm, "fp32", None, 32, "cuda")]) is None


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_the_model_card_quotes_training_texts_only_in_short(tmp_path, base_model_ref):
    """Long training documents must not land whole in the saved model's README.md (widget and usage examples)."""
    long_positive = [f"{text} " * 60 for text in PAIRS["positive"].to_list()]
    frame = training_frame(PAIRS.with_columns(pl.Series("positive", long_positive)), negatives_for(PAIRS, 0), CORPUS)
    train_model(base_model_ref.path, frame, TrainConfig(epochs=1, batch_size=4), tmp_path, "cpu")
    card = (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    assert not any(text.strip() in card for text in long_positive)
    assert "…" in card  # the examples are there, cut
    assert len(card.encode()) < 40_000


def test_attention_dropout_is_set_for_training_and_the_saved_model_keeps_the_base_config(tmp_path, base_model_ref):
    from tasks.train import attention_is_fused, load_for_training, restore_config

    def attention_ps(model) -> set[float]:
        return {m.dropout.p for name, m in model[0].auto_model.named_modules() if name.endswith("attention.self")}

    base = json.loads((Path(base_model_ref.path) / "config.json").read_text())
    assert base["attention_probs_dropout_prob"] == 0.1
    own = load_for_training(base_model_ref.path, TrainConfig(attention_dropout="model"), "cpu")
    assert attention_ps(own) == {0.1}
    model = load_for_training(base_model_ref.path, TrainConfig(), "cpu")  # the default: none
    assert attention_ps(model) == {0.0}
    # without dropout the attention runs in the fused kernel, which keeps no attention matrices (the memory plan's case)
    assert attention_is_fused(model[0].auto_model.config) and not attention_is_fused(own[0].auto_model.config)
    assert model[0].auto_model.config.hidden_dropout_prob == 0.1  # only the attention weights' dropout changes
    restore_config(model)
    model.save(str(tmp_path / "model"))
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["attention_probs_dropout_prob"] == 0.1
    with pytest.raises(ValidationError, match="attention_dropout"):
        TrainConfig(attention_dropout=1.0)


def test_the_memory_plan_counts_no_attention_matrices_when_the_attention_is_fused():
    from tasks.train import activation_gb, memory_plan

    # whether the real model is fused (the default) or not (the model's own dropout): the attention dropout test above
    minilm = (384, 12, 6)
    # bench/memory.py's step, 32 rows x 5 texts at 256 tokens: 7.43 GB peak fused, 16.25 GB with attention dropout
    assert 7.0 < activation_gb(160, 256, *minilm, "fp32", fused_attention=True) < 8.5
    assert 15.0 < activation_gb(160, 256, *minilm, "fp32") < 18.0
    # under an 8 GB budget with the CPU's mini-batches off, the fused step trains whole, the unfused one is split
    whole = memory_plan("mnrl", 32, 5, 256, minilm, "fp32", 8.0, 32, "cpu", 0, fused_attention=True)
    split = memory_plan("mnrl", 32, 5, 256, minilm, "fp32", 8.0, 32, "cpu", 0, fused_attention=False)
    assert whole.loss == "mnrl" and split.loss == "cached_mnrl" and split.memory_bound


def test_a_time_budget_allows_the_steps_its_remainder_holds_at_the_measured_pace():
    from tasks.train import steps_that_fit

    assert steps_that_fit(planned=1000, step=5, seconds_per_step=2.0, seconds_left=50.0) == 30  # 25 more
    assert steps_that_fit(planned=20, step=5, seconds_per_step=2.0, seconds_left=50.0) == 20  # fits: as planned
    assert steps_that_fit(planned=1000, step=5, seconds_per_step=2.0, seconds_left=-30.0) == 5  # spent: stop now
    assert steps_that_fit(planned=1000, step=45, seconds_per_step=2.0, seconds_left=50.0) == 70  # resumed at step 40


@pytest.mark.slow  # real training (or a child interpreter): minutes of CPU
def test_training_stops_at_the_time_budget_and_says_what_was_planned_and_trained(tmp_path, base_model_ref):
    """A large training set under train.budget_minutes: the trainer times its first steps and stops where the budget
    ends; the stats say what was planned and what was trained."""
    frame = training_frame(PAIRS, negatives_for(PAIRS, 1), CORPUS)
    stats = train_model(
        base_model_ref.path, frame, TrainConfig(epochs=6, batch_size=4, budget_minutes=1e-4), tmp_path, "cpu"
    )
    assert stats.budget.capped and stats.budget.planned_steps == 18
    assert stats.steps == stats.budget.steps_allowed == 5  # the budget is spent by the time the pace is known
    assert stats.planned_epochs == 6 and stats.epochs == pytest.approx(6 * 5 / 18, abs=1e-4)
    assert (tmp_path / "model" / "model.safetensors").is_file()
    from tasks.report import budget_line

    assert "5 of 18 planned steps, 1.6667 of 6 epochs" in budget_line(stats)
    unbounded = train_model(
        base_model_ref.path, frame, TrainConfig(epochs=2, batch_size=4, budget_minutes=None), tmp_path / "b", "cpu"
    )
    assert unbounded.budget is None and unbounded.steps == 6 and unbounded.epochs == 2
    assert budget_line(unbounded) is None


def budget_at_start(warmup: int, planned: int = 1000):
    """A one-minute TimeBudget at the start of a training of `planned` steps with the trainer's real linear schedule
    and state: (budget, schedule, args, state, control)."""
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments
    from transformers.optimization import get_linear_schedule_with_warmup

    from tasks.trainer_parts import TimeBudget

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=planned)
    args, state, control = TrainingArguments(output_dir="unused", report_to="none"), TrainerState(), TrainerControl()
    state.max_steps = planned
    budget = TimeBudget(minutes=1.0)
    budget.on_train_begin(args, state, control)
    return budget, schedule, args, state, control


def test_a_capped_budget_moves_the_last_step_and_the_end_of_the_learning_rate_decay_together():
    """The budget's cut is where the linear schedule reaches zero, so a stopped training is annealed, not cut mid-decay."""
    budget, schedule, args, state, control = budget_at_start(warmup=100)
    budget.started -= 9.9  # the five probe steps took 9.9 s: under 2 s a step, 50.1 s left -> 25 more steps
    state.global_step = 5
    budget.on_step_end(args, state, control, lr_scheduler=schedule)
    assert state.max_steps == 30 and budget.summary()["steps_allowed"] == 30 and not control.should_training_stop
    lr = schedule.lr_lambdas[0]
    assert lr(30) == 0.0 and lr(29) > 0.0 and lr(3) == 1.0  # warmup keeps its tenth: 3 of 30 steps


def test_a_budget_cut_by_a_slow_start_is_lengthened_when_the_pace_recovers_and_shortened_when_it_drops():
    """The pace is timed again after 10, 20, 40 … steps, from the steps since the last look: a busy machine during the
    first steps no longer halves the training, and a later slowdown still ends it in time. Each move keeps the
    learning rate where it is (no jump) and decays it to zero at the new last step."""
    import time

    budget, schedule, args, state, control = budget_at_start(warmup=2)

    def step_to(step: int, elapsed: float, since_last_look: float) -> None:
        now = time.perf_counter()
        budget.started, budget.probe_time = now - elapsed, (now - since_last_look if budget.probe_time else None)
        state.global_step = step
        budget.on_step_end(args, state, control, lr_scheduler=schedule)

    step_to(5, 9.9, 9.9)  # a slow start: 1.98 s a step, 50.1 s left -> 25 more
    assert state.max_steps == 30 and budget.summary()["capped"]
    step_to(7, 11.0, 1.1)  # not a look: nothing moves
    assert state.max_steps == 30
    before = schedule.lr_lambdas[0](10)
    step_to(10, 12.4, 2.5)  # the machine is free again: 0.5 s a step, 47.6 s left -> 95 more
    lr = schedule.lr_lambdas[0]
    assert state.max_steps == 105 and budget.summary()["steps_allowed"] == 105 and not control.should_training_stop
    assert lr(10) == pytest.approx(before) and lr(105) == pytest.approx(0.0, abs=1e-12) and lr(104) > 0.0
    assert all(lr(s) > lr(s + 1) for s in range(10, 104))  # still decaying, linearly, to the new end
    before = lr(20)
    step_to(20, 40.0, 27.6)  # slower again: 2.76 s a step, 20 s left -> 7 more
    lr = schedule.lr_lambdas[0]
    assert state.max_steps == 27 and lr(20) == pytest.approx(before) and lr(27) == pytest.approx(0.0, abs=1e-12)
    assert not control.should_training_stop
    assert budget.summary() == {
        "minutes": 1.0,
        "planned_steps": 1000,
        "steps_allowed": 27,
        "seconds_per_step": 2.76,
        "capped": True,
    }
