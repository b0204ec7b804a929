"""Kubernetes manifests that follow a run's capacity plan (``wsharness report --emit-k8s``).

:func:`plan_from_report` reads the figures a deployment needs from ``report.json``;
:func:`manifests` turns them into plain objects (pure); :func:`write` saves one YAML
file per object.  What comes from where:

- **Deployment**: ``wsharness serve`` on port 8080, readiness on ``/readyz`` (fails
  while draining), liveness on ``/healthz``; ``terminationGracePeriodSeconds`` twice
  the drain window plus :data:`GRACE_MARGIN_S` (on SIGTERM the server drains for
  ``WSH_DRAIN_SECONDS``, then gives its handlers as long again to finish), so the
  drain completes before the kubelet kills the pod; ``WSH_MAX_CONNECTIONS`` the socket limit
  the recommendation was derived from (recommendation / (1 - headroom)), so an
  instance refuses (503) rather than passes it.  Memory from the memory model: the
  request is ``baseline + per_socket * recommendation`` (what a pod holds at the
  autoscaling target), the limit ``baseline + per_socket * socket limit`` plus
  :data:`MEMORY_LIMIT_MARGIN` (never above the instance memory the plan assumed).
  A CPU request of :data:`CPU_REQUEST` and no CPU limit (a throttled event loop
  delays every socket; idle sockets cost memory, not CPU).
- **Service** (ClusterIP, port 80 to ``http``) and a **PodDisruptionBudget**
  (``maxUnavailable: 1``: a voluntary eviction drains one instance at a time).
- **HorizontalPodAutoscaler** (``autoscaling/v2``) on the ``wsh_open_connections``
  Pods metric, ``averageValue`` = ``recommended_connections_per_instance``; at least
  :data:`MIN_REPLICAS`, at most the plan's instances for its peak (or
  :data:`DEFAULT_MAX_REPLICAS` without a peak); scale up at once, scale down one pod
  per :data:`SCALE_DOWN_PERIOD_S` (each pod removed sends its sockets reconnecting).
- The **prometheus-adapter rule** serving that metric through the custom metrics API
  (a ConfigMap holding the adapter's ``config.yaml``).
- A **KEDA ScaledObject** alternative (``keda/``, apply it *instead of* the HPA: KEDA
  makes its own HPA): the Prometheus scaler on the same query and threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wsharness.contract.names import PROM_OPEN_CONNECTIONS
from wsharness.server.config import Settings

MIB = 1024 * 1024
PORT = 8080
GRACE_MARGIN_S = 10
MEMORY_LIMIT_MARGIN = 0.25
CPU_REQUEST = "250m"
MIN_REPLICAS = 2
DEFAULT_MAX_REPLICAS = 10
SCALE_DOWN_PERIOD_S = 120
DEFAULT_DRAIN_S = Settings().drain_seconds  # the server's own default
DEFAULT_IMAGE = "wsharness:latest"
DEFAULT_PROMETHEUS = "http://prometheus-server.monitoring.svc:9090"


class PlanError(ValueError):
    """The report holds no plan a deployment can follow; the message says why."""


@dataclass(frozen=True)
class Plan:
    """What the manifests need from a capacity report, and where they run."""

    connections_per_instance: int
    headroom: float
    memory_baseline_bytes: float
    memory_per_socket_bytes: float
    instance_memory_bytes: int
    instances_for_peak: int | None = None
    drain_seconds: float = DEFAULT_DRAIN_S
    name: str = "wsharness"
    image: str = DEFAULT_IMAGE
    namespace: str = "default"
    prometheus_url: str = DEFAULT_PROMETHEUS
    source: str = "report.json"

    @property
    def max_connections(self) -> int:
        """The socket limit the recommendation keeps ``headroom`` below."""
        return math.floor(self.connections_per_instance / (1 - self.headroom))

    @property
    def memory_request_bytes(self) -> int:
        at_target = self.memory_per_socket_bytes * self.connections_per_instance
        return _whole_mib(self.memory_baseline_bytes + at_target)

    @property
    def memory_limit_bytes(self) -> int:
        at_limit = self.memory_per_socket_bytes * self.max_connections
        wanted = (self.memory_baseline_bytes + at_limit) * (1 + MEMORY_LIMIT_MARGIN)
        return max(
            self.memory_request_bytes, min(_whole_mib(wanted), self.instance_memory_bytes)
        )

    @property
    def max_replicas(self) -> int:
        if self.instances_for_peak is None:
            return DEFAULT_MAX_REPLICAS
        return max(self.instances_for_peak, MIN_REPLICAS)

    @property
    def grace_seconds(self) -> int:
        """The drain window, aiohttp's shutdown timeout (as long again), a margin."""
        return math.ceil(2 * self.drain_seconds) + GRACE_MARGIN_S


