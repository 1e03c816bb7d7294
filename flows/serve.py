"""The deployments, defined once: the retraining flow's `nightly` (cron) and `on-new-data` (event), and with
`compute.gpu_pool` the train step's `train/gpu` on that pool.

`specs` is the one definition. `embedforge serve` runs it from one process (`serve_all`); `prefect_yaml` writes it as
`deployments/prefect.yaml` for a work pool and its workers (`embedforge deployments --config configs/demo.yaml`
regenerates the shipped file, and a test checks that the two still agree).
"""

from __future__ import annotations

from typing import Any

import yaml

from flows import train as pool_train
from tasks.config import PipelineConfig
from tasks.datasets import EVENT

NIGHTLY_CRON = "0 2 * * *"  # 02:00 every day
POOL = "embedforge-local"  # the process work pool of deployments/prefect.yaml
ENTRYPOINT = "flows/retrain.py:retrain"
TAGS = ["embedforge"]


def changed_sections(cfg: PipelineConfig) -> dict[str, Any]:
    """Only what differs from the defaults: deployment parameters override, they do not restate."""
    full, default = cfg.model_dump(mode="json"), PipelineConfig().model_dump(mode="json")
    return {
        section: {k: v for k, v in values.items() if default[section].get(k) != v}
        for section, values in full.items()
        if values != default[section]
    }


def specs(cfg: PipelineConfig, cron: str = NIGHTLY_CRON, timezone: str = "UTC") -> list[dict[str, Any]]:
    """The deployments as plain data: nightly and on-new-data, and with compute.gpu_pool the train step's on that pool.

    A triggered run trains the event's dataset version (data.path) on the model line named after the dataset
    (registry.line), so it is judged against that dataset's champion only."""
    base = changed_sections(cfg)
    on_data = {
        **base,
        "data": {**base.get("data", {}), "path": "{{ event.payload.path }}"},
        "registry": {**base.get("registry", {}), "line": "{{ event.payload.name }}"},
    }
    flows = [
        {
            "name": "nightly",
            "description": "Retrain every night on the configured dataset; promote only a candidate that beats the champion.",
            "schedules": [{"cron": cron, "timezone": timezone, "slug": "nightly"}],
            "parameters": {"cfg": base},
        },
        {
            "name": "on-new-data",
            "description": "Retrain when `embedforge data add` lands a new dataset version.",
            "parameters": {"cfg": base},
            "triggers": [
                {
                    "type": "event",
                    "name": "dataset-updated",
                    "enabled": True,
                    "match": {"prefect.resource.id": "embedforge.dataset.*"},
                    "expect": [EVENT],
                    "parameters": {"cfg": on_data},
                }
            ],
        },
    ]
    specs = [{**spec, "entrypoint": ENTRYPOINT, "work_pool": POOL} for spec in flows]
    if cfg.compute.gpu_pool:  # the train step, run by the retraining flow with run_deployment on the GPU pool
        specs.append(
            {
                "name": pool_train.DEPLOYMENT,
                "description": "The train step of a retraining run, on the GPU pool.",
                "parameters": {},
                "entrypoint": pool_train.ENTRYPOINT,
                "work_pool": cfg.compute.gpu_pool,
            }
        )
    return specs


def deployments(cfg: PipelineConfig, cron: str = NIGHTLY_CRON, timezone: str = "UTC") -> list:
    """`specs` as deployments this process serves (all but a GPU pool's, which only that pool's workers run)."""
    if cfg.compute.gpu_pool:
        raise ValueError(
            f"compute.gpu_pool={cfg.compute.gpu_pool!r} sends the train step to a work pool, which `embedforge "
            "serve` has none of: deploy with work pools instead (embedforge deployments, "
            "deployments/README.md), or unset compute.gpu_pool to train in the serving process"
        )
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron

    from flows.retrain import retrain

    built = []
    for spec in specs(cfg, cron, timezone):
        schedules = [Cron(s["cron"], timezone=s["timezone"], slug=s["slug"]) for s in spec.get("schedules", [])]
        triggers = [
            DeploymentEventTrigger(
                name=t["name"],
                enabled=t["enabled"],
                match=t["match"],
                expect=set(t["expect"]),
                parameters=t["parameters"],
            )
            for t in spec.get("triggers", [])
        ]
        built.append(
            retrain.to_deployment(
                name=spec["name"],
                description=spec["description"],
                parameters=spec["parameters"],
                schedules=schedules or None,
                triggers=triggers or None,
                tags=TAGS,
            )
        )
    return built


def serve_all(cfg: PipelineConfig, cron: str = NIGHTLY_CRON, timezone: str = "UTC") -> None:
    """Block and run flow runs as they come; limit=1 queues a second trigger behind the first instead of losing it."""
    from prefect import serve

    serve(*deployments(cfg, cron, timezone), limit=1)


HEADER = """\
# Deployments of the retraining flow for a Prefect server with a work pool and a worker (see README.md here).
# Generated from flows/serve.py (the definition `embedforge serve` runs) by:
#   embedforge deployments --config {config} --output deployments/prefect.yaml
# Edit flows/serve.py or the config, not this file: a test checks that the two agree.
# From the repository root:
#   prefect work-pool create {pool} --type process
#   prefect work-pool set-concurrency-limit {pool} 1
#   EMBEDFORGE_ROOT=$PWD prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml
#   prefect worker start --pool {pool}
# The pool's concurrency limit of 1 makes both deployments take turns: a second trigger waits, it is not lost.
# Parameters hold only what differs from the defaults in tasks/config.py.
"""


class _Plain(yaml.SafeDumper):
    """Writes a shared value out at each use: a file a person reads has no &id001 anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def prefect_yaml(cfg: PipelineConfig, config_name: str, cron: str = NIGHTLY_CRON, timezone: str = "UTC") -> str:
    """`specs` as a prefect.yaml whose runs execute in the repository folder named by $EMBEDFORGE_ROOT."""
    from importlib.metadata import version

    document = {
        "name": "embedforge",
        "prefect-version": version("prefect"),
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $EMBEDFORGE_ROOT }}"}}],
        "deployments": [
            {
                **{k: spec[k] for k in ("name", "description", "entrypoint")},
                "work_pool": {"name": spec["work_pool"], "work_queue_name": "default"},
                "tags": TAGS,
                **{k: v for k, v in spec.items() if k not in ("name", "description", "entrypoint", "work_pool")},
            }
            for spec in specs(cfg, cron, timezone)
        ],
    }
    body = yaml.dump(document, Dumper=_Plain, sort_keys=False, width=120, allow_unicode=True)
    return HEADER.format(config=config_name, pool=POOL) + "\n" + body
