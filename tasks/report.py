"""Run reports: metric tables, a chart, and the Prefect artifacts (stable keys, so the UI keeps their history)."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

from tasks.evaluate import HEADLINE
from tasks.metrics import METRICS
from tasks.storage import DatasetRef, read_frame
from tasks.summary import RunRecord, StepRecord
from tasks.train_records import TrainStats

ARTIFACT_KEY = "retrain-report"
TABLE_KEY = "eval-metrics"
DECISION_KEY = "gate-decision"
QUARANTINE_KEY = "ingest-quarantine"
MINING_KEY = "mining-report"
REPORT_MD, REPORT_PNG = "report.md", "report.png"  # in each registered version's folder


def _cutoffs(metrics: dict[str, float]) -> list[int]:
    return sorted({int(name.split("@")[1]) for name in metrics})


REFERENCES = ("bm25", "hybrid")  # rows that are baselines, not models: no change against the base model


def metrics_table(
    rows: dict[str, dict[str, float]], columns: tuple[str, ...] = HEADLINE, baseline: str = "base"
) -> str:
    """Markdown table, one row per model, with the relative change against `baseline` in brackets (models only)."""
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    base = rows.get(baseline, {})
    for name, metrics in rows.items():
        cells = []
        for column in columns:
            value = metrics.get(column, math.nan)
            compared = name != baseline and name not in REFERENCES and base.get(column)
            change = f" ({(value - base[column]) / base[column]:+.1%})" if compared else ""
            cells.append(f"{value:.4f}{change}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cutoff_table(rows: dict[str, dict[str, float]]) -> str:
    """Every metric at every K: one row per (metric, model)."""
    ks = _cutoffs(next(iter(rows.values())))
    lines = ["| metric | model | " + " | ".join(f"@{k}" for k in ks) + " |", "|---|---|" + "---:|" * len(ks)]
    for metric in METRICS:
        for name, values in rows.items():
            lines.append(f"| {metric} | {name} | " + " | ".join(f"{values[f'{metric}@{k}']:.4f}" for k in ks) + " |")
    return "\n".join(lines)


def dims_table(dims: dict[str, dict[str, dict[str, float]]], metric: str = "ndcg@10") -> str:
    """Quality per embedding size for base and candidate, with the share of the model's own full-size score kept."""
    roles = [r for r in ("base", "candidate") if r in dims]
    sizes = sorted({int(d) for r in roles for d in dims[r]}, reverse=True)
    head = "| dims | " + " | ".join(f"{r} {metric} | {r} kept" for r in roles) + " |"
    lines = [head, "|---:|" + "---:|---:|" * len(roles)]
    for size in sizes:
        cells = []
        for role in roles:
            full = dims[role][str(max(int(d) for d in dims[role]))][metric]
            value = dims[role].get(str(size), {}).get(metric, math.nan)
            cells.append(f"{value:.4f} | {value / full:.1%}" if full else f"{value:.4f} | -")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (runs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, dpi: int) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    _pyplot().close(fig)
    return buffer.getvalue()


def chart_png(summary: RunRecord) -> bytes:
    """Two panels: NDCG@K against K per model (and BM25), and NDCG@10 against embedding size."""
    plt = _pyplot()
    rows = _models(summary)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, values in rows.items():
        ks = _cutoffs(values)
        left.plot(
            ks, [values[f"ndcg@{k}"] for k in ks], marker="o", label=name, linestyle="--" if name in REFERENCES else "-"
        )
    left.set_xscale("log")
    left.set(title="NDCG@K on the test queries", xlabel="K", ylabel="NDCG@K")
    left.legend()
    for role, by_dim in summary.dims.items():
        if role == "champion" and summary.metrics["champion"] == summary.metrics["base"]:
            continue
        sizes = sorted(int(d) for d in by_dim)
        right.plot(sizes, [by_dim[str(d)]["ndcg@10"] for d in sizes], marker="o", label=role)
    right.set(title="NDCG@10 by embedding size", xlabel="dimensions kept", ylabel="NDCG@10")
    right.legend()
    return _png(fig, dpi=110)