def _whole_mib(size: float) -> int:
    return math.ceil(size / MIB) * MIB


def plan_from_report(document: dict[str, Any], **where: Any) -> Plan:
    """The plan in a ``report.json`` document; ``where`` sets name, image, namespace…"""
    target = document.get("recommended_connections_per_instance")
    if not isinstance(target, int) or target <= 0:
        raise PlanError(
            "the report recommends no connections per instance: no autoscaling target "
            "to emit (the objective was broken at the lowest load)"
        )
    if document.get("memory_per_socket_bytes") is None:
        raise PlanError(
            "the report has no memory per socket (the run has no server metrics): "
            "no memory request or limit to emit"
        )
    objective = document.get("objective", {})
    return Plan(
        connections_per_instance=target,
        headroom=float(objective.get("headroom", 0.3)),
        memory_baseline_bytes=float(document["memory_baseline_bytes"]),
        memory_per_socket_bytes=max(float(document["memory_per_socket_bytes"]), 0.0),
        instance_memory_bytes=int(objective.get("instance_memory_bytes", 1024 * MIB)),
        instances_for_peak=document.get("instances_for_peak"),
        **where,
    )


# --- manifests --------------------------------------------------------------------


def _labels(plan: Plan) -> dict[str, str]:
    return {"app.kubernetes.io/name": plan.name}


def _metadata(plan: Plan, name: str | None = None) -> dict[str, Any]:
    return {"name": name or plan.name, "namespace": plan.namespace, "labels": _labels(plan)}


def _mib(size: int) -> str:
    return f"{size // MIB}Mi"


def deployment(plan: Plan) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/readyz", "port": "http"}}
    env = {
        "WSH_HOST": "0.0.0.0",
        "WSH_PORT": str(PORT),
        "WSH_DRAIN_SECONDS": f"{plan.drain_seconds:g}",
        "WSH_MAX_CONNECTIONS": str(plan.max_connections),
    }
    container = {
        "name": "server",
        "image": plan.image,
        "args": ["wsharness", "serve"],
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [{"name": key, "value": value} for key, value in env.items()]
        + [
            {
                "name": "WSH_JWT_SECRET",
                "valueFrom": {"secretKeyRef": {"name": plan.name, "key": "jwt-secret"}},
            }
        ],
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": CPU_REQUEST, "memory": _mib(plan.memory_request_bytes)},
            "limits": {"memory": _mib(plan.memory_limit_bytes)},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(plan),
        "spec": {
            "replicas": MIN_REPLICAS,
            "selector": {"matchLabels": _labels(plan)},
            "template": {
                "metadata": {
                    "labels": _labels(plan),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "terminationGracePeriodSeconds": plan.grace_seconds,
                    "containers": [container],
                },
            },
        },
    }


def service(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(plan),
        "spec": {
            "selector": _labels(plan),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def disruption_budget(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(plan),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(plan)}},
    }


def autoscaler(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(plan),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": plan.name,
            },
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": plan.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": PROM_OPEN_CONNECTIONS},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": str(plan.connections_per_instance),
                        },
                    },
                }
            ],
            "behavior": _behavior(),
        },
    }


