"""Serve the two deployments of the retraining flow from one process: `nightly` (cron) and `on-new-data` (event)."""

from __future__ import annotations

from typing import Any

from prefect import serve
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron

from flows.retrain import retrain
from tasks.config import PipelineConfig
from tasks.datasets import EVENT

NIGHTLY_CRON = "0 2 * * *"


def changed_sections(cfg: PipelineConfig) -> dict[str, Any]:
    """Only what differs from the defaults: deployment parameters override, they do not restate."""
    full, default = cfg.model_dump(mode="json"), PipelineConfig().model_dump(mode="json")
    return {
        section: {k: v for k, v in values.items() if default[section].get(k) != v}
        for section, values in full.items()
        if values != default[section]
    }


def deployments(cfg: PipelineConfig, cron: str = NIGHTLY_CRON, timezone: str = "UTC") -> list:
    """The nightly and on-new-data deployments; the trigger puts the event's dataset path into data.path."""
    base = changed_sections(cfg)
    on_data = {**base, "data": {**base.get("data", {}), "path": "{{ event.payload.path }}"}}
    nightly = retrain.to_deployment(
        name="nightly",
        schedules=[Cron(cron, timezone=timezone, slug="nightly")],
        parameters={"cfg": base},
        description="Retrain every night on the configured dataset; promote only a candidate that beats the champion.",
        tags=["embedforge"],
    )
    triggered = retrain.to_deployment(
        name="on-new-data",
        parameters={"cfg": base},
        triggers=[
            DeploymentEventTrigger(
                name="dataset-updated",
                expect={EVENT},
                match={"prefect.resource.id": "embedforge.dataset.*"},
                parameters={"cfg": on_data},
            )
        ],
        description="Retrain when `embedforge data add` lands a new dataset version.",
        tags=["embedforge"],
    )
    return [nightly, triggered]


def serve_all(cfg: PipelineConfig, cron: str = NIGHTLY_CRON, timezone: str = "UTC") -> None:
    """Block and run flow runs as they come; limit=1 queues a second trigger behind the first instead of losing it."""
    serve(*deployments(cfg, cron, timezone), limit=1)