def _models(summary: RunRecord) -> dict[str, dict[str, float]]:
    rows = dict(summary.metrics)
    if rows.get("champion") == rows.get("base"):
        rows.pop("champion")  # no champion yet: the base model is the champion
    if summary.bm25:
        rows = {"bm25": summary.bm25, **rows}
    if summary.hybrid:
        rows["hybrid"] = summary.hybrid
    return rows


def against_bm25(summary: RunRecord) -> str | None:
    """The verdict against the baselines: the candidate against BM25, and the hybrid of the two, on the gate's metric."""
    bm25, hybrid = summary.bm25, summary.hybrid
    if not bm25:
        return None
    metric = summary.decision.metric
    candidate, lexical = summary.metrics["candidate"][metric], bm25[metric]
    side = "above" if candidate > lexical else "level with" if candidate == lexical else "**below**"
    line = (
        f"**Against BM25:** the candidate's {metric} {candidate:.4f} is {side} BM25's {lexical:.4f} "
        f"({candidate - lexical:+.4f})"
    )
    if hybrid:
        fused = hybrid[metric]
        line += (
            f"; the hybrid (reciprocal-rank fusion of BM25 and the candidate, k={summary.rrf_k}) scores "
            f"{fused:.4f} ({fused - lexical:+.4f} over BM25, {fused - candidate:+.4f} over the candidate alone)"
        )
    return line + (". The gate compared the hybrids." if summary.decision.target == "hybrid" else ".")


def _final_loss(training: TrainStats) -> str:
    """The last logged loss (the trainer's own figure is the mean over all steps, which hides where training ended)."""
    curve = training.loss_curve
    return f"{curve[-1][1]:.4f}" if curve else "—"


def run_cost(seconds: float, price_per_hour: float | None) -> dict | None:
    """What `seconds` of a machine at `price_per_hour` (USD) cost; None when no price is configured."""
    if price_per_hour is None:
        return None
    return {
        "seconds": round(seconds, 1),
        "price_per_hour": price_per_hour,
        "usd": round(seconds / 3600 * price_per_hour, 4),
    }


def steps_table(steps: dict[str, StepRecord], price_per_hour: float | None = None) -> str:
    """Every step with cache hit, time and peak memory, and the total (time summed, memory the highest step's); with a
    price, what the steps cost."""

    def gb(s: StepRecord) -> str:
        return f"{s.peak_gb:.2f}" if s.peak_gb is not None else "—"

    lines = ["| step | cached | seconds | peak GB |", "|---|---|---:|---:|"]
    lines += [f"| {name} | {'yes' if s.cached else 'no'} | {s.seconds:.1f} | {gb(s)} |" for name, s in steps.items()]
    peaks = [s.peak_gb for s in steps.values() if s.peak_gb is not None]
    total = sum(s.seconds for s in steps.values())
    lines.append(
        f"| **total** | | **{total:.1f}** | **{max(peaks):.2f}** |"
        if peaks
        else f"| **total** | | **{total:.1f}** | — |"
    )
    if cost := run_cost(total, price_per_hour):
        lines.append(f"\nAt ${cost['price_per_hour']:g} an hour the steps cost **${cost['usd']:.4f}**.")
    return "\n".join(lines)


