"""The deployments are defined once (flows/serve.py): `serve` runs that definition and prefect.yaml is written from it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from flows import serve
from tasks.config import build_config, load_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deployments" / "prefect.yaml"


def test_the_shipped_prefect_yaml_is_the_definition_serve_runs():
    expected = serve.prefect_yaml(load_config(str(ROOT / "configs" / "demo.yaml"), []), "configs/demo.yaml")
    assert SHIPPED.read_text() == expected, (
        "deployments/prefect.yaml differs from flows/serve.py; regenerate it: "
        "embedforge deployments --config configs/demo.yaml --output deployments/prefect.yaml"
    )


def test_served_deployments_carry_the_same_schedule_trigger_and_parameters_as_the_yaml():
    cfg = load_config(str(ROOT / "configs" / "demo.yaml"), [])
    shipped = {d["name"]: d for d in yaml.safe_load(SHIPPED.read_text())["deployments"]}
    served = {d.name: d for d in serve.deployments(cfg)}
    assert set(served) == set(shipped) == {"nightly", "on-new-data"}
    for name, deployment in served.items():
        assert deployment.parameters == shipped[name]["parameters"]
        assert deployment.entrypoint.endswith(serve.ENTRYPOINT)
    assert (
        served["nightly"].schedules[0].schedule.cron == shipped["nightly"]["schedules"][0]["cron"] == serve.NIGHTLY_CRON
    )
    trigger = served["on-new-data"].triggers[0]
    assert json.loads(json.dumps(trigger.parameters)) == shipped["on-new-data"]["triggers"][0]["parameters"]
    # the small-data recipe rides along: the demo's 175 pairs train at batch 16 in a worker
    assert shipped["nightly"]["parameters"]["cfg"]["train"]["batch_size"] == cfg.train.batch_size == 16


def test_a_triggered_run_trains_on_the_line_named_after_its_dataset():
    on_data = serve.specs(build_config({}, "test"))[1]["triggers"][0]["parameters"]["cfg"]
    event = {"path": "data/store/contracts/0123456789abcdef", "name": "contracts"}
    rendered = json.loads(
        json.dumps(on_data)
        .replace("{{ event.payload.path }}", event["path"])
        .replace("{{ event.payload.name }}", event["name"])
    )
    cfg = build_config(rendered, "the trigger")
    assert cfg.registry.line == "contracts" and cfg.data.path == event["path"]


def _placeholders(value) -> set[str]:
    import re

    text = json.dumps(value)
    return set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text))


def test_the_gpu_pool_job_templates_request_gpus_and_mount_the_shared_store():
    docker = json.loads((ROOT / "deployments" / "docker-gpu-pool.json").read_text())
    k8s = json.loads((ROOT / "deployments" / "k8s-gpu-pool.json").read_text())
    for template in (docker, k8s):  # Prefect refuses a base job template whose placeholders it has no variable for
        assert _placeholders(template["job_configuration"]) <= set(template["variables"]["properties"])
    variables = docker["variables"]["properties"]
    assert variables["container_create_kwargs"]["default"]["device_requests"] == [
        {"count": -1, "capabilities": [["gpu"]]}
    ]
    assert any(v.endswith(":/srv/embedforge") for v in variables["volumes"]["default"])
    pod = k8s["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "{{ gpus }}"
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/srv/embedforge"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "{{ store_claim }}"
    for template in (docker, k8s):
        assert template["variables"]["properties"]["env"]["default"]["PREFECT_LOCAL_STORAGE_PATH"].startswith(
            "/srv/embedforge/"
        )


def test_the_gpu_deployment_takes_the_train_steps_parameters_as_one_typed_model():
    """train/gpu is given the train task's parameters as one model derived from the task's signature, so a parameter
    added to the task reaches the deployment (its schema, as `prefect deploy` reads it) without a second list."""
    import inspect

    from prefect.utilities.callables import parameter_schema_from_entrypoint

    from flows import train as pool_train
    from tasks.steps import TrainInputs, train

    schema = parameter_schema_from_entrypoint(pool_train.ENTRYPOINT).model_dump()
    assert list(schema["properties"]) == ["inputs"]
    assert set(schema["definitions"]["TrainInputs"]["properties"]) == set(inspect.signature(train.fn).parameters)
    assert set(TrainInputs.model_fields) == set(inspect.signature(train.fn).parameters)