def _behavior() -> dict[str, Any]:
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "policies": [
                {"type": "Pods", "value": 1, "periodSeconds": SCALE_DOWN_PERIOD_S}
            ],
        },
    }


def adapter_rules() -> dict[str, Any]:
    """prometheus-adapter's ``config.yaml``: ``wsh_open_connections`` per pod."""
    return {
        "rules": [
            {
                "seriesQuery": f'{PROM_OPEN_CONNECTIONS}{{namespace!="",pod!=""}}',
                "resources": {
                    "overrides": {
                        "namespace": {"resource": "namespace"},
                        "pod": {"resource": "pod"},
                    }
                },
                "name": {
                    "matches": f"^{PROM_OPEN_CONNECTIONS}$",
                    "as": PROM_OPEN_CONNECTIONS,
                },
                "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            }
        ]
    }


def adapter_config_map(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "prometheus-adapter",
            "namespace": "monitoring",
            "labels": _labels(plan),
        },
        "data": {"config.yaml": to_yaml(adapter_rules())},
    }


def keda_query(plan: Plan) -> str:
    selector = f'namespace="{plan.namespace}",pod=~"{plan.name}-.*"'
    return f"sum({PROM_OPEN_CONNECTIONS}{{{selector}}})"


def scaled_object(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(plan),
        "spec": {
            "scaleTargetRef": {"name": plan.name},
            "minReplicaCount": MIN_REPLICAS,
            "maxReplicaCount": plan.max_replicas,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior()}},
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": plan.prometheus_url,
                        "query": keda_query(plan),
                        "threshold": str(plan.connections_per_instance),
                    },
                }
            ],
        },
    }


FILES = {
    "deployment.yaml": deployment,
    "service.yaml": service,
    "pdb.yaml": disruption_budget,
    "hpa.yaml": autoscaler,
    "prometheus-adapter-rules.yaml": adapter_config_map,
    "keda/scaledobject.yaml": scaled_object,
}


def manifests(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every manifest, by the file it is written to."""
    return {path: build(plan) for path, build in FILES.items()}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the adapter's rules) as literal blocks."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(manifest: dict[str, Any]) -> str:
    return yaml.dump(manifest, Dumper=_Dumper, sort_keys=False)


def render(path: str, manifest: dict[str, Any], plan: Plan) -> str:
    """One file: a comment saying where its figures came from, then the YAML."""
    header = [
        f"# {manifest['kind']} for {plan.name}, written by wsharness report --emit-k8s",
        f"# from {plan.source}.",
        f"# Autoscaling target {plan.connections_per_instance} open connections per "
        f"instance, socket limit {plan.max_connections},",
        f"# memory request {_mib(plan.memory_request_bytes)} and limit "
        f"{_mib(plan.memory_limit_bytes)}.",
    ]
    if path.startswith("keda/"):
        header.append("# Apply this INSTEAD of hpa.yaml (KEDA creates its own HPA).")
    return "\n".join(header) + "\n" + to_yaml(manifest)


def write(directory: Path, plan: Plan) -> list[Path]:
    """Write every manifest under ``directory``; returns the paths written."""
    written = []
    for path, manifest in manifests(plan).items():
        target = Path(directory) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(path, manifest, plan), encoding="utf-8")
        written.append(target)
    return written


EXAMPLE_PLAN = Plan(
    connections_per_instance=7000,
    headroom=0.3,
    memory_baseline_bytes=64 * MIB,
    memory_per_socket_bytes=20 * 1024,
    instance_memory_bytes=1024 * MIB,
    image="REGISTRY/wsharness:VERSION",
    source="placeholder figures: make yours with wsharness report RUN --emit-k8s DIR",
)
"""The plan behind ``deploy/k8s/``: ``python -m wsharness.report.k8s deploy/k8s``."""


if __name__ == "__main__":
    import sys

    for written in write(
        Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/k8s"), EXAMPLE_PLAN
    ):
        print(written)