def mining_table(report: dict) -> str:
    """Warnings first, then the rows each strategy produced, where they came from (the configured top-k window, widening
    deeper or at a looser margin, the random fill) and its held-out-label false-negative estimate."""
    rates, origins = report.get("false_negative_rate", {}), report.get("origins", {})
    warnings = [f"**Warning:** {w}" for w in report.get("warnings", [])]
    lines = [
        "| strategy | negatives | top-k | deeper | relaxed | random | false-negative rate (held-out labels) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in sorted(report["rows"].items()):
        rate = f"{rates[name]:.1%}" if name in rates else "–"
        split = " | ".join(
            str(origins[name].get(o, 0)) if name in origins else "–" for o in ("top_k", "deeper", "relaxed", "random")
        )
        lines.append(f"| {name} | {rows} | {split} | {rate} |")
    if "all" in rates:
        lines.append(f"| **all** | {sum(report['rows'].values())} | | | | | {rates['all']:.1%} |")
    checked = report.get("false_negative_pairs", 0)
    notes = []
    if capped := report.get("capped"):
        notes.append(
            f"Pairs mined and trained: {capped['kept']:,} of {capped['pairs']:,} — at most {capped['max_per_query']} "
            f"per query (mining.max_pairs_per_query; {capped['queries_capped']:,} queries had more), chosen by "
            f"{capped['by']}."
        )
    if "random_share" in report:
        notes.append(
            f"Random negatives: {report['random_share']:.1%} ({report['pairs_short']} pairs short of real "
            f"candidates; {report['pairs_widened']} pairs widened; mining.fill={report['fill']}). Deeper: further "
            "down each strategy's list; relaxed: at a looser margin, still below the positive's score."
        )
    notes.append(
        f"False-negative rate: mined again for the {checked} pairs whose query has other positives, hiding those, "
        "and counted the negatives that are in fact relevant."
        if checked
        else "No query has several positives, so no false-negative estimate."
    )
    return "\n\n".join([*warnings, "\n".join(lines), *notes])


def difficulty_png(negatives) -> bytes:
    """Histogram of negative difficulty (score / positive score) per strategy, one panel per curriculum stage."""
    import polars as pl

    plt = _pyplot()
    scored = negatives.filter(pl.col("difficulty").is_not_null() & pl.col("difficulty").is_finite())
    stages = sorted(negatives["stage"].unique().to_list()) or [0]
    fig, axes = plt.subplots(1, len(stages), figsize=(4.5 * len(stages), 3.4), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        part = scored.filter(pl.col("stage") == stage)
        for name in sorted(part["strategy"].unique().to_list()):
            ax.hist(part.filter(pl.col("strategy") == name)["difficulty"].to_numpy(), bins=30, alpha=0.55, label=name)
        ax.set(
            title=f"stage {stage + 1}" if len(stages) > 1 else "negative difficulty",
            xlabel="score / positive score",
            ylabel="negatives",
        )
        if part.height:
            ax.legend()
    return _png(fig, dpi=100)


def publish_mining(report: dict, negatives) -> None:
    """The mining report as a Prefect artifact: strategy table, false-negative estimate, difficulty histogram."""
    from prefect.artifacts import create_markdown_artifact

    png = base64.b64encode(difficulty_png(negatives)).decode()
    markdown = "\n\n".join(
        ["# Hard-negative mining", mining_table(report), f"![difficulty](data:image/png;base64,{png})"]
    )
    create_markdown_artifact(markdown=markdown, key=MINING_KEY, description="hard negatives per strategy")


def budget_line(training: TrainStats) -> str | None:
    """What a time budget cut from the training, if anything: a person must know the model saw part of its data."""
    budget = training.budget
    if not budget or not budget.capped:
        return None
    return (
        f"**Stopped by the time budget** (train.budget_minutes={budget.minutes:g}): at {budget.seconds_per_step:g} s "
        f"a step, {budget.steps_allowed} of {budget.planned_steps} planned steps, {training.epochs:g} of "
        f"{training.planned_epochs:g} epochs; the learning rate schedule was shortened to end there."
    )


def auto_table(search: dict) -> str:
    """The trials of the recipe search, each with its dev curve, and why the pick won; judged on held-out training
    queries only, never on the test queries."""
    recipe = search["recipe"]
    lines = [
        f"**Chosen:** lr {recipe['learning_rate']:g}, batch {recipe['batch_size']}, {recipe['epochs']:g} epochs — "
        f"{search['why']}. "
        f"Trials trained on {search['trial_pairs']} of the {search['train_pairs']} training pairs (whole queries) and were "
        f"judged on {search['dev_fraction']:.0%} of their queries held out (dev); the test queries "
        f"scored only the final model, trained on all training queries. Successive halving, eta {search['eta']}, "
        f"rungs of {', '.join(f'{e:g}' for e in search['rungs'])} epochs."
    ]
    for note in (search.get("stopped"), search.get("capped")):
        if note:
            lines.append(f"**Budget:** {note}")
    rows = [
        "| trial | rung | lr | batch | epochs | dev NDCG@10 | dev curve (step: NDCG@10) | seconds |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    best = max((t["dev_ndcg@10"] for t in search["trials"] if t["dev_ndcg@10"] is not None), default=None)
    for t in search["trials"]:
        score = "—" if t["dev_ndcg@10"] is None else f"{t['dev_ndcg@10']:.4f}"
        if t["dev_ndcg@10"] is not None and t["dev_ndcg@10"] == best:
            score = f"**{score}**"
        curve = ", ".join(f"{step}: {value:.3f}" for step, value in t["dev_curve"]) or "—"
        rows.append(
            f"| {t['name']} | {t['rung']} | {t['learning_rate']:g} | {t['batch_size']} | {t['epochs']:g} | {score} | "
            f"{curve} | {t['seconds']:.0f}{' (cached)' if t['cached'] else ''} |"
        )
    return "\n\n".join([*lines, "\n".join(rows)])


def run_markdown(summary: RunRecord, chart: str | None = None) -> str:
    """The run report a person reads in the Prefect UI and in the model folder; `chart` is an image link or data URI."""
    verdict = "promoted" if summary.promoted else "not promoted"
    baselines = against_bm25(summary)  # leads: a model that loses to BM25 is the first thing to know
    rows = _models(summary)
    parts = [
        f"# embedforge run — {verdict}",
        f"**Dataset:** `{summary.dataset}`  ·  **Base model:** `{summary.base_model}`  ·  "
        f"**Model:** `{summary.model_path or '(not registered yet)'}`",
        *([baselines] if baselines else []),
        f"**Gate:** {summary.reason}",
        "## Test metrics",
        metrics_table(rows),
        "In brackets: change against the base model. bm25 and hybrid are baselines on the same queries (hybrid: "
        f"reciprocal-rank fusion of BM25 and the candidate, k={summary.rrf_k})."
        if "hybrid" in rows
        else "In brackets: change against the base model.",
    ]
    if chart:
        parts.append(f"![metrics chart]({chart})")
    ingest = summary.ingest
    if ingest:
        parts += [
            "## Data",
            f"{ingest['rows_in']} rows read, {ingest['rows_valid']} valid, {ingest['rows_quarantined']} quarantined"
            + (f" (`{ingest['quarantine']}`)" if ingest.get("quarantine") else ""),
            *[f"- warning: {w}" for w in ingest.get("warnings", [])],
        ]
        if ingest.get("lengths"):
            parts.append(
                "\n".join(
                    [
                        "| texts | count | median tokens | p90 | max | over the model's limit |",
                        "|---|---:|---:|---:|---:|---:|",
                    ]
                    + [
                        f"| {kind} | {s['texts']} | {s['median']} | {s['p90']} | {s['max']} | "
                        f"{s['over_limit']} ({s['over_limit_share']:.0%} over {s['limit']}) |"
                        for kind, s in ingest["lengths"].items()
                    ]
                )
            )
    read = summary.passages
    if read and read["split"]:
        parts.append(
            f"Documents longer than {read['length']} tokens were read as passages of {read['length']} tokens "
            f"(overlap {read['overlap']}), each scored by its best passage: {read['documents_split']} of "
            f"{read['documents']} documents split, {read['passages']} passages; {read['documents_at_cap']} "
            f"reached the cap of {read['max_passages']} passages (beyond it a document is not read)."
        )
    elif read:
        parts.append("Every document was read only up to the model's limit (eval.passages.split=false).")
    if summary.dims:
        parts += ["## Quality by embedding size (truncated, re-normalised)", dims_table(summary.dims)]
    parts += ["## Every metric at every cut-off", cutoff_table(rows)]
    training = summary.training
    parts += [
        "## Training",
        f"{training.examples} examples, {training.steps} steps on {training.device} ({training.precision}), "
        f"{training.seconds:.0f} s, final loss {_final_loss(training)} (mean over training {training.train_loss:.4f})",
    ]
    if cut := budget_line(training):
        parts.append(cut)
    if len(training.datasets) > 1:
        parts.append(
            "\n".join(
                ["| dataset | rows | loss |", "|---|---:|---|"]
                + [f"| {name} | {d.rows} | {d.loss} |" for name, d in training.datasets.items()]
            )
        )
    if diagnosis := training.diagnosis:
        evidence = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in diagnosis["evidence"].items())
        which = " (last stage; every stage under Curriculum stages)" if summary.curriculum else ""
        parts.append(f"**Loss curve{which}:** {diagnosis['advice']} ({evidence})")
    if dev := training.dev:
        history = ", ".join(f"step {step}: {value:.4f}" for step, value in dev.ndcg_by_step)
        parts.append(
            f"**Dev set** ({dev.queries} held-out queries, {dev.documents} documents): NDCG@10 {history}; "
            f"kept the checkpoint of step {dev.best_checkpoint_step}"
        )
    if summary.auto:
        parts += ["## Recipe search (train.auto)", auto_table(summary.auto)]
    if summary.mining.get("rows"):
        parts += ["## Hard negatives", mining_table(summary.mining)]
    if summary.curriculum:
        parts += [
            "## Curriculum stages",
            "\n".join(
                ["| stage | cached | seconds | mean loss | loss curve |", "|---:|---|---:|---:|---|"]
                + [
                    f"| {r.stage} | {'yes' if r.cached else 'no'} | {r.seconds:.1f} | {r.train_loss:.4f} | "
                    f"{r.loss_curve or '—'} |"
                    for r in summary.curriculum
                ]
            ),
        ]
    if summary.steps:
        parts += ["## Steps", steps_table(summary.steps, summary.compute.get("price_per_hour"))]
    return "\n\n".join(parts) + "\n"


def with_readings(summary: RunRecord, readings: list[dict]) -> RunRecord:
    """The summary with each training stage's loss-curve reading: the last one under training, every one per stage."""
    update: dict = {}
    if readings:
        update["training"] = summary.training.model_copy(update={"diagnosis": readings[-1]})
    if summary.curriculum:
        update["curriculum"] = [
            row.model_copy(update={"loss_curve": reading["advice"]})
            for row, reading in zip(summary.curriculum, readings)
        ]
    return summary.model_copy(update=update)


def written(folder: str | Path) -> bool:
    """True when a registered version's folder holds its report (else the report step must run again)."""
    return all((Path(folder) / name).is_file() for name in (REPORT_MD, REPORT_PNG))


def publish(summary: RunRecord, negatives: DatasetRef | None = None) -> None:
    """Attach the report, the metrics table, the gate decision and the mining report to the current flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    if negatives is not None and summary.mining:
        publish_mining(summary.mining, read_frame(negatives))

    png = base64.b64encode(chart_png(summary)).decode()
    create_markdown_artifact(
        markdown=run_markdown(summary, chart=f"data:image/png;base64,{png}"),
        key=ARTIFACT_KEY,
        description="retraining run report",
    )
    rows = _models(summary)
    create_table_artifact(
        table=[{"model": name, **{k: round(v, 4) for k, v in values.items()}} for name, values in rows.items()],
        key=TABLE_KEY,
        description="test metrics of every model at every cut-off",
    )
    create_markdown_artifact(markdown=f"**{summary.reason}**", key=DECISION_KEY, description="promotion decision")
    ingest = summary.ingest
    if ingest.get("quarantine"):
        import polars as pl

        rows = pl.read_parquet(ingest["quarantine"]).head(500).to_dicts()
        create_table_artifact(table=rows, key=QUARANTINE_KEY, description="rows set aside at ingest, with the reason")
