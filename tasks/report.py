"""Run reports: a markdown metrics table, published as a Prefect artifact with a stable key and kept beside the model."""

from __future__ import annotations

from tasks.evaluate import HEADLINE

ARTIFACT_KEY = "retrain-report"


def metrics_table(rows: dict[str, dict[str, float]], columns: tuple[str, ...] = HEADLINE, baseline: str = "base") -> str:
    """Markdown table, one row per model, with the change against `baseline` in brackets."""
    head = "| model | " + " | ".join(columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    lines = [head, rule]
    base = rows.get(baseline, {})
    for name, metrics in rows.items():
        cells = []
        for column in columns:
            value = metrics.get(column, float("nan"))
            if name != baseline and column in base and base[column] > 0:
                cells.append(f"{value:.4f} ({(value - base[column]) / base[column]:+.1%})")
            else:
                cells.append(f"{value:.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def steps_table(steps: dict[str, dict]) -> str:
    lines = ["| step | cached | seconds |", "|---|---|---:|"]
    lines += [f"| {name} | {'yes' if s['cached'] else 'no'} | {s['seconds']:.1f} |" for name, s in steps.items()]
    return "\n".join(lines)


def run_markdown(summary: dict) -> str:
    """The run report a person reads in the Prefect UI and in the model folder."""
    verdict = "✅ promoted" if summary["promoted"] else "⏸ not promoted"
    parts = [
        f"# embedforge run — {verdict}",
        f"**Dataset:** `{summary['dataset']}`  ·  **Base model:** `{summary['base_model']}`  ·  "
        f"**Model:** `{summary['model_path']}`",
        f"**Gate:** {summary['reason']}",
        "## Test metrics",
        metrics_table(summary["metrics"]),
    ]
    training = summary.get("training")
    if training:
        parts += [
            "## Training",
            f"{training['examples']} examples, {training['steps']} steps on {training['device']} ({training['precision']}), "
            f"{training['seconds']:.0f} s, final loss {training['train_loss']:.4f}",
        ]
    if summary.get("steps"):
        parts += ["## Steps", steps_table(summary["steps"])]
    return "\n\n".join(parts) + "\n"


def publish(summary: dict) -> None:
    """Attach the report to the current flow run (keyed, so the UI keeps its history run by run)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=run_markdown(summary), key=ARTIFACT_KEY, description="retraining run report")
