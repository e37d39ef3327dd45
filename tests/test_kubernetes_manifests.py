"""The Kubernetes manifests in deploy/kubernetes: each valid under the Kubernetes API's schemas
(kubernetes-validate, which bundles them: no network), strictly (an unknown field fails), and
wired together: probes, the Secret references, the settings, the scheduled jobs, the autoscalers.
"""

import copy
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import worker.main  # noqa: F401  (its import registers every job in JOB_SCHEDULES)
from api.routes.health import router as health_router
from tokenbill.settings import Settings
from worker.registry import JOB_SCHEDULES

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest and the newest Kubernetes minor version the manifests are checked against.
KUBERNETES_VERSIONS = ("1.35", kubernetes_validate.utils.latest_version())
SECRET_SETTINGS = {"DATABASE_URL", "JWT_SECRET", "WEBHOOK_SECRET_KEYS", "TEMPORAL_API_KEY"}
OPTIONAL_SECRETS = {"WEBHOOK_SECRET_KEYS", "TEMPORAL_API_KEY"}
SETTING_NAMES = {name.upper() for name in Settings.model_fields}

Resource = dict[str, Any]


def validation_errors(resource: Resource, version: str) -> list[str]:
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [error.message]
    return []


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], Resource]:
    found: dict[tuple[str, str], Resource] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def containers(resource: Resource) -> list[Resource]:
    pod: Resource = resource["spec"]["template"]["spec"]
    found: list[Resource] = pod["containers"]
    return found


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert kustomization["namespace"] == "tokenbill"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_under_the_kubernetes_schemas(
    resources: dict[tuple[str, str], Resource], version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the validator tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert {
        (kind, name): validation_errors(resource, version)
        for (kind, name), resource in resources.items()
    } == {key: [] for key in resources}


def _probe_on_a_string_port(resources: dict[tuple[str, str], Resource]) -> Resource:
    broken = copy.deepcopy(resources[("Deployment", "tokenbill-api")])
    containers(broken)[0]["ports"][0]["containerPort"] = "3000"
    return broken


def _misspelt_probe(resources: dict[tuple[str, str], Resource]) -> Resource:
    broken = copy.deepcopy(resources[("Deployment", "tokenbill-api")])
    containers(broken)[0]["readinessprobe"] = containers(broken)[0].pop("readinessProbe")
    return broken


def _v1_field_in_a_v2_autoscaler(resources: dict[tuple[str, str], Resource]) -> Resource:
    broken = copy.deepcopy(resources[("HorizontalPodAutoscaler", "tokenbill-worker")])
    broken["spec"]["targetCPUUtilizationPercentage"] = 70
    return broken


def _job_without_containers(resources: dict[tuple[str, str], Resource]) -> Resource:
    broken = copy.deepcopy(resources[("Job", "tokenbill-migrate")])
    del broken["spec"]["template"]["spec"]["containers"]
    return broken


@pytest.mark.parametrize(
    "break_it",
    [
        _probe_on_a_string_port,
        _misspelt_probe,
        _v1_field_in_a_v2_autoscaler,
        _job_without_containers,
    ],
)
def test_the_validator_catches_a_broken_manifest(
    resources: dict[tuple[str, str], Resource],
    break_it: Callable[[dict[tuple[str, str], Resource]], Resource],
) -> None:
    assert validation_errors(break_it(resources), KUBERNETES_VERSIONS[-1]) != []


def test_the_api_is_ready_on_health_and_alive_on_a_cheap_route(
    resources: dict[tuple[str, str], Resource],
) -> None:
    [api] = containers(resources[("Deployment", "tokenbill-api")])
    assert api["command"] == ["tokenbill", "api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/health"
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/health/live"
    served = {getattr(route, "path", None) for route in health_router.routes}
    assert {"/api/health", "/api/health/live"} <= served
    port = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert api["readinessProbe"]["httpGet"]["port"] in port
    assert port["http"] == int(settings_map(resources)["API_PORT"])


def test_the_service_reaches_the_api_pods(resources: dict[tuple[str, str], Resource]) -> None:
    service = resources[("Service", "tokenbill-api")]
    deployment = resources[("Deployment", "tokenbill-api")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in containers(deployment)[0]["ports"]}


def test_the_worker_and_the_migration_job(resources: dict[tuple[str, str], Resource]) -> None:
    [worker] = containers(resources[("Deployment", "tokenbill-worker")])
    assert worker["command"] == ["tokenbill", "worker"]
    grace = resources[("Deployment", "tokenbill-worker")]["spec"]["template"]["spec"]
    shutdown = Settings.model_validate({"worker_graceful_shutdown": "PT30S"})
    assert settings_map(resources)["WORKER_GRACEFUL_SHUTDOWN"] == "PT30S"
    assert grace["terminationGracePeriodSeconds"] > shutdown.worker_graceful_shutdown.seconds
    [migrate] = containers(resources[("Job", "tokenbill-migrate")])
    assert migrate["command"] == ["sh", "-c", "tokenbill migrate && tokenbill seed"]
    assert resources[("Job", "tokenbill-migrate")]["spec"]["template"]["spec"]["restartPolicy"] in (
        "OnFailure",
        "Never",
    )


def test_every_container_has_resource_requests_and_limits(
    resources: dict[tuple[str, str], Resource],
) -> None:
    for (kind, name), resource in resources.items():
        if kind not in ("Deployment", "Job"):
            continue
        for container in containers(resource):
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)


def test_the_api_and_the_worker_scale_horizontally(
    resources: dict[tuple[str, str], Resource],
) -> None:
    for name in ("tokenbill-api", "tokenbill-worker"):
        autoscaler = resources[("HorizontalPodAutoscaler", name)]
        assert autoscaler["apiVersion"] == "autoscaling/v2"
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert (target["kind"], target["name"]) in resources
        assert 1 < autoscaler["spec"]["minReplicas"] < autoscaler["spec"]["maxReplicas"]


def settings_map(resources: dict[tuple[str, str], Resource]) -> dict[str, str]:
    data: dict[str, str] = resources[("ConfigMap", "tokenbill-settings")]["data"]
    return data


def test_the_configmap_holds_real_settings_and_no_secret(
    resources: dict[tuple[str, str], Resource], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = settings_map(resources)
    assert set(data) <= SETTING_NAMES, set(data) - SETTING_NAMES
    assert not set(data) & SECRET_SETTINGS
    for name in SETTING_NAMES:  # read as the pods read them: from the environment
        monkeypatch.delenv(name, raising=False)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.log_to_files is False
    assert settings.job_schedules == json.loads(data["JOB_SCHEDULES"])
    assert ("Secret", "tokenbill-secrets") not in resources, "secrets are never committed"


def test_the_configmap_schedules_every_background_job(
    resources: dict[tuple[str, str], Resource],
) -> None:
    schedules = json.loads(settings_map(resources)["JOB_SCHEDULES"])
    # The ConfigMap shows every job with its default cadence, for operators to change.
    assert schedules == {job.name: job.cron for job in JOB_SCHEDULES}


def test_the_secrets_come_from_the_secret(resources: dict[tuple[str, str], Resource]) -> None:
    for kind, name in (("Deployment", "tokenbill-api"), ("Deployment", "tokenbill-worker")):
        [container] = containers(resources[(kind, name)])
        references = {
            variable["name"]: variable["valueFrom"]["secretKeyRef"] for variable in container["env"]
        }
        assert set(references) == SECRET_SETTINGS, name
        for setting, reference in references.items():
            assert reference["name"] == "tokenbill-secrets"
            assert reference["key"] == setting
            assert reference.get("optional", False) == (setting in OPTIONAL_SECRETS), setting
        assert container["envFrom"] == [{"configMapRef": {"name": "tokenbill-settings"}}]
