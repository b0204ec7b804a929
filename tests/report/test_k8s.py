"""``wsharness report RUN --emit-k8s DIR``: manifests that follow the run's plan.

Every manifest is validated offline against the Kubernetes schemas
(``tests/deploy/validate.py``), and its figures are recomputed from ``report.json``.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.validate import load, validate
from wsharness.cli import main
from wsharness.report import k8s

PEAK = 50_000
MIB = 2**20


@pytest.fixture
def emitted(run_dir: Path, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded run's report.json and the manifests emitted from it, by kind."""
    out = tmp_path / "k8s"
    assert main(["report", str(run_dir), "--peak", str(PEAK), "--emit-k8s", str(out)]) == 0
    report = json.loads((run_dir / "report.json").read_text())
    manifests = {load(path)["kind"]: load(path) for path in sorted(out.rglob("*.yaml"))}
    return report, manifests


def container(manifests: dict[str, Any]) -> dict[str, Any]:
    return manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def env(manifests: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(manifests)["env"]}


def test_every_emitted_manifest_is_valid_against_the_kubernetes_schemas(
    emitted: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, manifests = emitted
    assert set(manifests) == {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "ScaledObject",
    }
    for manifest in manifests.values():
        validate(manifest)


def test_the_autoscaling_target_is_the_reports_recommendation(
    emitted: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    report, manifests = emitted
    target = report["recommended_connections_per_instance"]
    assert target > 0
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "wsh_open_connections"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": str(target)}
    assert hpa["maxReplicas"] == report["instances_for_peak"] == math.ceil(PEAK / target)
    keda = manifests["ScaledObject"]["spec"]
    (trigger,) = keda["triggers"]
    assert trigger["metadata"]["threshold"] == str(target)
    assert trigger["metricType"] == "AverageValue"
    assert "wsh_open_connections" in trigger["metadata"]["query"]
    assert keda["maxReplicaCount"] == hpa["maxReplicas"]


def test_the_adapter_rule_serves_the_metric_the_hpa_asks_for(
    emitted: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, manifests = emitted
    config = yaml.safe_load(manifests["ConfigMap"]["data"]["config.yaml"])
    (rule,) = config["rules"]
    hpa_metric = manifests["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]
    assert rule["name"]["as"] == hpa_metric["metric"]["name"]
    assert rule["seriesQuery"].startswith("wsh_open_connections{")
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    for template in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
        assert template in rule["metricsQuery"]


def test_resources_and_limits_follow_the_memory_model(
    emitted: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    report, manifests = emitted
    target = report["recommended_connections_per_instance"]
    limit = math.floor(target / (1 - report["objective"]["headroom"]))
    assert env(manifests)["WSH_MAX_CONNECTIONS"] == str(limit)
    per_socket, baseline = (
        report["memory_per_socket_bytes"],
        report["memory_baseline_bytes"],
    )
    resources = container(manifests)["resources"]
    request_mib = math.ceil((baseline + per_socket * target) / MIB)
    assert resources["requests"]["memory"] == f"{request_mib}Mi"
    limit_mib = math.ceil((baseline + per_socket * limit) * 1.25 / MIB)
    instance_mib = report["objective"]["instance_memory_bytes"] // MIB
    assert resources["limits"]["memory"] == f"{min(limit_mib, instance_mib)}Mi"
    assert "cpu" not in resources["limits"]  # a throttled loop delays every socket


def test_probes_and_grace_period_fit_the_drain(
    emitted: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, manifests = emitted
    server = container(manifests)
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    drain = float(env(manifests)["WSH_DRAIN_SECONDS"])
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    # the server drains for WSH_DRAIN_SECONDS, then its handlers get as long again
    assert pod["terminationGracePeriodSeconds"] > 2 * drain
    assert manifests["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    selector = manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert selector == manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert manifests["Service"]["spec"]["selector"] == selector


def test_a_run_with_no_recommendation_emits_nothing_and_says_why(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "k8s"
    code = main(["report", str(run_dir), "--slo-p99-ms", "0.001", "--emit-k8s", str(out)])
    assert code == 2
    assert "--emit-k8s: the report recommends no connections per instance" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_the_validation_refuses_a_broken_manifest() -> None:
    manifests = k8s.manifests(k8s.EXAMPLE_PLAN)
    hpa = copy.deepcopy(manifests["hpa.yaml"])
    hpa["spec"]["metrics"][0]["pods"]["target"]["averageVolume"] = "1"  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(hpa)
    deployment = copy.deepcopy(manifests["deployment.yaml"])
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "30s"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    scaled = copy.deepcopy(manifests["keda/scaledobject.yaml"])
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 7000  # KEDA wants strings
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
    del scaled["spec"]["scaleTargetRef"]
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
